import Numerals

/// Checks an IGVM file against what QEMU does with it on a platform, a QEMU version and a
/// machine: libigvm's parse (every platform), then QEMU's loader for the platform it selects
/// (`qigvm_process_file`, backends/igvm.c: platform selection, every directive in file order,
/// the initialization headers, the last page run, the SEV-SNP policy), then what KVM and the
/// SEV firmware check at launch. Problems come out in that order, so the first fatal one is
/// what stops QEMU (`IGVMLoadVerdict`). `validate CONFIG`, `igvm check` and the vmfwupdate
/// image check all use it.
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
    /// The machine's memory map; nil skips the placement rules (`qigvm_prepare_memory`).
    public var memoryMap: MachineMemoryMap?
    /// The libigvm QEMU is built with (QEMU 10.1 and 10.2: 0.4.0).
    public var libigvm: LibIGVMRelease = .v0_4_0

    public init(platform: IGVMPlatformType, qemuVersion: QEMUVersion, vcpus: Int? = nil,
                expectedPolicy: UInt64? = nil, supportedSEVFeatures: UInt64? = nil, expectedLaunchDigest: [UInt8]? = nil,
                memoryMap: MachineMemoryMap? = nil) {
        self.platform = platform
        self.qemuVersion = qemuVersion
        self.vcpus = vcpus
        self.expectedPolicy = expectedPolicy
        self.supportedSEVFeatures = supportedSEVFeatures
        self.expectedLaunchDigest = expectedLaunchDigest
        self.memoryMap = memoryMap
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

    /// The whole check from the file's bytes: libigvm's parse as QEMU's libigvm does it, then
    /// `validate(_:)`.
    public func check(bytes: [UInt8]) -> [IGVMProblem] {
        do {
            return validate(try IGVMFile(bytes: bytes, release: libigvm))
        } catch {
            return Self.gates(platform: platform, qemuVersion: qemuVersion) + [Self.problem(for: error)]
        }
    }

    /// A libigvm refusal as QEMU reports it (`qigvm_file_init`).
    public static func problem(for error: IGVMParseError) -> IGVMProblem {
        IGVMProblem(error.outcome == .panics ? .aborts : .error, "libigvm-\(error.rule.rawValue)", "\(error)",
                    offset: error.offset, stage: .parse,
                    qemuSays: error.outcome == .panics ? nil : "Unable to parse IGVM file %s: \(error.code.rawValue)")
    }

    /// Every problem of a file libigvm accepts, in the order QEMU meets them.
    public func validate(_ file: IGVMFile) -> [IGVMProblem] {
        var problems = Self.gates(platform: platform, qemuVersion: qemuVersion)
        guard problems.allSatisfy({ $0.code != "unsupported-target" }), qemuVersion >= QEMUVersion.igvmSupport else {
            return problems
        }
        problems += IGVMSpecLayout.warnings(file)

        // qigvm_supported_platform_compat_mask.
        guard let selected = selectedPlatform(in: file) else {
            problems.append(IGVMProblem(.error, "no-compatible-platform",
                                        "IGVM file does not describe a compatible supported platform (target \(platform.name))",
                                        qemuSays: "IGVM file does not describe a compatible supported platform"))
            return problems
        }
        if selected.platformType != platform {
            problems.append(IGVMProblem(.warning, "platform-fallback",
                                        "the file has no \(platform.name) platform; QEMU would use its \(selected.platformType.name) platform instead"))
        }
        // qigvm_process_file: igvm_header_count(DIRECTIVE) must be > 0.
        if file.directives.isEmpty {
            problems.append(IGVMProblem(.error, "no-directives", "the file has no directives",
                                        qemuSays: "Invalid directive header count in IGVM file. Error code: 0"))
            return problems
        }
        var run = IGVMLoaderRun(validator: self, file: file, platform: selected)
        run.processDirectives()
        run.processInitializations()
        run.flushPendingPages()  // qigvm_process_mem_page(ctx, NULL)
        problems += run.problems
        problems += launchProblems(file, platform: selected, vmsaIndexes: run.vmsaIndexes)
        return problems
    }

    /// What rules out the target or the QEMU version before the file is looked at.
    static func gates(platform: IGVMPlatformType, qemuVersion: QEMUVersion) -> [IGVMProblem] {
        guard OVMFIGVMBuilder.supportedPlatforms.contains(platform) else {
            return [IGVMProblem(.error, "unsupported-target", "QEMU runs IGVM only as native, sev, sev-es or sev-snp, not \(platform.name)")]
        }
        guard qemuVersion >= QEMUVersion.igvmSupport else {
            return [IGVMProblem(.error, "qemu-version", "QEMU \(qemuVersion) has no IGVM loader (added in 10.1)")]
        }
        if platform == .native && qemuVersion < QEMUVersion.nativeIGVM {
            return [IGVMProblem(.error, "qemu-version",
                                "QEMU \(qemuVersion) loads IGVM only with a confidential-guest-support object; native IGVM needs 10.2")]
        }
        return []
    }

    /// `qigvm_handle_policy` hands the policy and ID block to the SEV-SNP launch; KVM measures
    /// one VMSA per vCPU.
    private func launchProblems(_ file: IGVMFile, platform selected: IGVMSupportedPlatform, vmsaIndexes: [UInt16: Int]) -> [IGVMProblem] {
        var problems = IGVMPolicyCheck(expectedPolicy: expectedPolicy).problems(file, platform: selected)
        let type = selected.platformType
        if let vcpus, type == .sevES || type == .sevSNP, !vmsaIndexes.isEmpty, vmsaIndexes.count != vcpus {
            problems.append(IGVMProblem(.error, "vmsa-count",
                                        "the file has \(vmsaIndexes.count) VMSA(s) for \(type.name) but the VM has \(vcpus) vCPU(s); "
                                            + "KVM measures one VMSA per vCPU, so the launch digest will not match", stage: .launch))
        }
        return problems
    }
}

