import Numerals

/// The SEV-SNP guest policy (`sev-snp-guest.policy`, u64; SNP firmware ABI "GUEST_POLICY").
///
/// Prints as hex (`0x30000`) and parses hex with or without `0x`, because that is how the
/// firmware spec and QEMU's documentation write it.
public struct SevSnpPolicy: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Bit 16: SMT allowed.
    public static let smt = SevSnpPolicy(rawValue: 1 << 16)
    /// Bit 17: reserved, must be one (the firmware rejects the launch otherwise).
    public static let reservedMustBeOne = SevSnpPolicy(rawValue: 1 << 17)
    /// Bit 18: association with a migration agent (KVM rejects it).
    public static let migrateMA = SevSnpPolicy(rawValue: 1 << 18)
    /// Bit 19: debugging allowed (the host can read guest memory).
    public static let debug = SevSnpPolicy(rawValue: 1 << 19)
    /// Bit 20: single socket only.
    public static let singleSocket = SevSnpPolicy(rawValue: 1 << 20)
    /// Bit 21: CXL may be populated with devices or memory.
    public static let cxlAllow = SevSnpPolicy(rawValue: 1 << 21)
    /// Bit 22: AES-256-XTS memory encryption required.
    public static let memAES256XTS = SevSnpPolicy(rawValue: 1 << 22)
    /// Bit 23: running average power limit must be disabled.
    public static let raplDisable = SevSnpPolicy(rawValue: 1 << 23)
    /// Bit 24: ciphertext hiding for DRAM required.
    public static let ciphertextHidingDRAM = SevSnpPolicy(rawValue: 1 << 24)
    /// Bit 25: guest page swap disabled.
    public static let pageSwapDisable = SevSnpPolicy(rawValue: 1 << 25)

    /// Bits 63:26, which must be zero.
    public static let reservedMustBeZeroMask: UInt64 = ~((1 << 26) - 1)

    /// QEMU's default, `DEFAULT_SEV_SNP_POLICY` (SMT + the reserved bit 17).
    public static let qemuDefault = SevSnpPolicy(rawValue: 0x30000)

    /// Bits 7:0, the minimum firmware ABI minor version.
    public var abiMinor: UInt8 {
        get { UInt8(truncatingIfNeeded: rawValue) }
        set { rawValue = rawValue & ~0xFF | UInt64(newValue) }
    }
    /// Bits 15:8, the minimum firmware ABI major version.
    public var abiMajor: UInt8 {
        get { UInt8(truncatingIfNeeded: rawValue >> 8) }
        set { rawValue = rawValue & ~0xFF00 | UInt64(newValue) << 8 }
    }

    /// The named flags (bits 16–25) with their names, in bit order.
    public static let namedFlags: [(name: String, flag: SevSnpPolicy)] = [
        ("SMT", .smt), ("RESERVED_17", .reservedMustBeOne), ("MIGRATE_MA", .migrateMA),
        ("DEBUG", .debug), ("SINGLE_SOCKET", .singleSocket), ("CXL_ALLOW", .cxlAllow),
        ("MEM_AES_256_XTS", .memAES256XTS), ("RAPL_DIS", .raplDisable),
        ("CIPHERTEXT_HIDING_DRAM", .ciphertextHidingDRAM), ("PAGE_SWAP_DISABLE", .pageSwapDisable),
    ]

    /// `0x30000`.
    public var description: String { "0x" + String(rawValue, radix: 16) }

    /// Parses hex, with or without a `0x`/`0X` prefix (`"0x30000"`, `"30000"`).
    public init?(hex text: String) {
        guard let v = parseHexUInt64(text) else { return nil }
        self.init(rawValue: v)
    }
}

/// The legacy SEV / SEV-ES guest policy (`sev-guest.policy`, u32; SEV API "POLICY").
public struct SevPolicy: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Bit 0: debugging forbidden.
    public static let noDebug = SevPolicy(rawValue: 0x1)
    /// Bit 1: key sharing forbidden.
    public static let noKeySharing = SevPolicy(rawValue: 0x2)
    /// Bit 2: SEV-ES required. This bit is what selects SEV-ES in QEMU: there is no separate
    /// object ("[PATCH v2 0/4] Qemu SEV-ES guest support", Tom Lendacky, August 2020).
    public static let encryptedState = SevPolicy(rawValue: 0x4)
    /// Bit 3: sending the guest to another platform forbidden.
    public static let noSend = SevPolicy(rawValue: 0x8)
    /// Bit 4: the guest must not be transmitted outside the domain.
    public static let domain = SevPolicy(rawValue: 0x10)
    /// Bit 5: the guest must not be transmitted to a non-SEV platform.
    public static let sev = SevPolicy(rawValue: 0x20)

    /// QEMU's default, `DEFAULT_GUEST_POLICY` (debug disabled).
    public static let qemuDefault = SevPolicy.noDebug

    /// Bits 23:16, minimum API major version.
    public var apiMajor: UInt8 {
        get { UInt8(truncatingIfNeeded: rawValue >> 16) }
        set { rawValue = rawValue & ~0xFF_0000 | UInt32(newValue) << 16 }
    }
    /// Bits 31:24, minimum API minor version.
    public var apiMinor: UInt8 {
        get { UInt8(truncatingIfNeeded: rawValue >> 24) }
        set { rawValue = rawValue & ~0xFF00_0000 | UInt32(newValue) << 24 }
    }

    /// `0x5`.
    public var description: String { "0x" + String(rawValue, radix: 16) }

    /// Parses hex, with or without a `0x`/`0X` prefix.
    public init?(hex text: String) {
        guard let v = parseHexUInt64(text), let v32 = UInt32(exactly: v) else { return nil }
        self.init(rawValue: v32)
    }
}

func parseHexUInt64(_ text: String) -> UInt64? { Numeral.hexWithOptionalPrefix(text) }
