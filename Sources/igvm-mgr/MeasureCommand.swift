import ArgumentParser
import JSON
import IGVM
import Definition
import Launch
import Measure

/// `igvm-mgr measure`: the launch digest an OVMF image or IGVM file will produce.
struct MeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Compute the SEV/SEV-ES/SEV-SNP launch digest of an OVMF image or IGVM file.",
        discussion: """
            OVMF images (--ovmf) take sev-snp-measure's options and give its digests: the image, \
            the SEV metadata sections, the kernel-hash page for measured direct boot, and one VMSA \
            per vCPU for the CPU type and VMM. --mode snp:ovmf-hash prints the digest after the \
            image alone, which --snp-ovmf-hash takes back.

            IGVM files (--igvm) give the digest QEMU 10.2 + KVM produce for the SEV-SNP platform: \
            page data in QEMU's order (contiguous runs are submitted when the run ends, so a \
            PARAMETER_INSERT inside a run is measured first), PARAMETER_INSERT as UNMEASURED pages \
            for the whole parameter area, zero pages as NORMAL, and the VMSAs last, one per vCPU. \
            --order file gives igvmmeasure's file-order digest instead; both are printed when they \
            differ, with the reason.

            Exit status: 0 printed, 1 the inputs cannot be measured, 2 usage error or unreadable file.
            """)

    // MARK: OVMF (sev-snp-measure compatible)

    @Option(name: .customLong("mode"), help: "Guest mode: snp, snp:ovmf-hash, seves or sev.")
    var mode: String?

    @Option(name: .customLong("ovmf"), help: "OVMF image (the flash code or combined OVMF.fd).")
    var ovmf: String?

    @Option(name: .customLong("vcpus"), help: "Number of guest vCPUs (required except in sev mode).")
    var vcpus: String?

    @Option(name: .customLong("vcpu-type"), help: "QEMU CPU model: \(VCPUSignature.qemuCPUTypes.map(\.name).joined(separator: ", ")).")
    var vcpuType: String?

    @Option(name: .customLong("vcpu-sig"), help: "Guest vCPU signature (CPUID 1 EAX) value.")
    var vcpuSig: String?

    @Option(name: .customLong("vcpu-family"), help: "Guest vCPU family (with --vcpu-model and --vcpu-stepping).")
    var vcpuFamily: String?

    @Option(name: .customLong("vcpu-model"), help: "Guest vCPU model.")
    var vcpuModel: String?

    @Option(name: .customLong("vcpu-stepping"), help: "Guest vCPU stepping.")
    var vcpuStepping: String?

    @Option(name: .customLong("vmm-type"), help: "VMM whose initial vCPU state to use: QEMU (default), ec2 or gce.")
    var vmmType: String?

    @Option(name: .customLong("kernel"), help: "Kernel for measured direct boot (kernel-hashes=on).")
    var kernel: String?

    @Option(name: .customLong("initrd"), help: "Initrd (with --kernel).")
    var initrd: String?

    @Option(name: .customLong("append"), help: "Kernel command line (with --kernel).")
    var append: String?

    @Option(name: .customLong("guest-features"), help: "SEV_FEATURES of the VMSAs, 0x… (default 0x1).")
    var guestFeatures: String?

    @Option(name: .customLong("output-format"), help: "hex (default) or base64.")
    var outputFormat: String = "hex"

    @Option(name: .customLong("snp-ovmf-hash"), help: "Precalculated OVMF hash (hex, from --mode snp:ovmf-hash).")
    var snpOVMFHash: String?

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Print 'Calculated … guest measurement: …'.")
    var verbose = false

    // MARK: IGVM

    @Option(name: .customLong("igvm"), help: "IGVM file to measure.")
    var igvm: String?

    @Option(name: .customLong("platform"), help: "IGVM platform (sev-snp).")
    var platform: String?

    @Option(name: .customLong("cpus"), help: "vCPUs QEMU starts (-smp); default: the VMSAs in the file.")
    var cpus: String?

    @Option(name: .customLong("order"), help: "Measurement order: qemu (default, what QEMU 10.2 + KVM produce) or file (igvmmeasure).")
    var order: String?

    @OptionGroup var output: OutputOptions

    @Argument(help: "A VM definition (TOML, docs/config.md): measure what `start` would launch.")
    var config: String?

    /// Each option belongs to one kind of input; given with another it would be silently
    /// ignored and the digest would not be the one asked for, so it is a usage error.
    func validate() throws {
        let ovmfOptions = [
            ("--mode", mode), ("--ovmf", ovmf), ("--vcpus", vcpus), ("--vcpu-type", vcpuType), ("--vcpu-sig", vcpuSig),
            ("--vcpu-family", vcpuFamily), ("--vcpu-model", vcpuModel), ("--vcpu-stepping", vcpuStepping),
            ("--vmm-type", vmmType), ("--kernel", kernel), ("--initrd", initrd), ("--append", append),
            ("--guest-features", guestFeatures), ("--snp-ovmf-hash", snpOVMFHash),
        ].filter { $0.1 != nil }.map(\.0)
        let igvmOptions = [("--igvm", igvm), ("--cpus", cpus), ("--platform", platform), ("--order", order)]
            .filter { $0.1 != nil }.map(\.0)
        if config != nil, let first = (ovmfOptions + igvmOptions).first {
            throw ValidationError("\(first) does not apply to `measure CONFIG`, which takes every value from the definition")
        }
        if igvm != nil, let first = ovmfOptions.first {
            throw ValidationError("\(first) does not apply to --igvm (an IGVM file takes --cpus, --platform, --order)")
        }
        if igvm == nil, let first = igvmOptions.first {
            throw ValidationError("\(first) applies to --igvm only (an OVMF image takes --vcpus, --vcpu-type, …)")
        }
    }

    func run() throws {
        try reportingFailures {
            if let config {
                try runConfig(config)
            } else if igvm != nil {
                try runIGVM()
            } else {
                try runOVMF()
            }
        }
    }

    // MARK: - OVMF

    private func runOVMF() throws {
        let missing = [mode == nil ? "--mode" : nil, ovmf == nil ? "--ovmf" : nil].compactMap { $0 }
        guard missing.isEmpty, let mode, let ovmf else {
            throw CommandLineFailure.usage("the following arguments are required: \(missing.joined(separator: ", "))")
        }
        let modes = ["sev", "seves", "snp", "snp:ovmf-hash"]
        guard modes.contains(mode) else {
            throw CommandLineFailure.usage(
                "argument --mode: invalid choice: '\(mode)' (choose from \(modes.map { "'\($0)'" }.joined(separator: ", ")))")
        }
        guard outputFormat == "hex" || outputFormat == "base64" else {
            throw CommandLineFailure.usage("argument --output-format: invalid choice: '\(outputFormat)' (choose from 'hex', 'base64')")
        }
        if mode == "snp:ovmf-hash" {
            // Like sev-snp-measure, always hex: this value is meant for --snp-ovmf-hash.
            let digest = try LaunchDigest.snpOVMFHash(try OVMFImage(contentsOf: ovmf))
            return emit(digest, modeName: "SEV_SNP", format: "hex")
        }
        if initrd != nil && kernel == nil { throw CommandLineFailure.usage("--kernel required when using --initrd") }
        if append != nil && kernel == nil { throw CommandLineFailure.usage("--kernel required when using --append") }
        let vcpuCount = try vcpus.map { try integer($0, option: "--vcpus") }
        if mode != "sev" && vcpuCount == nil { throw CommandLineFailure.usage("missing --vcpus N in guest mode '\(mode)'") }
        let vmmType = self.vmmType ?? "QEMU"
        guard let vmm = VMMType(rawValue: vmmType) else {
            throw CommandLineFailure.usage("unknown VMM type '\(vmmType)'")
        }
        let signature = try vcpuSignature(mode: mode, vmm: vmm)
        let features = try unsigned(guestFeatures ?? "0x1", option: "--guest-features")
        var ovmfHash: LaunchDigest?
        if let snpOVMFHash {
            guard mode == "snp" else { throw CommandLineFailure.usage("--snp-ovmf-hash only works with --mode snp") }
            guard let bytes = Hex.decode(snpOVMFHash), bytes.count == 48 else {
                throw CommandLineFailure.usage("--snp-ovmf-hash: expected 96 hex digits, got '\(snpOVMFHash)'")
            }
            ovmfHash = LaunchDigest(bytes: bytes)
        }
        let hashes = try kernel.map { try SEVHashTable(kernelPath: $0, initrdPath: initrd, cmdline: append) }
        let input = try OVMFImage(contentsOf: ovmf)
        let parameters = OVMFLaunchParameters(
            vcpus: vcpuCount ?? 0, signature: signature, guestFeatures: features, vmm: vmm, kernelHashes: hashes)
        switch mode {
        case "snp":
            emit(try LaunchDigest.snp(ovmf: input, parameters, ovmfHash: ovmfHash), modeName: "SEV_SNP", format: outputFormat)
        case "seves":
            emit(try LaunchDigest.sevES(ovmf: input, parameters), modeName: "SEV_ES", format: outputFormat)
        default:
            emit(try LaunchDigest.sev(ovmf: input, kernelHashes: hashes), modeName: "SEV", format: outputFormat)
        }
    }

    /// sev-snp-measure's precedence: family/model/stepping, then the signature, then the type.
    private func vcpuSignature(mode: String, vmm: VMMType) throws -> VCPUSignature {
        if mode == "sev" { return VCPUSignature(0) }
        if let vcpuFamily {
            guard let vcpuModel, let vcpuStepping else {
                throw CommandLineFailure.usage("--vcpu-family needs --vcpu-model and --vcpu-stepping")
            }
            return VCPUSignature(
                family: try integer(vcpuFamily, option: "--vcpu-family"),
                model: try integer(vcpuModel, option: "--vcpu-model"),
                stepping: try integer(vcpuStepping, option: "--vcpu-stepping"))
        }
        if let vcpuSig {
            guard let value = parseUInt64(vcpuSig), value <= UInt32.max else {
                throw CommandLineFailure.usage("argument --vcpu-sig: invalid auto_base_int value: '\(vcpuSig)'")
            }
            return VCPUSignature(UInt32(value))
        }
        if let vcpuType {
            guard let signature = VCPUSignature(cpuType: vcpuType) else {
                let names = VCPUSignature.qemuCPUTypes.map { "'\($0.name)'" }.joined(separator: ", ")
                throw CommandLineFailure.usage("argument --vcpu-type: invalid choice: '\(vcpuType)' (choose from \(names))")
            }
            return signature
        }
        if vmm == .qemu {
            throw CommandLineFailure.usage("missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '\(mode)'")
        }
        return VCPUSignature(0)  // EC2 and GCE load 0x600 into RDX whatever the CPU
    }

    private func emit(_ digest: LaunchDigest, modeName: String, format: String) {
        let text = format == "base64" ? digest.base64 : digest.hex
        if output.json {
            Output.json(.object(["mode": .string(mode ?? ""), "digest": .string(digest.hex), "base64": .string(digest.base64)]))
        } else if verbose {
            Output.line("Calculated \(modeName) guest measurement: \(text)")
        } else {
            Output.line(text)
        }
    }

    // MARK: - VM definition

    private func runConfig(_ path: String) throws {
        if ovmf != nil || igvm != nil || mode != nil {
            throw CommandLineFailure.usage("a VM definition names its own firmware: drop --ovmf, --igvm and --mode")
        }
        let m = try MeasureCommand.measure(definition: path)
        if output.json {
            var object: JSONObject = [
                "config": .string(path),
                "mode": .string(m.mode.rawValue),
                "digest": .string(m.digest.hex),
                "base64": .string(m.digest.base64),
                "vcpus": .integer(Int64(m.vcpus)),
                "policy": .string("0x" + String(m.policy, radix: 16)),
            ]
            switch m.firmware {
            case .ovmf(let file): object["ovmf"] = .string(file)
            case .igvm(let file): object["igvm"] = .string(file)
            }
            object["vcpu-sig"] = m.signature.map { .string($0.description) } ?? .null
            if let i = m.igvm {
                object["file-order"] = .string(i.file.hex)
                object["differences"] = .array(i.differences.map { .string($0) })
            }
            object["id-block-digest"] = m.idBlockDigest.map { .string($0.hex) } ?? .null
            Output.json(.object(object))
        } else {
            Output.line(outputFormat == "base64" ? m.digest.base64 : m.digest.hex)
            if let i = m.igvm { reportOrders(i) }
        }
        if let expected = m.idBlockDigest, expected != m.digest {
            Output.warning(
                "\(path): confidential.id-block expects launch digest \(expected.hex), but this launch measures \(m.digest.hex): SNP_LAUNCH_FINISH would fail")
        }
    }

    /// Loads and measures a VM definition; definition problems exit 2 (unreadable) or 1.
    static func measure(definition path: String) throws -> DefinitionMeasurement {
        let definition: VMDefinition
        do {
            definition = try ConfigValidation.load(path: path)
        } catch {
            for problem in error.problems.dropLast() { Output.error(problem.description) }
            throw error.kind == .unreadable
                ? CommandLineFailure.usage(error.problems.last?.description ?? path)
                : CommandLineFailure.failure(error.problems.last?.description ?? path)
        }
        return try definition.launchMeasurement()
    }

    // MARK: - IGVM

    private func runIGVM() throws {
        guard let igvm else { return }
        if ovmf != nil || mode != nil {
            throw CommandLineFailure.usage("--igvm cannot be combined with --ovmf or --mode")
        }
        let platform = self.platform ?? "sev-snp"
        guard platform == "sev-snp" else {
            throw CommandLineFailure.usage("--platform \(platform): only the sev-snp platform has a launch digest here")
        }
        let order = self.order ?? IGVMMeasurementOrder.qemu.rawValue
        guard let selected = IGVMMeasurementOrder(rawValue: order) else {
            throw CommandLineFailure.usage("--order: expected qemu or file, got '\(order)'")
        }
        guard outputFormat == "hex" || outputFormat == "base64" else {
            throw CommandLineFailure.usage("argument --output-format: invalid choice: '\(outputFormat)' (choose from 'hex', 'base64')")
        }
        let cpuCount = try cpus.map { try integer($0, option: "--cpus") }
        let m = try LaunchDigest.igvm(contentsOf: igvm, cpus: cpuCount)
        let digest = m.digest(selected)
        if output.json {
            Output.json(.object([
                "platform": "sev-snp",
                "cpus": .integer(Int64(m.cpus)),
                "order": .string(selected.rawValue),
                "digest": .string(digest.hex),
                "qemu-order": .string(m.qemu.hex),
                "file-order": .string(m.file.hex),
                "differences": .array(m.differences.map { .string($0) }),
                "id-block-digest": m.idBlockDigest.map { .string($0.hex) } ?? .null,
            ]))
        } else {
            Output.line(outputFormat == "base64" ? digest.base64 : digest.hex)
            reportOrders(m)
        }
        if let expected = m.idBlockDigest, expected != m.qemu {
            Output.warning(
                "the file's SNP_ID_BLOCK expects launch digest \(expected.hex), but QEMU will measure \(m.qemu.hex): SNP_LAUNCH_FINISH would fail")
        }
    }

    /// Both digests on stderr when the orders disagree, so that stdout stays the one digest
    /// scripts capture.
    private func reportOrders(_ m: IGVMLaunchMeasurement) {
        guard m.qemu != m.file else { return }
        Output.warning("QEMU order and file order give different digests:")
        Output.warning("  qemu-order (QEMU 10.2 + KVM): \(m.qemu.hex)")
        Output.warning("  file-order (igvmmeasure):     \(m.file.hex)")
        for reason in m.differences { Output.warning("  because \(reason)") }
    }

    // MARK: - Numbers, read as sev-snp-measure's argparse reads them

    private func integer(_ text: String, option: String) throws -> Int {
        guard let value = Int(text) else { throw CommandLineFailure.usage("argument \(option): invalid int value: '\(text)'") }
        return value
    }

    private func unsigned(_ text: String, option: String) throws -> UInt64 {
        guard let value = parseUInt64(text) else {
            throw CommandLineFailure.usage("argument \(option): invalid value: '\(text)'")
        }
        return value
    }
}