/// What the IGVM specification asks but libigvm does not enforce (warnings).
enum IGVMSpecLayout {
    static func warnings(_ file: IGVMFile) -> [IGVMProblem] {
        var problems: [IGVMProblem] = []
        let h = file.fixedHeader
        if Int(h.variableHeaderOffset) < h.structSize || h.variableHeaderOffset % 8 != 0 {
            problems.append(IGVMProblem(.warning, "variable-header-offset",
                                        "variable_header_offset \(hex(h.variableHeaderOffset)) should be 8-byte aligned and "
                                            + "not inside the \(h.structSize)-byte fixed header (libigvm does not check)", offset: 8))
        }
        for (i, d) in file.directives.enumerated() {
            guard case .vpContext = d else { continue }
            let padding = file.directiveOffsets[i] + 8 + 20
            if file.bytes[padding..<(padding + 4)].contains(where: { $0 != 0 }) {
                problems.append(IGVMProblem(.warning, "header-padding",
                                            "VP_CONTEXT padding bytes are not zero (the specification requires zeros; libigvm ignores them)",
                                            offset: padding))
            }
        }
        return problems
    }
}

/// The GUEST_POLICY QEMU takes for the selected platform (`qigvm_initialization_guest_policy`:
/// the last matching header wins) against the SEV rules and the configured policy.
struct IGVMPolicyCheck {
    var expectedPolicy: UInt64?

    func problems(_ file: IGVMFile, platform: IGVMSupportedPlatform) -> [IGVMProblem] {
        var policy: UInt64?
        var offset: Int?
        for (i, h) in file.initializations.enumerated() {
            if case .guestPolicy(let p, let m) = h, m & platform.compatibilityMask != 0 {
                policy = p
                offset = file.initializationOffsets[i]
            }
        }
        var problems: [IGVMProblem] = []
        func add(_ level: IGVMProblem.Level, _ code: String, _ message: String) {
            problems.append(IGVMProblem(level, code, message, offset: offset, stage: .launch))
        }
        switch platform.platformType {
        case .sevSNP:
            guard let policy else {
                add(.warning, "no-guest-policy", "no GUEST_POLICY for the sev-snp platform: QEMU puts policy 0 in the ID block")
                return problems
            }
            for v in SNPPolicy(policy).violations {
                add(.error, "snp-policy", "GUEST_POLICY \(hex(policy)) breaks the SEV-SNP policy rules: \(v)")
            }
            if let expectedPolicy, expectedPolicy != policy {
                add(.error, "policy-mismatch", "GUEST_POLICY \(hex(policy)) differs from the configured policy \(hex(expectedPolicy)); "
                    + "QEMU 10.2 starts the launch with the configured one, so LAUNCH_FINISH fails with an ID block")
            }
        case .sevES, .sev:
            if let policy, platform.platformType == .sevES, !SEVPolicy(truncating: policy).contains(.encryptedState) {
                add(.warning, "sev-policy", "GUEST_POLICY \(hex(policy)) for sev-es does not set the ES bit (0x4)")
            }
            if let policy, let expectedPolicy, expectedPolicy != policy {
                add(.error, "policy-mismatch", "GUEST_POLICY \(hex(policy)) differs from the configured policy \(hex(expectedPolicy))")
            }
        default: break
        }
        return problems
    }
}
