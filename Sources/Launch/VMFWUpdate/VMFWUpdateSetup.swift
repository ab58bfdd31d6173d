import Definition
import FileAccess
import Foundation
import Numerals
import IGVM
import JSON
import ObjectModel

/// Everything the reset policy and the vmfwupdate flow need about one VM, derived from its
/// definition: the base launch plan, the interface's fw-cfg files, the mailbox and the offer.
public struct VMFWUpdateSetup: Sendable {
    public let name: String
    public let definition: VMDefinition
    /// The plan of the definition as written (provider firmware, no flow options yet).
    public let basePlan: LaunchPlan
    /// The VM's folder for the interface files and stored images (`STATE/NAME/vmfwupdate`).
    public let folder: String
    /// nil when the interface is off: resets are still handled (confidential guests relaunch).
    public let mailboxGPA: UInt64?
    public let offer: VMFWUpdateOffer
    public let memory: GuestMemoryMap
    /// The IGVM check when IGVM images are offered.
    public let imageCheck: IGVMImageCheck?
    /// What `start` found in the binary's probe (nil without a probe: `validate`, `args`).
    public let igvmLoader: IGVMLoaderProbe?

    /// The setup for `definition`, or nil when the VM needs neither the interface nor the
    /// relaunch-on-reset policy (an ordinary guest without `[vmfwupdate] enabled`).
    ///
    /// - Parameter igvmLoader: the binary's probe, which decides whether IGVM images are offered;
    ///   nil (no probe: `validate`, `args`) lets `qemu.version` ≥ 10.1 decide as the declared target.
    /// - Throws: `LifecycleError.invalidInput` with the first of `problems(definition)`; `validate`
    ///   and `args` report the same problems, so a definition they accept never fails here.
    public init?(definition: VMDefinition, name: String?, vmFolder: String,
                 igvmLoader: IGVMLoaderProbe? = nil) throws(LifecycleError) {
        guard Self.applies(to: definition) else { return nil }
        if let first = Self.problems(definition).first {
            throw LifecycleError.invalidInput(first.description)
        }
        let definition = definition.named(name)
        self.definition = definition
        self.name = definition.name
        do { basePlan = try LaunchPlan(definition: definition, qmpSocket: nil) } catch {
            throw .invalidInput(error.problems.map(\.description).joined(separator: "\n"))
        }
        folder = vmFolder + "/vmfwupdate"
        do { memory = try GuestMemoryMap(machine: definition.qemu.machine, ramSize: definition.qemu.memory) } catch {
            throw .invalidInput("\(error)")
        }
        let romSize = Self.firmwareROMSize(definition)
        // IGVM images only where QEMU has an IGVM loader (`igvm-cfg`, QEMU 10.1 built with
        // IGVM support): the relaunch on such an image needs it. The probe of the binary decides
        // when `start` made one; otherwise the config's `qemu.version` is the declared target.
        var formats: Set<FirmwareImageFormat> = romSize > 0 ? [.platformROM] : []
        let loaderVersion: QEMUVersion? = if let igvmLoader {
            igvmLoader.hasIGVMCfg ? igvmLoader.checkedVersion : nil
        } else {
            definition.qemu.version.flatMap(QEMUVersion.init).flatMap { $0 >= QEMUVersion.igvmSupport ? $0 : nil }
        }
        if let loaderVersion {
            formats.insert(.igvm)
            let target = ConfigValidation.igvmTarget(definition, objects: basePlan.objects)
            imageCheck = IGVMImageCheck(platform: target.platform, qemuVersion: loaderVersion, vcpus: definition.qemu.cpus,
                                        expectedPolicy: target.policy)
        } else {
            imageCheck = nil
        }
        self.igvmLoader = igvmLoader
        offer = VMFWUpdateOffer(formats: formats, firmwareROMSize: romSize)
        mailboxGPA = definition.vmfwupdate.enabled ? definition.vmfwupdate.mailbox : nil
    }

    /// Whether a supervised launch of `definition` goes through this setup: the interface is
    /// enabled, or the guest cannot be reset in place and every reset is a relaunch.
    public static func applies(to definition: VMDefinition) -> Bool {
        definition.vmfwupdate.enabled || !canResetInPlace(definition)
    }

    /// Why the reset flow cannot run `definition` (empty when it can, or when it does not apply):
    /// a guest RAM layout the flow cannot model, an interface without a channel, a mailbox
    /// outside RAM.
    public static func problems(_ definition: VMDefinition) -> [ConfigProblem] {
        guard applies(to: definition) else { return [] }
        let file = definition.file
        let memory: GuestMemoryMap
        do {
            memory = try GuestMemoryMap(machine: definition.qemu.machine, ramSize: definition.qemu.memory)
        } catch {
            let key = if case .unsupportedMachine = error { "qemu.machine" } else { "qemu.memory" }
            return [ConfigProblem(file: file, key: key, message: "\(error) (needed for the relaunch-on-reset flow)")]
        }
        guard definition.vmfwupdate.enabled else { return [] }
        guard let gpa = definition.vmfwupdate.mailbox else {
            return [ConfigProblem(file: file, key: "vmfwupdate.mailbox",
                message: "vmfwupdate.enabled needs vmfwupdate.mailbox (a guest-physical address): QEMU has no vmfwupdate device, so the request is read from guest memory")]
        }
        guard let range = GuestPhysicalRange(start: gpa, length: UInt64(VMFWUpdateMailbox.length)), memory.containsRAM(range) else {
            return [ConfigProblem(file: file, key: "vmfwupdate.mailbox",
                message: "\(hex(gpa, uppercase: false)) is not inside guest RAM (\(VMFWUpdateMailbox.length) bytes from it must be plain RAM of the \(definition.qemu.memory)-byte \(definition.qemu.machine) layout)")]
        }
        return []
    }

