@_exported import Platform  // the report's POLICY is a Platform.SNPPolicy
import Numerals

/// An SEV-SNP attestation report (ATTESTATION_REPORT, SEV Secure Nested Paging Firmware ABI
/// specification 56860, "Attestation Report" table): 1184 bytes, versions 2, 3 and 5, every
/// field at the offset the ABI gives it. Parsing checks only the size and the version (so that a
/// verifier can still say *which* check a tampered report fails); every field read lies inside
/// the 1184 bytes proven at the start.
public struct AttestationReport: Sendable, Equatable {
    public static let size = 0x4A0
    /// The signature covers bytes 0x000–0x29F.
    public static let signedRange = 0..<0x2A0
    /// SIGNATURE: R (72 bytes, little-endian) @0x2A0, S @0x2E8, reserved to 0x49F.
    public static let signatureRange = 0x2A0..<0x4A0
    /// The report versions whose layout this parser knows.
    public static let knownVersions: Set<UInt32> = [2, 3, 5]
    /// SIGNATURE_ALGO of ECDSA P-384 with SHA-384, the only algorithm the ABI defines.
    public static let ecdsaP384SHA384: UInt32 = 1

    /// The 1184 bytes as received.
    public let bytes: [UInt8]

    public let version: UInt32
    public let guestSVN: UInt32
    public let policy: SNPPolicy
    public let familyID: [UInt8]
    public let imageID: [UInt8]
    public let vmpl: UInt32
    public let signatureAlgorithm: UInt32
    /// CURRENT_TCB (0x38): the platform's running TCB — not what the VCEK certifies.
    public let currentTCB: TCBVersion
    public let platformInfo: PlatformInfo
    public let keyInfo: KeyInfo
    /// REPORT_DATA (0x50, 64 bytes): chosen by the guest, typically the relying party's nonce.
    public let reportData: [UInt8]
    /// MEASUREMENT (0x90, 48 bytes): the launch digest.
    public let measurement: [UInt8]
    /// HOST_DATA (0xC0, 32 bytes): set by the host at launch (sev-snp-guest's host-data).
    public let hostData: [UInt8]
    public let idKeyDigest: [UInt8]
    public let authorKeyDigest: [UInt8]
    public let reportID: [UInt8]
    public let reportIDMigrationAgent: [UInt8]
    /// REPORTED_TCB (0x180): the TCB the VCEK that signed this report was derived for.
    public let reportedTCB: TCBVersion
    /// CPUID family, model, stepping (0x188–0x18A), version 3 and later.
    public let cpuid: CPUIdentity?
    /// CHIP_ID (0x1A0, 64 bytes): zero when MASK_CHIP_ID is set or the key is a VLEK.
    public let chipID: [UInt8]
    public let committedTCB: TCBVersion
    public let currentVersion: FirmwareVersion
    public let committedVersion: FirmwareVersion
    public let launchTCB: TCBVersion
    /// LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR (0x1F8, 0x200), version 5 and later.
    public let launchMitigationVector: UInt64?
    public let currentMitigationVector: UInt64?
    /// The TCB layout used to decode the TCB fields (from the CPUID, else the caller's choice).
    public let tcbLayout: TCBLayout

