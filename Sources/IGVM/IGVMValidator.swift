/// One thing wrong (error) or doubtful (warning) about running an IGVM file on a target.
public struct IGVMProblem: Sendable, Hashable, CustomStringConvertible {
    public enum Level: String, Sendable { case error, warning }
    public var level: Level
    /// A stable identifier for scripts and tests, e.g. "vmsa-gpa".
    public var code: String
    /// One line for people.
    public var message: String
    /// Byte offset in the file of the header concerned, when there is one.
    public var offset: Int?

    public init(_ level: Level, _ code: String, _ message: String, offset: Int? = nil) {
        self.level = level
        self.code = code
        self.message = message
        self.offset = offset
    }

    public var description: String {
        "\(level.rawValue): \(code): \(message)" + (offset.map { " (offset \(hex($0)))" } ?? "")
    }
}

/// Checks an IGVM file that libigvm accepts against what QEMU's loader will do with it on a
/// given platform and QEMU version: QEMU's `backends/igvm.c`, `target/i386/igvm.c`,
/// `target/i386/sev.c` and the directive tables of `docs/system/igvm.rst` (docs/background.md,
/// "What QEMU's loader adds").
/// The `validate CONFIG` command and `igvm check` both call `validate(_:)`.
public struct IGVMValidator: Sendable {
    /// The platform the VM runs as (native, sev, sev-es, sev-snp).
    public var platform: IGVMPlatformType
    public var qemuVersion: QEMUVersion
    /// vCPUs the VM starts with; nil skips the VMSA count checks.
    public var vcpus: Int?
    /// The policy the configuration sets on the `sev-guest`/`sev-snp-guest` object, if any.
    public var expectedPolicy: UInt64?
    /// `sev_features` bits KVM supports (`KVM_X86_SEV_VMSA_FEATURES`), when probed.
    public var supportedSEVFeatures: UInt64?
    /// The SEV-SNP launch digest computed for this file and VM (by the measurement module);
    /// when set, an SNP_ID_BLOCK must carry it as `ld`.
    public var expectedLaunchDigest: [UInt8]?

    public init(platform: IGVMPlatformType, qemuVersion: QEMUVersion, vcpus: Int? = nil,
                expectedPolicy: UInt64? = nil, supportedSEVFeatures: UInt64? = nil, expectedLaunchDigest: [UInt8]? = nil) {
        self.platform = platform
        self.qemuVersion = qemuVersion
        self.vcpus = vcpus
        self.expectedPolicy = expectedPolicy
        self.supportedSEVFeatures = supportedSEVFeatures
        self.expectedLaunchDigest = expectedLaunchDigest
    }

    /// Platforms QEMU may pick for this target, best first (`qigvm_supported_platform_compat_mask`:
    /// SNP > SEV-ES > SEV > native; a confidential object also accepts the weaker SEV types).
    public var eligiblePlatforms: [IGVMPlatformType] {
        switch platform {
        case .sevSNP: [.sevSNP, .sevES, .sev, .native]
        case .sevES: [.sevES, .sev, .native]
        case .sev: [.sev, .native]
        default: [.native]
        }
    }

    /// The platform header QEMU would select, or nil.
    public func selectedPlatform(in file: IGVMFile) -> IGVMSupportedPlatform? {
        for type in eligiblePlatforms { if let p = file.platform(ofType: type) { return p } }
        return nil
    }

