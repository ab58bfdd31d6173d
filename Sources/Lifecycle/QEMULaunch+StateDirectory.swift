import Launch
import ObjectModel
import VMState
import Definition
import FileAccess
import JSON

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

    /// The launch plan `start` recorded in the VM's folder (`plan.json`); nil when there is none.
    static func recorded(in paths: VMPaths) throws -> QEMULaunch? {
        guard let bytes = try FileDescriptorIO.readFile(paths.plan) else { return nil }
        return try QEMULaunch(json: try JSON.decode(bytes: bytes))
    }
}
