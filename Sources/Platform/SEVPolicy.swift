/// The SEV / SEV-ES guest policy, the one definition of its bits: `LAUNCH_START.POLICY`, QEMU's
/// `sev-guest.policy` (u32). AMD SEV Secure Encrypted Virtualization API specification,
/// publication 55766, §3 "Guest Policy"; QEMU's default in `target/i386/sev.c`
/// (`DEFAULT_GUEST_POLICY`). Different bits from the SNP policy (`SNPPolicy`), hence its own type.
public struct SEVPolicy: GuestPolicyBits {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The low 32 bits of a wider field (IGVM's `IGVM_VHT_GUEST_POLICY` is a u64 for every platform).
    public init(truncating value: UInt64) { self.rawValue = UInt32(truncatingIfNeeded: value) }

    /// Bit 0 NODBG: debugging forbidden.
    public static let noDebug = SEVPolicy(rawValue: 0x1)
    /// Bit 1 NOKS: key sharing forbidden.
    public static let noKeySharing = SEVPolicy(rawValue: 0x2)
    /// Bit 2 ES: SEV-ES required. This bit is what selects SEV-ES in QEMU: there is no separate
    /// object ("[PATCH v2 0/4] Qemu SEV-ES guest support", Tom Lendacky, August 2020).
    public static let encryptedState = SEVPolicy(rawValue: 0x4)
    /// Bit 3 NOSEND: sending the guest to another platform forbidden.
    public static let noSend = SEVPolicy(rawValue: 0x8)
    /// Bit 4 DOMAIN: the guest must not be transmitted outside the domain.
    public static let domain = SEVPolicy(rawValue: 0x10)
    /// Bit 5 SEV: the guest must not be transmitted to a non-SEV platform.
    public static let sev = SEVPolicy(rawValue: 0x20)

    /// QEMU's default, `DEFAULT_GUEST_POLICY` (debug disabled).
    public static let qemuDefault = SEVPolicy.noDebug

    /// Bits 0–5, named after the spec's fields.
    public static let namedFlags: [(name: String, flag: SEVPolicy)] = [
        ("no-debug", .noDebug), ("no-key-sharing", .noKeySharing), ("es", .encryptedState),
        ("no-send", .noSend), ("domain", .domain), ("sev", .sev),
    ]

    /// Bits 23:16 API_MAJOR, minimum API major version.
    public var apiMajor: UInt8 { get { byteField(at: 16) } set { setByteField(newValue, at: 16) } }
    /// Bits 31:24 API_MINOR, minimum API minor version.
    public var apiMinor: UInt8 { get { byteField(at: 24) } set { setByteField(newValue, at: 24) } }
}