    /// Every problem found, errors and warnings, in file order within each check.
    public func validate(_ file: IGVMFile) -> [IGVMProblem] {
        var problems: [IGVMProblem] = []
        func error(_ code: String, _ msg: String, _ offset: Int? = nil) { problems.append(IGVMProblem(.error, code, msg, offset: offset)) }
        func warn(_ code: String, _ msg: String, _ offset: Int? = nil) { problems.append(IGVMProblem(.warning, code, msg, offset: offset)) }

        guard OVMFIGVMBuilder.supportedPlatforms.contains(platform) else {
            error("unsupported-target", "QEMU runs IGVM only as native, sev, sev-es or sev-snp, not \(platform.name)")
            return problems
        }
        guard qemuVersion >= QEMUVersion.igvmSupport else {
            error("qemu-version", "QEMU \(qemuVersion) has no IGVM loader (added in 10.1)")
            return problems
        }
        if platform == .native && qemuVersion < QEMUVersion.nativeIGVM {
            error("qemu-version", "QEMU \(qemuVersion) loads IGVM only with a confidential-guest-support object; native IGVM needs 10.2")
        }
        // QEMU looks up a handler for every header before testing its mask.
        let handled = qemuVersion.igvmHandledTypes
        var reported = Set<IGVMHeaderType>()
        let headers: [(IGVMHeaderType, Int)] = zip(file.initializations.map(\.type), file.initializationOffsets).map { ($0, $1) }
            + zip(file.directives.map(\.type), file.directiveOffsets).map { ($0, $1) }
        for (type, offset) in headers where !handled.contains(type) && reported.insert(type).inserted {
            error("unhandled-header", "QEMU \(qemuVersion) has no handler for \(type.cName) and rejects the file "
                  + "(\"Unknown header type encountered when processing file: (type \(hex(type.rawValue)))\")", offset)
        }
        checkLayout(file, warn: warn)
        if file.directives.isEmpty { error("no-directives", "the file has no directives (\"Invalid directive header count in IGVM file\")") }

        guard let selected = selectedPlatform(in: file) else {
            error("no-compatible-platform", "IGVM file does not describe a compatible supported platform (target \(platform.name))")
            return problems
        }
        if selected.platformType != platform {
            warn("platform-fallback", "the file has no \(platform.name) platform; QEMU would use its \(selected.platformType.name) platform instead")
        }
        let mask = selected.compatibilityMask
        let type = selected.platformType
        checkPolicy(file, type: type, mask: mask, error: error, warn: warn)

        var vmsaIndexes: [UInt16: Int] = [:]
        var seenVMSA = false
        var idBlocks = 0
        var areaSizes: [UInt32: UInt64] = [:]
        var lastPage: (index: Int, gpa: UInt64, mask: UInt32, flags: IGVMPageDataFlags, type: IGVMPageDataType, zero: Bool)?
        var pendingRun: Int?  // offset of the first PAGE_DATA of QEMU's pending region
        for (i, directive) in file.directives.enumerated() {
            let offset = file.directiveOffsets[i]
            if case .parameterArea(let a) = directive { areaSizes[a.parameterAreaIndex] = a.numberOfBytes }
            if case .parameter(let p) = directive {
                let width: UInt64 = (p.kind == .vpCount || p.kind == .environmentInfo) ? 4 : 1
                if let size = areaSizes[p.parameterAreaIndex], UInt64(p.byteOffset) + width > size {
                    error("parameter-offset", "\(p.kind.headerType.cName) byte_offset \(hex(p.byteOffset)) lies outside its "
                          + "\(hex(size))-byte parameter area (QEMU does not check and writes past it)", offset)
                }
                checkParameterSupport(p.kind, offset: offset, error: error)
            }
            guard let m = directive.compatibilityMask, m & mask != 0 else { continue }
            switch directive {
            case .pageData(let page):
                if page.flags.contains(.is2MBPage) {
                    error("2mb-page", "PAGE_DATA at \(hex(page.gpa)) is a 2 MB page; libigvm and QEMU handle only 4 KiB", offset)
                }
                if page.dataType != .normal && type != .sevSNP {
                    error("page-type", "PAGE_DATA at \(hex(page.gpa)) has type \(page.dataType.name), which only SEV-SNP supports", offset)
                }
                if seenVMSA {
                    warn("vmsa-not-last", "PAGE_DATA at \(hex(page.gpa)) comes after a VP context; KVM measures VMSAs last, so file-order measurers disagree", offset)
                }
                if let last = lastPage, pendingRun != nil, last.index == i - 1, last.mask == page.compatibilityMask,
                   last.gpa &+ (last.flags.contains(.is2MBPage) ? 0x200000 : igvmPageSize) == page.gpa,
                   last.flags == page.flags, last.type == page.dataType, last.zero == (page.fileOffset == 0) {
                    // Same run continues.
                } else {
                    pendingRun = offset
                }
                lastPage = (i, page.gpa, page.compatibilityMask, page.flags, page.dataType, page.fileOffset == 0)
            case .parameterInsert(let insert):
                // QEMU (backends/igvm.c qigvm_process_mem_page) keeps the latest page run
                // pending until the next PAGE_DATA of the platform or the end of the file, so
                // an insert's UNMEASURED update is queued before that run's pages.
                if type == .sevSNP, let run = pendingRun {
                    warn("insert-splits-run", "PARAMETER_INSERT at \(hex(insert.gpa)) is measured before the page run that precedes it "
                         + "(from offset \(hex(run))): QEMU flushes a run only at the next PAGE_DATA, so its SEV-SNP launch digest "
                         + "order differs from file order", offset)
                }
                if seenVMSA {
                    warn("vmsa-not-last", "PARAMETER_INSERT at \(hex(insert.gpa)) comes after a VP context; VMSAs should be last", offset)
                }
            case .vpContext(let ctx):
                seenVMSA = true
                checkVPContext(file, ctx, type: type, offset: offset, indexes: &vmsaIndexes, error: error, warn: warn)
            case .snpIDBlock(let block):
                idBlocks += 1
                checkIDBlock(block, type: type, offset: offset, count: idBlocks, error: error, warn: warn)
            case .requiredMemory, .errorRange, .vbsMeasurement, .parameterArea, .parameter:
                break
            }
        }
        if let vcpus, type == .sevES || type == .sevSNP, !vmsaIndexes.isEmpty, vmsaIndexes.count != vcpus {
            error("vmsa-count", "the file has \(vmsaIndexes.count) VMSA(s) for \(type.name) but the VM has \(vcpus) vCPU(s); "
                  + "KVM measures one VMSA per vCPU, so the launch digest will not match")
        }
        return problems
    }

