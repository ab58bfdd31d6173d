import IGVM
import SNPReport

/// What the relying party expects a report to say: each field nil when there is nothing to
/// compare (the check is then not made at all, rather than passed).
public struct AttestationExpectations: Sendable, Equatable {
    /// MEASUREMENT: the launch digest (48 bytes).
    public var measurement: [UInt8]?
    /// HOST_DATA (32 bytes): zero when the launch set none.
    public var hostData: [UInt8]?
    /// POLICY, exactly.
    public var policy: UInt64?
    /// Bit-by-bit rules on POLICY; always checked.
    public var policyRules = PolicyRules()
    /// ID_KEY_DIGEST and AUTHOR_KEY_DIGEST (48 bytes each; zero when the launch had no ID
    /// block, respectively no author key).
    public var idKeyDigest: [UInt8]?
    public var authorKeyDigest: [UInt8]?
    public var vmpl: UInt32?
    /// REPORT_DATA (64 bytes): the relying party's nonce, zero-padded.
    public var reportData: [UInt8]?
    /// The lowest REPORTED_TCB accepted, part by part.
    public var minimumTCB: MinimumTCB?

    public init() {}
}

/// Rules on single POLICY bits (SNP ABI "Guest Policy"): a guest whose policy allows debugging
/// lets the hypervisor read and write its memory (SNP_DBG_DECRYPT); one that allows a migration
/// agent can have its memory exported to that agent; SMT shares a core with other guests.
public struct PolicyRules: Sendable, Equatable {
    public var allowDebug = false
    public var allowMigrationAgent = false
    public var allowSMT = true
    public var requireSingleSocket = false
    /// The lowest ABI version (major, minor) the guest may require of the firmware.
    public var minimumABI: (major: UInt8, minor: UInt8)?

    public init() {}

    public static func == (a: PolicyRules, b: PolicyRules) -> Bool {
        a.allowDebug == b.allowDebug && a.allowMigrationAgent == b.allowMigrationAgent && a.allowSMT == b.allowSMT
            && a.requireSingleSocket == b.requireSingleSocket && a.minimumABI?.major == b.minimumABI?.major
            && a.minimumABI?.minor == b.minimumABI?.minor
    }

    /// What the policy breaks, one clause each; empty when it satisfies every rule.
    public func violations(_ policy: SNPPolicy) -> [String] {
        let bits = policy.rawValue
        var out: [String] = []
        if !allowDebug && bits & (1 << 19) != 0 { out.append("DEBUG (bit 19) is set") }
        if !allowMigrationAgent && bits & (1 << 18) != 0 { out.append("MIGRATE_MA (bit 18) is set") }
        if !allowSMT && bits & (1 << 16) != 0 { out.append("SMT (bit 16) is allowed") }
        if requireSingleSocket && bits & (1 << 20) == 0 { out.append("SINGLE_SOCKET (bit 20) is clear") }
        if let minimumABI, (policy.abiMajor, policy.abiMinor) < (minimumABI.major, minimumABI.minor) {
            out.append("ABI \(policy.abiMajor).\(policy.abiMinor) is below \(minimumABI.major).\(minimumABI.minor)")
        }
        return out
    }

    /// The rules as one line (`debug off, migration agent off`).
    public var summary: String {
        var parts = [allowDebug ? "debug allowed" : "debug off", allowMigrationAgent ? "migration agent allowed" : "migration agent off"]
        if !allowSMT { parts.append("SMT off") }
        if requireSingleSocket { parts.append("single socket") }
        if let minimumABI { parts.append("ABI ≥ \(minimumABI.major).\(minimumABI.minor)") }
        return parts.joined(separator: ", ")
    }
}

/// A minimum for each TCB part (absent parts are not compared).
public struct MinimumTCB: Sendable, Equatable, CustomStringConvertible {
    public var fmc: UInt8?
    public var bootloader: UInt8?
    public var tee: UInt8?
    public var snp: UInt8?
    public var microcode: UInt8?

    public init(fmc: UInt8? = nil, bootloader: UInt8? = nil, tee: UInt8? = nil, snp: UInt8? = nil, microcode: UInt8? = nil) {
        self.fmc = fmc
        self.bootloader = bootloader
        self.tee = tee
        self.snp = snp
        self.microcode = microcode
    }

    /// Names as AMD's KDS query uses them, and the long ones `attest show` prints.
    static var names: [(short: String, long: String, key: WritableKeyPath<MinimumTCB, UInt8?>)] {
        [
            ("fmc", "fmc", \.fmc), ("bl", "bootloader", \.bootloader), ("tee", "tee", \.tee), ("snp", "snp", \.snp),
            ("ucode", "microcode", \.microcode),
        ]
    }

    /// Parses `bl=3,tee=0,snp=8,ucode=115` (also `bootloader=`, `microcode=`, `fmc=`), each 0–255.
    public init(parsing text: String) throws(ExpectationError) {
        self.init()
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.filter { $0 != " " } }
            guard pair.count == 2, let entry = Self.names.first(where: { $0.short == pair[0] || $0.long == pair[0] }) else {
                throw ExpectationError("'\(item)': expected NAME=VALUE with NAME one of fmc, bl, tee, snp, ucode")
            }
            guard let value = UInt8(pair[1]) else { throw ExpectationError("'\(item)': the value must be 0 to 255") }
            self[keyPath: entry.key] = value
        }
        guard Self.names.contains(where: { self[keyPath: $0.key] != nil }) else {
            throw ExpectationError("'\(text)': name at least one of fmc, bl, tee, snp, ucode")
        }
    }

    /// Parts of `tcb` below their minimum, e.g. `snp 7 < 8`; empty when it meets every one.
    public func shortfalls(_ tcb: TCBVersion) -> [String] {
        let actual = Dictionary(uniqueKeysWithValues: tcb.parts.map { ($0.name, $0.value) })
        return Self.names.compactMap { entry in
            guard let minimum = self[keyPath: entry.key] else { return nil }
            guard let value = actual[entry.long] else { return "\(entry.long) is not part of this product's TCB" }
            return value < minimum ? "\(entry.long) \(value) < \(minimum)" : nil
        }
    }

    public var description: String {
        Self.names.compactMap { entry in self[keyPath: entry.key].map { "\(entry.long) \($0)" } }.joined(separator: ", ")
    }
}
