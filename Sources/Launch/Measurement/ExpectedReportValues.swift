import Definition
import Crypto
import Foundation
import JSON
import Measure
import ObjectModel

/// What an SEV-SNP attestation report of one launch must carry, taken from what igvm-mgr
/// launched (a running VM's record) or would launch (a definition): the launch digest and
/// policy it measured, and the host-data and ID-block key digests of the `sev-snp-guest` object
/// on QEMU's command line. The relying party compares a report against these.
public struct ExpectedReportValues: Sendable, Equatable {
    /// Where the values came from (`configs/snp.toml`, `VM demo`), for messages.
    public var source: String
    public var measurement: LaunchDigest
    public var policy: UInt64
    /// HOST_DATA: the object's `host-data`, or 32 zero bytes when unset (KVM passes zeros).
    public var hostData: [UInt8]
    /// ID_KEY_DIGEST: SHA-384 of the ID key in `id-auth` (SNP ABI "ID Authentication
    /// Information"), or 48 zero bytes without an ID block.
    public var idKeyDigest: [UInt8]
    /// AUTHOR_KEY_DIGEST: SHA-384 of the author key when `author-key-enabled`, else zeros.
    public var authorKeyDigest: [UInt8]

    public init(source: String, measurement: LaunchDigest, policy: UInt64, hostData: [UInt8], idKeyDigest: [UInt8], authorKeyDigest: [UInt8]) {
        self.source = source
        self.measurement = measurement
        self.policy = policy
        self.hostData = hostData
        self.idKeyDigest = idKeyDigest
        self.authorKeyDigest = authorKeyDigest
    }

    /// ID_KEY @0x240 and AUTHOR_KEY @0x880 of the ID authentication structure, 0x404 bytes each.
    static let idKeyRange = 0x240..<0x644
    static let authorKeyRange = 0x880..<0xC84

    /// Host data and key digests of an `sev-snp-guest` object.
    public init(source: String, measurement: LaunchDigest, policy: UInt64, guest: SevSnpGuest?) {
        let hostData = guest?.hostData.flatMap { try? $0.decoded().get() } ?? []
        let idAuth = guest?.idAuth.flatMap { try? $0.decoded().get() } ?? []
        func digest(_ range: Range<Int>) -> [UInt8] {
            guard idAuth.count >= range.upperBound else { return [UInt8](repeating: 0, count: 48) }
            return Array(SHA384.hash(data: idAuth[range]))
        }
        self.init(
            source: source, measurement: measurement, policy: policy,
            hostData: hostData.count == 32 ? hostData : [UInt8](repeating: 0, count: 32),
            idKeyDigest: digest(Self.idKeyRange),
            authorKeyDigest: guest?.authorKeyEnabled == true ? digest(Self.authorKeyRange) : [UInt8](repeating: 0, count: 48))
    }
}

extension VMDefinition {
    /// What a report of launching this definition must carry: the digest and policy from
    /// `launchMeasurement()` (what `igvm-mgr measure CONFIG` prints), the rest from the plan's
    /// `sev-snp-guest` object.
    public func expectedReportValues() throws(MeasurementError) -> ExpectedReportValues {
        let measured = try launchMeasurement()
        guard measured.mode == .snp else {
            throw MeasurementError(.invalidInput, "\(file): only SEV-SNP guests have attestation reports (this one is \(measured.mode.rawValue))")
        }
        let (plan, _) = LaunchPlan.build(self, binary: qemu.binary, qmpSocket: nil)
        let guest = plan?.objects.lazy.compactMap { object -> SevSnpGuest? in
            if case .sevSnpGuest(let snp) = object { snp } else { nil }
        }.first
        return ExpectedReportValues(source: file, measurement: measured.digest, policy: measured.policy, guest: guest)
    }
}
