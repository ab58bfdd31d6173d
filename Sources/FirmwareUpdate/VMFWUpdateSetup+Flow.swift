import VMState
import Definition
import JSON
import Launch

extension VMFWUpdateSetup {
    /// The setup a supervised launch asks for in its plan (`QEMULaunch.resetFlow`), or nil when
    /// the plan has none (QEMU's own reset stands). A plan whose flow cannot be set up is an
    /// error: the VM must not run without the policy its definition asked for.
    public static func forPlan(_ launch: QEMULaunch, vmFolder: String) throws(LifecycleError) -> VMFWUpdateSetup? {
        guard let source = launch.resetFlow else { return nil }
        let definition: VMDefinition
        do { definition = try source.definition() } catch {
            throw .invalidInput("the reset flow's definition in the launch plan is not valid: \(error.problems.first?.description ?? "\(error)")")
        }
        guard let setup = try VMFWUpdateSetup(definition: definition, name: launch.name, vmFolder: vmFolder,
                                             igvmLoader: source.igvmLoader) else {
            throw .invalidInput("the launch plan asks for a reset flow, but its definition (\(source.definitionFile)) needs none")
        }
        return setup
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

    /// Where guest-supplied images are stored.
    public var imageStore: FirmwareImageStore { FirmwareImageStore(directory: folder + "/images") }
}

extension FirmwareUpdateFlow {
    /// The flow's record in `state.json` (`vmfwupdate`): phase, firmware, counters.
    public var record: FirmwareUpdateRecord {
        var record = FirmwareUpdateRecord(phase: phase.recorded, firmware: firmware, updates: updates, relaunches: relaunches, resets: resets)
        switch phase {
        case .quitting(let next, _), .launching(let next, _): record.nextFirmware = next
        case .failed(let reason): record.error = reason
        default: break
        }
        return record
    }
}