    /// Parses a report. `product` decides the TCB layout of reports that carry no CPUID
    /// (version 2); from version 3 the CPUID decides and `product` is only a fallback.
    public init(bytes: [UInt8], product: AMDProduct? = nil) throws(ReportParseError) {
        guard bytes.count == Self.size else {
            throw ReportParseError(.wrongSize, "an SEV-SNP attestation report is \(Self.size) bytes, got \(bytes.count)")
        }
        func u8(_ offset: Int) -> UInt8 { bytes[offset] }
        func u32(_ offset: Int) -> UInt32 { bytes.loadLE(UInt32.self, at: offset) }
        func u64(_ offset: Int) -> UInt64 { bytes.loadLE(UInt64.self, at: offset) }
        func field(_ offset: Int, _ count: Int) -> [UInt8] { Array(bytes[offset..<offset + count]) }

        let version = u32(0x00)
        guard Self.knownVersions.contains(version) else {
            let known = Self.knownVersions.sorted().map(String.init).joined(separator: ", ")
            throw ReportParseError(.unknownVersion, "attestation report version \(version) is not one this tool knows (\(known))")
        }
        let cpuid = version >= 3 ? CPUIdentity(family: u8(0x188), model: u8(0x189), stepping: u8(0x18A)) : nil
        let layout = cpuid?.product?.tcbLayout ?? product?.tcbLayout ?? .milanGenoa
        func tcb(_ offset: Int) -> TCBVersion { TCBVersion(rawValue: u64(offset), layout: layout) }

        self.bytes = bytes
        self.version = version
        guestSVN = u32(0x04)
        policy = SNPPolicy(u64(0x08))
        familyID = field(0x10, 16)
        imageID = field(0x20, 16)
        vmpl = u32(0x30)
        signatureAlgorithm = u32(0x34)
        currentTCB = tcb(0x38)
        platformInfo = PlatformInfo(rawValue: u64(0x40))
        keyInfo = KeyInfo(rawValue: u32(0x48))
        reportData = field(0x50, 64)
        measurement = field(0x90, 48)
        hostData = field(0xC0, 32)
        idKeyDigest = field(0xE0, 48)
        authorKeyDigest = field(0x110, 48)
        reportID = field(0x140, 32)
        reportIDMigrationAgent = field(0x160, 32)
        reportedTCB = tcb(0x180)
        self.cpuid = cpuid
        chipID = field(0x1A0, 64)
        committedTCB = tcb(0x1E0)
        currentVersion = FirmwareVersion(major: u8(0x1EA), minor: u8(0x1E9), build: u8(0x1E8))
        committedVersion = FirmwareVersion(major: u8(0x1EE), minor: u8(0x1ED), build: u8(0x1EC))
        launchTCB = tcb(0x1F0)
        launchMitigationVector = version >= 5 ? u64(0x1F8) : nil
        currentMitigationVector = version >= 5 ? u64(0x200) : nil
        tcbLayout = layout
    }

    /// The bytes the signature covers.
    public var signedBytes: ArraySlice<UInt8> { bytes[Self.signedRange] }
    /// The 512-byte SIGNATURE field.
    public var signatureField: ArraySlice<UInt8> { bytes[Self.signatureRange] }
    /// The product the CPUID names (version 3 and later), if it is one this table knows.
    public var cpuidProduct: AMDProduct? { cpuid?.product }

    /// The same report with its TCB fields decoded for `product`.
    public func decoded(as product: AMDProduct) -> AttestationReport {
        // Cannot fail: the bytes were accepted once already.
        (try? AttestationReport(bytes: bytes, product: product)) ?? self
    }
}

extension AttestationReport {
    /// A report given as raw bytes or as hex text (whitespace and newlines ignored, as
    /// `xxd -p` and most tools' "hex" outputs write it).
    public init(rawOrHex data: [UInt8], product: AMDProduct? = nil) throws(ReportParseError) {
        if data.count == Self.size {
            try self.init(bytes: data, product: product)
            return
        }
        let text = data.filter { !(($0 == 0x20) || ($0 >= 0x09 && $0 <= 0x0D)) }
        let isHexText = !text.isEmpty && text.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }
        guard isHexText else {
            try self.init(bytes: data, product: product)  // throws the size error
            return
        }
        guard text.count % 2 == 0 else {
            throw ReportParseError(.notHex, "the report looks like hex text but has an odd number of digits (\(text.count))")
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(text.count / 2)
        func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
        var index = 0
        while index < text.count {
            decoded.append(nibble(text[index]) << 4 | nibble(text[index + 1]))
            index += 2
        }
        try self.init(bytes: decoded, product: product)
    }
}
