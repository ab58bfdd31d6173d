import Definition
import FileAccess
import ObjectModel

extension QEMULaunch {
    /// The launch of a loaded VM definition (`name` overrides the definition's), through the
    /// config's launch plan. The supervisor supplies the monitor and `-S` itself.
    public init(definition: VMDefinition, name: String?, objectForm: CommandLineForm = .json) throws(LifecycleError) {
        let definition = definition.named(name)
        var plan: LaunchPlan
        do {
            plan = try LaunchPlan(definition: definition, qmpSocket: nil)
            plan.objectForm = objectForm
        } catch {
            throw .invalidInput(error.problems.map(\.description).joined(separator: "\n"))
        }
        self.init(plan: plan, definition: definition, name: name)
    }

    /// What `start` launches first: the provider firmware, through the reset/vmfwupdate flow's
    /// setup when the VM needs it (which writes the interface's fw-cfg files into its folder).
    /// `args` asks for the same launch with `writeFiles: false`: the argv is identical, and
    /// nothing is written.
    ///
    /// - Parameters:
    ///   - vmFolder: the VM's folder in the state directory for the given name (where the
    ///     interface's files go); `prepareFolder` runs before anything is written there.
    ///   - igvmLoader: the binary's probe (`start`), kept in the plan for the supervisor.
    public static func forStart(definition: VMDefinition, name: String?, vmFolder: (String) throws -> String,
                                prepareFolder: () throws -> Void = {}, writeFiles: Bool = true,
                                objectForm: CommandLineForm = .json, igvmLoader: IGVMLoaderProbe? = nil) throws -> QEMULaunch {
        let launch = try QEMULaunch(definition: definition, name: name, objectForm: objectForm)  // reports the plan's problems
        guard let setup = try VMFWUpdateSetup(definition: definition, name: name, vmFolder: try vmFolder(launch.name),
                                              igvmLoader: igvmLoader) else {
            return launch
        }
        if writeFiles { try prepareFolder() }
        return try setup.launch(booting: .provider, number: 1, writeFiles: writeFiles, objectForm: objectForm)
    }

    /// The launch of `plan` (e.g. one the vmfwupdate flow changed) for `definition`.
    public init(plan: LaunchPlan, definition: VMDefinition, name: String? = nil) {
        var plan = plan
        plan.qmpSocket = nil       // the supervisor hands QEMU a listening descriptor instead
        plan.startPaused = false   // the supervisor adds -S and decides about `cont`
        let firmware: String?
        switch definition.boot {
        case .none: firmware = nil
        case .bios(let path): firmware = plan.bios ?? path
        case .pflash(let code, _): firmware = code
        case .igvm(let file): firmware = file
        }
        self.init(
            name: name ?? definition.name, binary: plan.binary, arguments: plan.arguments,
            requirements: HostRequirements(accelerator: plan.accel, confidentialType: definition.confidential?.type.rawValue,
                                           encryptedState: ConfigValidation.igvmTarget(definition, objects: plan.objects).platform == .sevES,
                                           vsockGuestCID: definition.vsock?.guestCID),
            firmware: firmware, definitionSource: Folder.absolute(definition.file))
        self.plan = plan
        console = definition.console != nil
        devices = GuestDevicePlan.summary(definition)
        if VMFWUpdateSetup.applies(to: definition), let text = definition.sourceText {
            resetFlow = ResetFlowSource(definitionFile: Folder.absolute(definition.file), definitionText: text)
        }
    }
}

extension VMDefinition {
    /// This definition as the VM `name` runs it (`start --name`): what derives from the VM's
    /// name, such as its NICs' default MAC addresses, follows the name in use, so two VMs started
    /// from one file under different names never share an address.
    public func named(_ name: String?) -> VMDefinition {
        guard let name else { return self }
        var named = self
        named.name = name
        return named
    }
}
