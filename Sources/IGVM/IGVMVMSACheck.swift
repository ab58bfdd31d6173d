import Numerals

/// An SEV-ES/SEV-SNP VP context as QEMU hands it to KVM (`cgs_set_guest_state` with
/// CGS_PAGE_TYPE_VMSA, target/i386/sev.c: `check_vmsa_supported`, `sev_set_cpu_context`).
struct IGVMVMSACheck {
    let validator: IGVMValidator
    let type: IGVMPlatformType

    func problems(_ file: IGVMFile, _ ctx: IGVMVPContext, offset: Int, indexes: inout [UInt16: Int]) -> [IGVMProblem] {
        var problems: [IGVMProblem] = []
        func error(_ code: String, _ message: String, stage: IGVMProblem.Stage = .load) {
            problems.append(IGVMProblem(.error, code, message, offset: offset, stage: stage))
        }
        if let previous = indexes[ctx.vpIndex] {
            error("vmsa-duplicate", "second VP context for vp_index \(ctx.vpIndex) (first at \(hex(previous)))")
        }
        indexes[ctx.vpIndex] = offset
        if let vcpus = validator.vcpus, Int(ctx.vpIndex) >= vcpus {
            error("vmsa-index", "VP context for vp_index \(ctx.vpIndex) but the VM has only \(vcpus) vCPU(s)")
        }
        if ctx.gpa != igvmKVMVMSAGPA {
            error("vmsa-gpa", "VMSA gpa \(hex(ctx.gpa)) is not 0xFFFFFFFFF000, the GPA KVM uses (\"The VMSA GPA must be ...\")")
        }
        guard let page = file.data(of: ctx), let vmsa = SEVVMSA(page: page) else { return problems }
        for r in vmsa.disallowedNonZeroRanges() {
            error("vmsa-fields", "VMSA for vp_index \(ctx.vpIndex) has non-zero bytes at \(hex(r.lowerBound))-\(hex(r.upperBound - 1)) "
                  + "outside the fields QEMU synchronizes with KVM")
        }
        let snpActive = vmsa.sevFeatures & 1 != 0
        if snpActive != (type == .sevSNP) {
            error("sev-features", "VMSA for vp_index \(ctx.vpIndex) has sev_features \(hex(vmsa.sevFeatures)): SNP_ACTIVE (bit 0) must be "
                  + (type == .sevSNP ? "set for SEV-SNP" : "clear for SEV-ES"))
        }
        if let supported = validator.supportedSEVFeatures, vmsa.sevFeatures & ~1 & ~supported != 0 {
            error("sev-features", "VMSA sev_features \(hex(vmsa.sevFeatures)) sets bits KVM does not support (\(hex(supported)))",
                  stage: .launch)
        }
        return problems
    }
}

/// The SNP_ID_BLOCK QEMU passes to SNP_LAUNCH_FINISH (`qigvm_handle_policy`): what the SEV
/// firmware checks at launch.
struct IGVMIDBlockCheck {
    var expectedLaunchDigest: [UInt8]?

    func problems(_ block: IGVMSNPIDBlock, offset: Int) -> [IGVMProblem] {
        var problems: [IGVMProblem] = []
        func add(_ level: IGVMProblem.Level, _ code: String, _ message: String) {
            problems.append(IGVMProblem(level, code, message, offset: offset, stage: .launch))
        }
        if let digest = expectedLaunchDigest, block.ld != digest {
            add(.error, "id-block-ld", "SNP_ID_BLOCK ld does not equal the computed launch digest; LAUNCH_FINISH would fail")
        }
        if block.version != 1 { add(.warning, "id-block-version", "SNP_ID_BLOCK version \(block.version) is not 1 (QEMU forces 1)") }
        if block.idKeyAlgorithm != 1 {
            add(.error, "id-block-algorithm", "SNP_ID_BLOCK id_key_algorithm \(block.idKeyAlgorithm) is not 1 (ECDSA P-384 with SHA-384)")
        }
        if block.idPublicKey.curve != 2 {
            add(.error, "id-block-curve", "SNP_ID_BLOCK id public key curve \(block.idPublicKey.curve) is not 2 (P-384)")
        }
        if block.authorPublicKey.curve != 0 || block.authorKeyEnabled != 0 {
            if block.authorKeyAlgorithm != 1 {
                add(.error, "id-block-algorithm", "SNP_ID_BLOCK author_key_algorithm \(block.authorKeyAlgorithm) is not 1")
            }
            if block.authorPublicKey.curve != 2 {
                add(.error, "id-block-curve", "SNP_ID_BLOCK author public key curve \(block.authorPublicKey.curve) is not 2 (P-384)")
            }
        }
        return problems
    }
}
