/// The initial VMSA KVM measures for a vCPU that starts from the x86 reset state (QEMU's OVMF
/// path), as sev-snp-measure `VMSA.build_save_area` models it for QEMU, EC2 and GCE.
enum QEMUResetVMSA {
    /// The BSP starts at the reset vector.
    static let bspEIP: UInt32 = 0xFFFF_FFF0

    static func page(eip: UInt32, sevFeatures: UInt64, signature: VCPUSignature, vmm: VMMType) -> [UInt8] {
        var csAttributes: UInt16 = 0x9B, ssAttributes: UInt16 = 0x93, trAttributes: UInt16 = 0x8B
        var rdx = UInt64(signature.value), mxcsr: UInt32 = 0x1F80, fcw: UInt16 = 0x37F
        var pat: UInt64 = 0x0007_0406_0007_0406
        switch vmm {
        case .qemu:
            break
        case .ec2:
            if eip == bspEIP { csAttributes = 0x9A }
            ssAttributes = 0x92
            trAttributes = 0x83
            rdx = 0x600
            mxcsr = 0
            fcw = 0
        case .gce:
            pat = 0x0007_0106  // GCE's hypervisor overwrites the default PAT
            rdx = 0x600
            mxcsr = 0
            fcw = 0
        }
        var vmsa = VMSAPage()
        vmsa.segment(.es, selector: 0, attributes: 0x93, limit: 0xFFFF, base: 0)
        vmsa.segment(.cs, selector: 0xF000, attributes: csAttributes, limit: 0xFFFF, base: UInt64(eip & 0xFFFF_0000))
        vmsa.segment(.ss, selector: 0, attributes: ssAttributes, limit: 0xFFFF, base: 0)
        vmsa.segment(.ds, selector: 0, attributes: 0x93, limit: 0xFFFF, base: 0)
        vmsa.segment(.fs, selector: 0, attributes: 0x93, limit: 0xFFFF, base: 0)
        vmsa.segment(.gs, selector: 0, attributes: 0x93, limit: 0xFFFF, base: 0)
        vmsa.segment(.gdtr, selector: 0, attributes: 0, limit: 0xFFFF, base: 0)
        vmsa.segment(.idtr, selector: 0, attributes: 0, limit: 0xFFFF, base: 0)
        vmsa.segment(.ldtr, selector: 0, attributes: 0x82, limit: 0xFFFF, base: 0)
        vmsa.segment(.tr, selector: 0, attributes: trAttributes, limit: 0xFFFF, base: 0)
        vmsa.set(.efer, 0x1000)  // KVM sets EFER.SVME
        vmsa.set(.cr4, 0x40)  // KVM sets CR4.MCE
        vmsa.set(.cr0, 0x10)
        vmsa.set(.dr7, 0x400)
        vmsa.set(.dr6, 0xFFFF_0FF0)
        vmsa.set(.rflags, 0x2)
        vmsa.set(.rip, UInt64(eip & 0xFFFF))
        vmsa.set(.gPAT, pat)
        vmsa.set(.rdx, rdx)
        vmsa.set(.sevFeatures, sevFeatures)
        vmsa.set(.xcr0, 0x1)
        vmsa.set32(.mxcsr, mxcsr)
        vmsa.set16(.x87FCW, fcw)
        return vmsa.bytes
    }
}
