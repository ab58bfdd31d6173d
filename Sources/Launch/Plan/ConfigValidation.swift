import Definition
import FileAccess
import Foundation
import IGVM
import Measure
import ObjectModel

/// `igvm-mgr validate CONFIG`: every problem of a VM definition, as QEMU, KVM/the SEV
/// firmware and igvm-mgr would see it, each named by the config key that caused it.
public enum ConfigValidation {
    /// Loads the definition at `path`; when it is invalid, the object properties of the tables
    /// that could be read are checked too (as the plan would check them) and reported in the
    /// same error, so that one run names every problem.
    public static func load(path: String) throws(ConfigError) -> VMDefinition {
        do {
            return try VMDefinition.load(path: path)
        } catch {
            throw withPropertyProblems(error)
        }
    }

    /// `error` plus the property problems of its partial definition.
    public static func withPropertyProblems(_ error: ConfigError) -> ConfigError {
        guard error.kind == .invalid, let partial = error.partial else { return error }
        var error = error
        error.problems += LaunchPlan.build(partial, binary: partial.qemu.binary, qmpSocket: nil).1
        return error
    }

    /// Loads, plans and validates the definition at `path`.
    ///
    /// - Parameter qemuVersion: the QEMU version to check against (overrides `qemu.version`).
    /// - Returns: every problem (warnings included); the definition is valid when none is an error.
    /// - Throws: `ConfigError` of kind `.unreadable` only (no file, not TOML).
    public static func validate(path: String, qemuVersion: String? = nil,
                                searchPath: String? = ProcessInfo.processInfo.environment["PATH"]) throws(ConfigError) -> [ConfigProblem] {
        let definition: VMDefinition
        do {
            definition = try load(path: path)
        } catch where error.kind == .invalid {
            return error.problems
        }
        return validate(definition, qemuVersion: qemuVersion, searchPath: searchPath)
    }

