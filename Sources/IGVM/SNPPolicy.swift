/// The SEV-SNP guest policy (`SNP_LAUNCH_START.POLICY`, AMD SEV Secure Nested Paging Firmware ABI Specification, guest policy).
public struct SNPPolicy: Sendable, Hashable {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public var abiMinor: UInt8 { UInt8(truncatingIfNeeded: rawValue) }
    public var abiMajor: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 8) }

    /// Named single-bit fields, bit → name.
    public static let namedBits: [(bit: Int, name: String)] = [
        (16, "smt"), (17, "reserved-must-be-one"), (18, "migrate-ma"), (19, "debug"), (20, "single-socket"),
        (21, "cxl-allow"), (22, "mem-aes-256-xts"), (23, "rapl-dis"), (24, "ciphertext-hiding-dram"),
        (25, "page-swap-disable"),
    ]

    /// Names of the bits set.
    public var setBitNames: [String] { Self.namedBits.filter { rawValue & (1 << UInt64($0.bit)) != 0 }.map(\.name) }

    /// Rule violations KVM or the firmware would reject; empty when the policy is acceptable.
    public var violations: [String] {
        var v: [String] = []
        if rawValue & (1 << 17) == 0 { v.append("bit 17 (reserved, must be one) is clear") }
        if rawValue >> 26 != 0 { v.append("reserved bits 26-63 are set (\(hex((rawValue >> 26) << 26)))") }
        if rawValue & (1 << 18) != 0 { v.append("MIGRATE_MA (bit 18) is set, which KVM rejects") }
        return v
    }
}

/// The legacy SEV / SEV-ES guest policy (u32, `sev-guest` `policy`).
public struct SEVPolicy: Sendable, Hashable {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public static let namedBits: [(bit: Int, name: String)] = [
        (0, "no-debug"), (1, "no-key-sharing"), (2, "es"), (3, "no-send"), (4, "domain"), (5, "sev"),
    ]

    public var setBitNames: [String] { Self.namedBits.filter { rawValue & (1 << UInt64($0.bit)) != 0 }.map(\.name) }
    public var requiresES: Bool { rawValue & 0x4 != 0 }
}
