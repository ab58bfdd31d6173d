import IGVM

/// The initial VMSA KVM measures for a vCPU that starts from the x86 reset state (QEMU's OVMF
/// path), as sev-snp-measure `VMSA.build_save_area` models it for QEMU, EC2 and GCE.
enum QEMUResetVMSA {
    /// The BSP starts at the reset vector.
    static let bspEIP: UInt32 = 0xFFFF_FFF0

    static func page(eip: UInt32, sevFeatures: UInt64, signature: VCPUSignature, vmm: VMMType) -> [UInt8] {
        // QEMU's reset state with RDX = CPUID signature (SEVVMSA.resetState is exactly that).
        var vmsa = SEVVMSA.resetState(eip: eip, rdx: UInt64(signature.value), sevFeatures: sevFeatures)
        typealias Offset = SEVVMSA.Offset
        func setAttributes(_ attributes: UInt16, at offset: Int) {
            var segment = vmsa.segment(at: offset)
            segment.attrib = attributes
            vmsa.setSegment(segment, at: offset)
        }
        switch vmm {
        case .qemu:
            break
        case .ec2:
            if eip == bspEIP { setAttributes(0x9A, at: Offset.cs) }
            setAttributes(0x92, at: Offset.ss)
            setAttributes(0x83, at: Offset.tr)
            vmsa.rdx = 0x600
            vmsa.setU32(0, at: Offset.mxcsr)
            vmsa.setU16(0, at: Offset.x87FCW)
        case .gce:
            vmsa.setU64(0x0007_0106, at: Offset.gPAT)  // GCE's hypervisor overwrites the default PAT
            vmsa.rdx = 0x600
            vmsa.setU32(0, at: Offset.mxcsr)
            vmsa.setU16(0, at: Offset.x87FCW)
        }
        return vmsa.bytes
    }
}