    /// What the IGVM format asks but libigvm does not enforce (`variable_header_offset` 8-byte
    /// aligned and past the fixed header; zero padding after a VP_CONTEXT header's 20 bytes).
    private func checkLayout(_ file: IGVMFile, warn: (String, String, Int?) -> Void) {
        let h = file.fixedHeader
        if Int(h.variableHeaderOffset) < h.structSize || h.variableHeaderOffset % 8 != 0 {
            warn("variable-header-offset", "variable_header_offset \(hex(h.variableHeaderOffset)) should be 8-byte aligned and "
                 + "not inside the \(h.structSize)-byte fixed header (libigvm does not check)", 8)
        }
        for (i, d) in file.directives.enumerated() {
            guard case .vpContext = d else { continue }
            let padding = file.directiveOffsets[i] + 8 + 20
            if file.bytes[padding..<(padding + 4)].contains(where: { $0 != 0 }) {
                warn("header-padding", "VP_CONTEXT padding bytes are not zero (the specification requires zeros; libigvm ignores them)", padding)
            }
        }
    }

    private func checkParameterSupport(_ kind: IGVMParameterKind, offset: Int, error: (String, String, Int?) -> Void) {
        if platform == .native && qemuVersion < QEMUVersion.nativeIGVM && kind == .memoryMap {
            error("directive-platform", "QEMU \(qemuVersion) fills MEMORY_MAP only for SEV platforms", offset)
        }
    }

    private func checkPolicy(_ file: IGVMFile, type: IGVMPlatformType, mask: UInt32,
                             error: (String, String, Int?) -> Void, warn: (String, String, Int?) -> Void) {
        var policy: UInt64?
        var policyOffset: Int?
        for (i, h) in file.initializations.enumerated() {
            if case .guestPolicy(let p, let m) = h, m & mask != 0 {
                policy = p
                policyOffset = file.initializationOffsets[i]
            }
        }
        switch type {
        case .sevSNP:
            guard let policy else {
                warn("no-guest-policy", "no GUEST_POLICY for the sev-snp platform: QEMU puts policy 0 in the ID block", nil)
                return
            }
            for v in SNPPolicy(policy).violations {
                error("snp-policy", "GUEST_POLICY \(hex(policy)) breaks the SEV-SNP policy rules: \(v)", policyOffset)
            }
            if let expectedPolicy, expectedPolicy != policy {
                error("policy-mismatch", "GUEST_POLICY \(hex(policy)) differs from the configured policy \(hex(expectedPolicy)); "
                      + "QEMU 10.2 starts the launch with the configured one, so LAUNCH_FINISH fails with an ID block", policyOffset)
            }
        case .sevES, .sev:
            if let policy, type == .sevES, !SEVPolicy(policy).requiresES {
                warn("sev-policy", "GUEST_POLICY \(hex(policy)) for sev-es does not set the ES bit (0x4)", policyOffset)
            }
            if let policy, let expectedPolicy, expectedPolicy != policy {
                error("policy-mismatch", "GUEST_POLICY \(hex(policy)) differs from the configured policy \(hex(expectedPolicy))", policyOffset)
            }
        default: break
        }
    }

