import Definition
import IGVM
import Measure
import ObjectModel

/// The launch digest a VM definition will produce, and what it was computed from: what
/// `igvm-mgr measure CONFIG` prints and what the supervisor records for a running VM.
public struct DefinitionMeasurement: Sendable {
    /// The firmware measured.
    public enum Firmware: Sendable, Hashable {
        case ovmf(path: String)
        case igvm(path: String)
    }

    public let mode: SEVMode
    public let firmware: Firmware
    public let digest: LaunchDigest
    public let vcpus: Int
    /// The CPU model's signature (OVMF path; an IGVM file's VMSAs carry their own RDX).
    public let signature: VCPUSignature?
    /// The policy the guest launches with (what an ID block's POLICY must be).
    public let policy: UInt64
    /// For IGVM firmware: both orders and why they differ.
    public let igvm: IGVMLaunchMeasurement?
    /// The launch digest in the definition's own `id-block`, when it has one.
    public let idBlockDigest: LaunchDigest?
}

extension VMDefinition {
    /// Measures what `start` would launch: `[firmware] bios` (OVMF, sev-snp-measure's rules for
    /// QEMU) or `[igvm] file` (QEMU 10.2 + KVM's order), with `qemu.cpus`, `qemu.cpu-model`,
    /// the confidential object's policy and, with `kernel-hashes`, the `[kernel]` hashes.
    /// SEV-SNP guests get SEV_FEATURES 0x1 (SNPActive), which QEMU 10.2 on KVM_SEV_INIT2 uses.
    public func launchMeasurement() throws(MeasurementError) -> DefinitionMeasurement {
        let (plan, problems) = LaunchPlan.build(self, binary: qemu.binary, qmpSocket: nil)
        guard let plan, problems.isEmpty else {
            throw MeasurementError(.invalidInput, problems.first.map(\.description) ?? "\(file): the definition cannot be planned")
        }
        guard let confidential else {
            throw invalid("confidential", "an ordinary guest has no launch digest (add [confidential] type = \"sev-snp-guest\" or \"sev-guest\")")
        }
        var mode = SEVMode.snp
        var policy: UInt64 = 0
        var kernelHashes = false
        var idBlock: [UInt8]?
        for object in plan.objects {
            switch object {
            case .sevSnpGuest(let snp) where snp.id == confidential.id:
                (mode, policy, kernelHashes) = (.snp, snp.effectivePolicy.rawValue, snp.kernelHashes ?? false)
                if case .success(let bytes)? = snp.idBlock?.decoded() { idBlock = bytes }
            case .sevGuest(let sev) where sev.id == confidential.id:
                mode = sev.isSevES ? .sevES : .sev
                (policy, kernelHashes) = (UInt64(sev.effectivePolicy.rawValue), sev.kernelHashes ?? false)
            default:
                break
            }
        }
        guard confidential.type != .nocc else {
            throw invalid("confidential.type", "nocc is not a confidential-computing platform: there is no launch digest")
        }
        var hashes: SEVHashTable?
        if kernelHashes {
            guard let kernel else { throw invalid("confidential.kernel-hashes", "kernel-hashes needs [kernel]") }
            hashes = try SEVHashTable(kernelPath: kernel.kernel, initrdPath: kernel.initrd, cmdline: kernel.append)
        }
        let expected = idBlock.flatMap { IDBlock(bytes: $0) }.map { LaunchDigest(bytes: $0.launchDigest) }

        switch boot {
        case .igvm(let path):
            guard mode == .snp else {
                throw invalid("igvm.file", "only SEV-SNP IGVM launches are measured here (this guest is \(mode.rawValue))")
            }
            let m = try LaunchDigest.igvm(contentsOf: path, cpus: qemu.cpus)
            return DefinitionMeasurement(
                mode: mode, firmware: .igvm(path: path), digest: m.qemu, vcpus: qemu.cpus, signature: nil, policy: policy,
                igvm: m, idBlockDigest: expected)
        case .bios(let path), .pflash(code: let path, vars: _):
            if case .pflash = boot, mode == .snp {
                throw invalid("firmware.pflash0", "QEMU launches SEV-SNP guests from [firmware] bios only, not pflash")
            }
            var signature = VCPUSignature(0)
            if mode != .sev {
                guard let model = qemu.cpuModel, let known = VCPUSignature(cpuType: model) else {
                    let names = VCPUSignature.qemuCPUTypes.map(\.name).joined(separator: ", ")
                    throw invalid("qemu.cpu-model", "the VMSAs carry the CPU signature, so cpu-model must be one of \(names) (got \(qemu.cpuModel.map { "\"\($0)\"" } ?? "none"))")
                }
                signature = known
            }
            let ovmf = try OVMFImage(contentsOf: path)
            let parameters = OVMFLaunchParameters(vcpus: qemu.cpus, signature: signature, kernelHashes: hashes)
            let digest: LaunchDigest = switch mode {
            case .snp: try LaunchDigest.snp(ovmf: ovmf, parameters)
            case .sevES: try LaunchDigest.sevES(ovmf: ovmf, parameters)
            case .sev: try LaunchDigest.sev(ovmf: ovmf, kernelHashes: hashes)
            }
            return DefinitionMeasurement(
                mode: mode, firmware: .ovmf(path: path), digest: digest, vcpus: qemu.cpus,
                signature: mode == .sev ? nil : signature, policy: policy, igvm: nil, idBlockDigest: expected)
        case .none:
            throw invalid("firmware", "no [firmware] or [igvm]: QEMU's default firmware is not measured here")
        }
    }

    private func invalid(_ key: String, _ message: String) -> MeasurementError {
        MeasurementError(.invalidInput, "\(file): \(key): \(message)")
    }
}
