import Launch
import ObjectModel
import VMState
import Definition

extension QEMULaunch {
    /// `forStart` with the VM's folder in `stateDirectory` (created, private, only when files
    /// are written).
    public static func forStart(definition: VMDefinition, name: String?, stateDirectory: StateDirectory,
                                writeFiles: Bool = true, objectForm: CommandLineForm = .json,
                                igvmLoader: IGVMLoaderProbe? = nil) throws -> QEMULaunch {
        try forStart(definition: definition, name: name, vmFolder: { try stateDirectory.vm($0).folder },
                     prepareFolder: { try stateDirectory.create() }, writeFiles: writeFiles, objectForm: objectForm,
                     igvmLoader: igvmLoader)
    }
}
