/// Which libigvm release's acceptance `IGVMFile(bytes:release:)` reproduces. The parsers differ
/// only where a release changed what `IgvmFile::new_from_binary` (igvm/src/lib.rs) accepts.
public enum LibIGVMRelease: String, Sendable, CaseIterable {
    /// igvm 0.4.0, the release QEMU 10.1 and 10.2 are built with: it knows no CCA platform type
    /// or CCA_POLICY header, and its `SevVmsa` is the 0x670-byte save area, the rest of the VMSA
    /// page must be zero.
    case v0_4_0 = "0.4.0"
    /// microsoft/igvm main: CCA platforms and policies, a VMSA is the whole 4 KiB page.
    case main
}

/// The VBS VP-context register names libigvm converts (`TryFrom<VbsVpContextRegister> for
/// X86Register`, igvm/src/registers.rs); any other name fails the file. Values are the
/// Hyper-V register names (`HvX64RegisterName`, igvm/src/hv_defs.rs).
enum VBSRegister {
    static let supportedX64: Set<UInt32> = [
        0x0007_0001, 0x0007_0000,  // Gdtr, Idtr
        0x0006_0003, 0x0006_0000, 0x0006_0004, 0x0006_0005, 0x0006_0002, 0x0006_0001, 0x0006_0007,  // Ds Es Fs Gs Ss Cs Tr
        0x0004_0000, 0x0004_0002, 0x0004_0003,  // Cr0 Cr3 Cr4
        0x0008_0001, 0x0008_0004,  // Efer Pat
        0x0002_0005, 0x0002_0010, 0x0002_0006, 0x0002_0004,  // Rbp Rip Rsi Rsp
        0x0002_0008, 0x0002_0009, 0x0002_000A, 0x0002_000B, 0x0002_000C,  // R8-R12
        0x0002_0011,  // Rflags
        0x0008_000E,  // MsrMtrrDefType
        0x0008_0010, 0x0008_0011, 0x0008_0012, 0x0008_0013, 0x0008_0014,  // MsrMtrrPhysBase0-4
        0x0008_0040, 0x0008_0041, 0x0008_0042, 0x0008_0043, 0x0008_0044,  // MsrMtrrPhysMask0-4
        0x0008_0070, 0x0008_0071,  // MsrMtrrFix64k00000, MsrMtrrFix16k80000
        0x0008_0077, 0x0008_0078, 0x0008_0079, 0x0008_007A,  // MsrMtrrFix4kE0000/E8000/F0000/F8000
    ]
}