    private func checkVPContext(_ file: IGVMFile, _ ctx: IGVMVPContext, type: IGVMPlatformType, offset: Int,
                                indexes: inout [UInt16: Int], error: (String, String, Int?) -> Void,
                                warn: (String, String, Int?) -> Void) {
        if let previous = indexes[ctx.vpIndex] {
            error("vmsa-duplicate", "second VP context for vp_index \(ctx.vpIndex) (first at \(hex(previous)))", offset)
        }
        indexes[ctx.vpIndex] = offset
        if let vcpus, Int(ctx.vpIndex) >= vcpus {
            error("vmsa-index", "VP context for vp_index \(ctx.vpIndex) but the VM has only \(vcpus) vCPU(s)", offset)
        }
        switch type {
        case .sev:
            error("directive-platform", "VP_CONTEXT is not supported on SEV (it needs SEV-ES encrypted save state)", offset)
        case .native:
            if qemuVersion < QEMUVersion.nativeIGVM {
                error("directive-platform", "QEMU \(qemuVersion) needs a confidential platform for VP_CONTEXT", offset)
            } else if ctx.vpIndex != 0 {
                error("directive-platform", "native VP context for vp_index \(ctx.vpIndex): QEMU sets the context of the BSP only", offset)
            }
        case .sevES, .sevSNP:
            if ctx.gpa != igvmKVMVMSAGPA {
                error("vmsa-gpa", "VMSA gpa \(hex(ctx.gpa)) is not 0xFFFFFFFFF000, the GPA KVM uses (\"The VMSA GPA must be ...\")", offset)
            }
            guard let page = file.data(of: ctx), let vmsa = SEVVMSA(page: page) else { return }
            for r in vmsa.disallowedNonZeroRanges() {
                error("vmsa-fields", "VMSA for vp_index \(ctx.vpIndex) has non-zero bytes at \(hex(r.lowerBound))-\(hex(r.upperBound - 1)) "
                      + "outside the fields QEMU synchronizes with KVM", offset)
            }
            if !vmsa.tailIsZero {
                warn("vmsa-tail", "VMSA for vp_index \(ctx.vpIndex) has non-zero bytes after 0x670, which QEMU ignores", offset)
            }
            let snpActive = vmsa.sevFeatures & 1 != 0
            if snpActive != (type == .sevSNP) {
                error("sev-features", "VMSA for vp_index \(ctx.vpIndex) has sev_features \(hex(vmsa.sevFeatures)): SNP_ACTIVE (bit 0) must be "
                      + (type == .sevSNP ? "set for SEV-SNP" : "clear for SEV-ES"), offset)
            }
            if let supported = supportedSEVFeatures, vmsa.sevFeatures & ~1 & ~supported != 0 {
                error("sev-features", "VMSA sev_features \(hex(vmsa.sevFeatures)) sets bits KVM does not support (\(hex(supported)))", offset)
            }
        default: break
        }
    }

    private func checkIDBlock(_ block: IGVMSNPIDBlock, type: IGVMPlatformType, offset: Int, count: Int,
                              error: (String, String, Int?) -> Void, warn: (String, String, Int?) -> Void) {
        guard type == .sevSNP else {
            if type != .native {
                error("directive-platform", "SNP_ID_BLOCK on \(type.name): \"An ID block/ID auth block has been provided but SEV-SNP is not enabled\"", offset)
            }
            return
        }
        if let digest = expectedLaunchDigest, block.ld != digest {
            error("id-block-ld", "SNP_ID_BLOCK ld does not equal the computed launch digest; LAUNCH_FINISH would fail", offset)
        }
        if count > 1 { error("id-block-multiple", "more than one SNP_ID_BLOCK for the platform (\"Multiple ID blocks\")", offset) }
        if block.version != 1 { warn("id-block-version", "SNP_ID_BLOCK version \(block.version) is not 1 (QEMU forces 1)", offset) }
        if block.idKeyAlgorithm != 1 {
            error("id-block-algorithm", "SNP_ID_BLOCK id_key_algorithm \(block.idKeyAlgorithm) is not 1 (ECDSA P-384 with SHA-384)", offset)
        }
        if block.idPublicKey.curve != 2 {
            error("id-block-curve", "SNP_ID_BLOCK id public key curve \(block.idPublicKey.curve) is not 2 (P-384)", offset)
        }
        let authorKeyPresent = block.authorPublicKey.curve != 0 || block.authorKeyEnabled != 0
        if authorKeyPresent {
            if block.authorKeyAlgorithm != 1 {
                error("id-block-algorithm", "SNP_ID_BLOCK author_key_algorithm \(block.authorKeyAlgorithm) is not 1", offset)
            }
            if block.authorPublicKey.curve != 2 {
                error("id-block-curve", "SNP_ID_BLOCK author public key curve \(block.authorPublicKey.curve) is not 2 (P-384)", offset)
            }
        }
    }
}