    /// The size of the platform ROM the config boots (0 for IGVM or none), offered to the guest.
    static func firmwareROMSize(_ definition: VMDefinition) -> UInt64 {
        switch definition.boot {
        case .bios(let path), .pflash(let path, _):
            return ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
        case .igvm, .none:
            return 0
        }
    }

    /// Every confidential type is relaunched rather than reset in place; only an ordinary guest
    /// resets in place. QEMU refuses to reset SEV-ES and SEV-SNP guests ("sev/i386: Don't allow
    /// a system reset under an SEV-ES guest"; today `kvm_cpus_are_resettable()` in
    /// `accel/kvm/kvm-accel-ops.c`), a new firmware needs a fresh launch context anyway, and
    /// `nocc` reloads no memory from the IGVM file on reset, so a reset would run a guest the
    /// IGVM file does not describe. See docs/background.md, "`sev-guest`".
    public static func canResetInPlace(_ definition: VMDefinition) -> Bool {
        switch definition.confidential?.type {
        case .sevGuest, .sevSNPGuest, .nocc: false
        case nil: true
        }
    }

    /// The interface's read-only fw-cfg files for the plan; written (whole) only when `write`
    /// is true, so `args` can show the exact argv without touching the state folder.
    public func interfaceFiles(write: Bool = true) throws -> [(name: String, path: String)] {
        guard let mailboxGPA else { return [] }
        let files = VMFWUpdateFwCfg.files(mailboxGPA: mailboxGPA, offer: offer)
        guard write else { return VMFWUpdateFwCfg.paths(files, in: folder) }
        try Folder.make((folder as NSString).deletingLastPathComponent, mode: 0o700)
        return try VMFWUpdateFwCfg.write(files, into: folder)
    }

    /// Guest RAM in the VM's folder when the interface is on and the config names no memory
    /// backend of its own, so that memory survives the relaunch of an update.
    public var ramFile: GuestRAMFile? {
        guard mailboxGPA != nil, basePlan.machine.memoryBackend == nil else { return nil }
        return GuestRAMFile(path: folder + "/guest-ram", memory: memory, size: definition.qemu.memory)
    }

    /// The mailbox the manager writes before the guest first runs.
    public var initialMailbox: VMFWUpdateMailbox { VMFWUpdateMailbox().afterReset(offer: offer) }

    /// The launch of instance `number` of this start, booting `firmware`; `writeFiles: false`
    /// computes the same launch without writing the interface files (`args`). Instance 1 gets
    /// fresh guest RAM; later instances map what the previous one left.
    public func launch(booting firmware: FirmwareInUse, number: Int, startPaused: Bool = false, writeFiles: Bool = true,
                       objectForm: CommandLineForm = .json) throws -> QEMULaunch {
        var plan = basePlan.forInstance(booting: firmware, interfaceFiles: try interfaceFiles(write: writeFiles), launchNumber: number)
        plan.objectForm = objectForm
        if let ramFile {
            plan.objects.insert(ramFile.backendObject, at: 0)
            plan.machine.memoryBackend = GuestRAMFile.backendID
            if writeFiles && number == 1, let mailboxGPA {
                try ramFile.createAfresh()
                try ramFile.write(initialMailbox.encoded(), at: mailboxGPA)
            }
        }
        if writeFiles { Self.markConsoles(plan.consoles, number: number, firmware: firmware) }
        var launch = QEMULaunch(plan: plan, definition: definition, name: name)
        launch.startPaused = startPaused
        launch.resetFlow?.igvmLoader = igvmLoader  // the supervisor offers what `start` decided
        switch firmware {
        case .provider:
            launch.launchMeasurement = definition.expectedLaunchMeasurement()
        case .guestSupplied(let stored):
            launch.firmware = stored.imagePath
            launch.launchMeasurement = stored.launchMeasurement  // measured when it was stored
        }
        return launch
    }
}

extension VMFWUpdateSetup {
    /// The line each console log gets before instance `number` writes to it (the consoles are
    /// opened with `append=on`, so every run's output stays, one marker line before each).
    public static func consoleMarker(number: Int, firmware: FirmwareInUse) -> String {
        let reason = switch (number, firmware) {
        case (1, _): "start"
        case (_, .guestSupplied): "vmfwupdate"
        case (_, .provider): "reboot"
        }
        return number == 1 ? "--- igvm-mgr: launch 1 (\(reason)) ---\n" : "--- igvm-mgr: relaunch \(number) (\(reason)) ---\n"
    }

    static func markConsoles(_ consoles: [FileConsole], number: Int, firmware: FirmwareInUse) {
        let line = Array(consoleMarker(number: number, firmware: firmware).utf8)
        for console in consoles {
            let fd = open(console.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { continue }  // QEMU reports an unusable console path itself
            try? FileDescriptorIO.writeAll(fd, line, subject: console.path)
            close(fd)
        }
    }
}
