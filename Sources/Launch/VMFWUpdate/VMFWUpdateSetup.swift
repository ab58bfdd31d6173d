import Foundation
import IGVM
import JSON

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

    /// The setup for `definition`, or nil when the VM needs neither the interface nor the
    /// relaunch-on-reset policy (an ordinary guest without `[vmfwupdate] enabled`).
    public init?(definition: VMDefinition, name: String?, paths: VMPaths) throws {
        guard definition.vmfwupdate.enabled || !Self.canResetInPlace(definition) else { return nil }
        self.definition = definition
        self.name = name ?? definition.name
        basePlan = try LaunchPlan(definition: definition, qmpSocket: nil)
        folder = paths.folder + "/vmfwupdate"
        memory = try GuestMemoryMap(machine: definition.qemu.machine, ramSize: definition.qemu.memory)
        var romSize: UInt64 = 0
        switch definition.boot {
        case .bios(let path), .pflash(let path, _):
            romSize = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
        case .igvm, .none:
            break
        }
        // IGVM images only where the config names a QEMU with an IGVM loader (`qemu.version`
        // ≥ 10.1): QEMU 10.0 has no igvm-cfg, so the relaunch would fail.
        var formats: Set<FirmwareImageFormat> = romSize > 0 ? [.platformROM] : []
        let version = definition.qemu.version.flatMap(QEMUVersion.init)
        if let version, version >= QEMUVersion.igvmSupport {
            formats.insert(.igvm)
            let target = ConfigValidation.igvmTarget(definition, objects: basePlan.objects)
            imageCheck = IGVMImageCheck(platform: target.platform, qemuVersion: version, vcpus: definition.qemu.cpus,
                                        expectedPolicy: target.policy)
        } else {
            imageCheck = nil
        }
        offer = VMFWUpdateOffer(formats: formats, firmwareROMSize: romSize)
        if definition.vmfwupdate.enabled, let gpa = definition.vmfwupdate.mailbox {
            guard let range = GuestPhysicalRange(start: gpa, length: UInt64(VMFWUpdateMailbox.length)),
                  memory.containsRAM(range)
            else {
                throw LifecycleError.invalidInput("\(definition.file): vmfwupdate.mailbox 0x\(hex(gpa)) is not inside guest RAM")
            }
            mailboxGPA = gpa
        } else if definition.vmfwupdate.enabled {
            throw LifecycleError.invalidInput("\(definition.file): vmfwupdate.enabled needs vmfwupdate.mailbox (a guest-physical address) with this QEMU, which has no vmfwupdate device")
        } else {
            mailboxGPA = nil
        }
    }

    /// QEMU cannot reset `sev-guest` / `sev-snp-guest` in place (their launch state cannot be
    /// rebuilt: `cpus_are_resettable()` is false, system/runstate.c), and `nocc` reloads no
    /// memory from the IGVM file on reset, so a reset would run a guest the IGVM file does not
    /// describe: every confidential type is relaunched, only an ordinary guest resets in place.
    public static func canResetInPlace(_ definition: VMDefinition) -> Bool {
        switch definition.confidential?.type {
        case .sevGuest, .sevSNPGuest, .nocc: false
        case nil: true
        }
    }

    /// The setup for a supervised launch, from the definition file it came from.
    public static func load(for launch: QEMULaunch, paths: VMPaths) throws -> VMFWUpdateSetup? {
        guard let source = launch.definitionSource else { return nil }
        return try VMFWUpdateSetup(definition: VMDefinition.load(path: source), name: launch.name, paths: paths)
    }

    /// A new flow for a `start` (the provider's firmware).
    public func makeFlow() -> FirmwareUpdateFlow {
        FirmwareUpdateFlow(canResetInPlace: Self.canResetInPlace(definition), interfaceEnabled: mailboxGPA != nil,
                           validator: FirmwareUpdateRequestValidator(offer: offer, memory: memory), imageChecker: imageCheck)
    }

    /// The executor of this VM's flow: images go to `imageStore`, measured for the relaunch.
    public func makeExecutor() -> FirmwareUpdateExecutor {
        FirmwareUpdateExecutor(store: imageStore, measure: { [definition] stored in
            definition.expectedLaunchMeasurement(booting: stored.bootSource)
        })
    }

    /// Writes the interface's read-only fw-cfg files (whole) and returns them for the plan.
    public func writeInterfaceFiles() throws -> [(name: String, path: String)] {
        guard let mailboxGPA else { return [] }
        try StateDirectory.makeFolder((folder as NSString).deletingLastPathComponent, mode: 0o700)
        return try VMFWUpdateFwCfg.write(VMFWUpdateFwCfg.files(mailboxGPA: mailboxGPA, offer: offer), into: folder)
    }

    /// The launch of instance `number` of this start, booting `firmware`.
    public func launch(booting firmware: FirmwareInUse, number: Int, startPaused: Bool = false) throws -> QEMULaunch {
        let plan = basePlan.forInstance(booting: firmware, interfaceFiles: try writeInterfaceFiles(), launchNumber: number)
        var launch = QEMULaunch(plan: plan, definition: definition, name: name)
        launch.startPaused = startPaused
        switch firmware {
        case .provider:
            launch.launchMeasurement = definition.expectedLaunchMeasurement()
        case .guestSupplied(let stored):
            launch.firmware = stored.imagePath
            launch.launchMeasurement = stored.launchMeasurement  // measured when it was stored
        }
        return launch
    }

    /// Where guest-supplied images are stored.
    public var imageStore: FirmwareImageStore { FirmwareImageStore(directory: folder + "/images") }
}

extension FirmwareUpdateFlow {
    /// The flow's record in `state.json` (`vmfwupdate`): phase, firmware, counters.
    public var stateJSON: JSON {
        var object: JSONObject = [
            "phase": .string(phase.name), "firmware": firmware.json, "updates": JSON(updates),
            "relaunches": JSON(relaunches), "resets": JSON(resets),
        ]
        switch phase {
        case .quitting(let next, _), .launching(let next, _): object["next-firmware"] = next.json
        case .failed(let reason): object["error"] = .string(reason)
        default: break
        }
        return .object(object)
    }
}