    /// Validates a loaded definition.
    public static func validate(_ d: VMDefinition, qemuVersion: String? = nil,
                                searchPath: String? = ProcessInfo.processInfo.environment["PATH"]) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if case .failure(let reason) = ExecutableLookup.find(d.qemu.binary, searchPath: searchPath) {
            problems.append(ConfigProblem(file: d.file, key: "qemu.binary", message: reason.description))
        }
        let (plan, readProblems) = LaunchPlan.build(d, binary: d.qemu.binary, qmpSocket: nil)
        problems += readProblems
        if let plan {
            let graph = ObjectGraph(machine: plan.machine, objects: plan.objects, devices: plan.devices,
                                    firmware: FirmwareFacts(bios: plan.bios, pflashDrives: 0, directKernel: plan.kernel != nil))
            // Properties the model could not read are already reported; don't also call them missing.
            let unreadable = Set(readProblems.map { "\($0.object).\($0.property ?? "")" })
            for p in graph.validate() where !unreadable.contains("\(p.object).\(p.property ?? "")") {
                problems.append(ConfigProblem(file: d.file, key: configKey(for: p, in: d), message: p.message,
                                              level: p.level, object: p.object, property: p.property))
            }
        }
        problems += acceleratorProblems(d)
        // What the reset/vmfwupdate flow refuses at start (no channel, mailbox outside RAM, a RAM
        // layout it cannot model): reported here so validate, args and start agree.
        problems += VMFWUpdateSetup.problems(d)
        let missingFiles = fileProblems(d)
        problems += missingFiles
        if missingFiles.isEmpty, let plan { problems += encryptedStateFirmwareProblems(d, objects: plan.objects) }
        let version = (qemuVersion ?? d.qemu.version).flatMap(QEMUVersion.init)
        problems += versionProblems(d, version: version)
        if missingFiles.allSatisfy({ $0.key != "igvm.file" }) {
            problems += igvmProblems(d, objects: plan?.objects ?? [], version: version ?? defaultQEMUVersion)
        }
        return problems
    }

    /// The QEMU an IGVM file is checked against when neither `qemu.version` nor
    /// `--qemu-version` names one: the newest release the project describes.
    public static let defaultQEMUVersion = QEMUVersion(major: 10, minor: 2, micro: 2)

    /// The IGVM file parsed as libigvm does and checked against what QEMU's loader does for
    /// the platform the definition runs as (the IGVM module's validator).
    static func igvmProblems(_ d: VMDefinition, objects: [QOMObject], version: QEMUVersion) -> [ConfigProblem] {
        guard case .igvm(let path) = d.boot else { return [] }
        func problem(_ level: Problem.Level, _ message: String) -> ConfigProblem {
            ConfigProblem(file: d.file, key: "igvm.file", message: message, level: level,
                          object: LaunchPlan.IDs.igvm, property: "file")
        }
        let file: IGVMFile
        do {
            file = try IGVMFile(bytes: InputFile.read(path, limit: InputFile.Limit.igvm), release: .v0_4_0)  // the libigvm QEMU 10.1/10.2 link
        } catch let error as InputFileError {
            return [problem(.qemu, error.description)]
        } catch {
            return [problem(.qemu, "QEMU's IGVM loader (libigvm) rejects \(JSONQuoted(path)): \(error)")]
        }
        let (platform, policy) = igvmTarget(d, objects: objects)
        // The digest QEMU + KVM will measure, so an SNP_ID_BLOCK whose LD differs is reported.
        let digest = platform == .sevSNP ? (try? LaunchDigest.igvm(file: file, cpus: d.qemu.cpus))?.qemu.bytes : nil
        // The machine's memory map decides where pages can go; other machine types or sizes
        // outside the map's range skip the placement rules.
        let map = MachineMemoryMap.Machine(machineType: d.qemu.machine).flatMap { MachineMemoryMap(machine: $0, ramSize: d.qemu.memory) }
        let validator = IGVMValidator(platform: platform, qemuVersion: version, vcpus: d.qemu.cpus, expectedPolicy: policy,
                                      expectedLaunchDigest: digest, memoryMap: map)
        // The version rules are reported once, by versionProblems, whether or not the file exists.
        return validator.validate(file).filter { $0.code != "qemu-version" }.map { p in
            let at = p.offset.map { " (offset 0x\(String($0, radix: 16)))" } ?? ""
            // The policy and the ID block are checked by the SEV firmware at launch, and a VMSA
            // count off the vCPU count breaks the launch digest; the rest QEMU's loader refuses.
            let level: Problem.Level = p.level == .warning ? .warning : (p.stage == .launch ? .launch : .qemu)
            return problem(level, "\(platform.name) on QEMU \(version): \(p.code): \(p.message)\(at)")
        }
    }

    /// The IGVM platform a definition runs as and the policy its confidential object sets.
    static func igvmTarget(_ d: VMDefinition, objects: [QOMObject]) -> (platform: IGVMPlatformType, policy: UInt64?) {
        for object in objects where object.id == d.confidential?.id {
            switch object {
            case .sevSnpGuest(let snp):
                return (.sevSNP, snp.effectivePolicy.rawValue)
            case .sevGuest(let sev):
                return (sev.effectivePolicy.contains(.encryptedState) ? .sevES : .sev, UInt64(sev.effectivePolicy.rawValue))
            default:
                break
            }
        }
        return (.native, nil)
    }

    /// The config key that set what a model problem is about, so messages point into the file.
    static func configKey(for p: Problem, in d: VMDefinition) -> String {
        let property = p.property.map { ".\($0)" } ?? ""
        if let c = d.confidential, p.object == c.id { return "confidential" + property }
        if let m = d.memoryBackend, p.object == m.id {
            return p.property == "size" ? "qemu.memory" : "memory-backend" + property
        }
        if p.object == LaunchPlan.IDs.igvm, case .igvm = d.boot { return "igvm" + (p.property == "file" ? ".file" : "") }
        if p.object == Machine.problemName {
            switch p.property {
            case "confidential-guest-support": return "confidential"
            case "igvm-cfg": return "igvm"
            case "memory-backend": return "memory-backend"
            case "pflash0", "pflash1": return "firmware.\(p.property!)"
            default: return "qemu.machine"
            }
        }
        return p.object + property
    }

    /// SEV guests need KVM; QEMU's own refusals under TCG, as QEMU 10.0 prints them.
    static func acceleratorProblems(_ d: VMDefinition) -> [ConfigProblem] {
        guard let c = d.confidential, c.type != .nocc, d.qemu.accel != "kvm" else { return [] }
        let qemuSays = c.type == .sevSNPGuest
            ? "cannot set up private guest memory for sev-snp-guest: KVM required"
            : "accelerator does not support confidential guest sev-guest"
        return [ConfigProblem(file: d.file, key: "qemu.accel",
            message: "\(c.type.rawValue) needs \"kvm\", got \(JSONQuoted(d.qemu.accel)) (QEMU: \(qemuSays))", level: .qemu)]
    }

    /// Files QEMU opens at start-up must exist and be readable.
    static func fileProblems(_ d: VMDefinition) -> [ConfigProblem] {
        var files: [(key: String, path: String)] = []
        switch d.boot {
        case .none: break
        case .bios(let p): files.append(("firmware.bios", p))
        case .pflash(let code, let vars):
            files.append(("firmware.pflash0", code))
            if let vars { files.append(("firmware.pflash1", vars)) }
        case .igvm(let p): files.append(("igvm.file", p))
        }
        if let k = d.kernel {
            files.append(("kernel.kernel", k.kernel))
            if let i = k.initrd { files.append(("kernel.initrd", i)) }
        }
        return files.compactMap { key, path in
            let limit = key.hasPrefix("kernel.") ? InputFile.Limit.kernel
                : key == "igvm.file" ? InputFile.Limit.igvm : InputFile.Limit.firmware
            guard let problem = InputFile.problem(path, limit: limit) else { return nil }
            let message = problem.isMissing ? "\(JSONQuoted(path)) does not exist" : "\(JSONQuoted(path)) \(problem.message)"
            return ConfigProblem(file: d.file, key: key, message: message, level: .qemu)
        }
    }

    /// SEV-ES and SEV-SNP start application processors at the EIP of OVMF's SEV-ES reset block;
    /// without the block `sev_es_save_reset_vector()` (target/i386/sev.c) fails and QEMU exits
    /// with "failed to locate and/or save reset vector" (`x86_firmware_configure()`,
    /// hw/i386/pc_sysfw.c). Checked on the firmware the
    /// definition boots by `-bios` or pflash (an IGVM file carries its own VMSAs).
    static func encryptedStateFirmwareProblems(_ d: VMDefinition, objects: [QOMObject]) -> [ConfigProblem] {
        let (key, path): (String, String)
        switch d.boot {
        case .bios(let p): (key, path) = ("firmware.bios", p)
        case .pflash(let code, _): (key, path) = ("firmware.pflash0", code)
        case .igvm, .none: return []
        }
        let platform = igvmTarget(d, objects: objects).platform
        guard platform == .sevES || platform == .sevSNP else { return [] }
        let image: OVMFImage
        do {
            image = try OVMFImage(bytes: InputFile.read(path, limit: InputFile.Limit.firmware))
        } catch {
            return [ConfigProblem(file: d.file, key: key, message: "\(JSONQuoted(path)) is not an OVMF image QEMU can start \(platform.name) from: \(error)", level: .qemu)]
        }
        guard image.sevESResetEIP != nil else {
            return [ConfigProblem(file: d.file, key: key,
                message: "\(JSONQuoted(path)) has no SEV-ES reset block (OVMF footer GUID \(OVMFGUID.sevESResetBlock)): QEMU cannot start \(platform.name) application processors and exits (\"failed to locate and/or save reset vector\")",
                level: .qemu)]
        }
        return []
    }

    /// What the targeted QEMU version lacks (igvm-cfg >= 10.1, native IGVM >= 10.2,
    /// sev-snp-guest >= 9.1; `nocc` only in a fork: docs/background.md, "The QEMU objects").
    static func versionProblems(_ d: VMDefinition, version: QEMUVersion?) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if d.confidential?.type == .nocc {
            problems.append(ConfigProblem(file: d.file, key: "confidential.type",
                message: "nocc exists only in a QEMU fork, not upstream QEMU: the binary must be probed for it", level: .warning))
        }
        guard let v = version else { return problems }
        func needs(_ key: String, _ what: String, _ minimum: QEMUVersion) {
            if v < minimum {
                problems.append(ConfigProblem(file: d.file, key: key,
                    message: "\(what) needs QEMU >= \(minimum), the target is \(v)", level: .qemu))
            }
        }
        if case .igvm = d.boot {
            needs("igvm", "igvm-cfg", QEMUVersion.igvmSupport)
            if d.confidential == nil { needs("igvm", "a native (non-confidential) IGVM guest", QEMUVersion.nativeIGVM) }
        }
        if d.confidential?.type == .sevSNPGuest { needs("confidential.type", "sev-snp-guest", QEMUVersion(major: 9, minor: 1)) }
        return problems
    }
}
