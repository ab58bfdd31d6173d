import Numerals

/// The SEV-SNP guest policy, the one definition of its bits: `SNP_LAUNCH_START.POLICY`, QEMU's
/// `sev-snp-guest.policy` (u64), IGVM's `IGVM_VHT_GUEST_POLICY`, the attestation report's
/// POLICY. AMD SEV-SNP Firmware ABI specification, publication 56860, §4.3 "Guest Policy";
/// KVM's checks in `snp_launch_start()`, `arch/x86/kvm/svm/sev.c`; QEMU's default in
/// `target/i386/sev.c` (`DEFAULT_SEV_SNP_POLICY`).
public struct SNPPolicy: GuestPolicyBits {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// Bit 16 SMT: simultaneous multithreading allowed.
    public static let smt = SNPPolicy(rawValue: 1 << 16)
    /// Bit 17: reserved, must be one (the firmware rejects the launch otherwise).
    public static let reservedMustBeOne = SNPPolicy(rawValue: 1 << 17)
    /// Bit 18 MIGRATE_MA: association with a migration agent allowed (KVM rejects it).
    public static let migrateMA = SNPPolicy(rawValue: 1 << 18)
    /// Bit 19 DEBUG: debugging allowed (the host can read guest memory).
    public static let debug = SNPPolicy(rawValue: 1 << 19)
    /// Bit 20 SINGLE_SOCKET: the guest may run on one socket only.
    public static let singleSocket = SNPPolicy(rawValue: 1 << 20)
    /// Bit 21 CXL_ALLOW: CXL may be populated with devices or memory.
    public static let cxlAllow = SNPPolicy(rawValue: 1 << 21)
    /// Bit 22 MEM_AES_256_XTS: AES-256-XTS memory encryption required.
    public static let memAES256XTS = SNPPolicy(rawValue: 1 << 22)
    /// Bit 23 RAPL_DIS: running average power limit must be disabled.
    public static let raplDisable = SNPPolicy(rawValue: 1 << 23)
    /// Bit 24 CIPHERTEXT_HIDING_DRAM: ciphertext hiding for DRAM required.
    public static let ciphertextHidingDRAM = SNPPolicy(rawValue: 1 << 24)
    /// Bit 25 PAGE_SWAP_DISABLE: guest page swap disabled.
    public static let pageSwapDisable = SNPPolicy(rawValue: 1 << 25)

    /// Bits 63:26, which must be zero.
    public static let reservedMustBeZeroMask: UInt64 = ~((1 << 26) - 1)

    /// QEMU's default, `DEFAULT_SEV_SNP_POLICY` (SMT + the reserved bit 17).
    public static let qemuDefault = SNPPolicy(rawValue: 0x30000)

    /// Bits 16–25, named as the ABI names the fields (lower case, `-` for `_`).
    public static let namedFlags: [(name: String, flag: SNPPolicy)] = [
        ("smt", .smt), ("reserved-must-be-one", .reservedMustBeOne), ("migrate-ma", .migrateMA),
        ("debug", .debug), ("single-socket", .singleSocket), ("cxl-allow", .cxlAllow),
        ("mem-aes-256-xts", .memAES256XTS), ("rapl-dis", .raplDisable),
        ("ciphertext-hiding-dram", .ciphertextHidingDRAM), ("page-swap-disable", .pageSwapDisable),
    ]

    /// Bits 7:0 ABI_MINOR, the minimum firmware ABI minor version.
    public var abiMinor: UInt8 { get { byteField(at: 0) } set { setByteField(newValue, at: 0) } }
    /// Bits 15:8 ABI_MAJOR, the minimum firmware ABI major version.
    public var abiMajor: UInt8 { get { byteField(at: 8) } set { setByteField(newValue, at: 8) } }

    /// The reserved bits 63:26 that are set (zero when the policy is well formed).
    public var reservedBitsSet: UInt64 { rawValue & Self.reservedMustBeZeroMask }

    /// Rule violations KVM or the firmware would reject; empty when the policy is acceptable.
    public var violations: [String] {
        var v: [String] = []
        if !contains(.reservedMustBeOne) { v.append("bit 17 (reserved, must be one) is clear") }
        if reservedBitsSet != 0 { v.append("reserved bits 26-63 are set (\(hex(reservedBitsSet)))") }
        if contains(.migrateMA) { v.append("MIGRATE_MA (bit 18) is set, which KVM rejects") }
        return v
    }
}
