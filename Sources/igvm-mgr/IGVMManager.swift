import ArgumentParser

/// `igvm-mgr`: manage QEMU confidential VMs (SEV, SEV-ES, SEV-SNP, IGVM).
@main
struct IGVMManager: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "igvm-mgr",
        abstract: "Manage QEMU confidential virtual machines (SEV, SEV-ES, SEV-SNP, IGVM).",
        subcommands: [
            ArgsCommand.self,
            ValidateCommand.self,
            ObjectCommands.self,
            IGVMCommand.self,
            MeasureCommand.self,
            IDBlockCommand.self,
        ]
    )
}
