import ArgumentParser

/// `igvm-mgr`: manage QEMU confidential VMs (SEV, SEV-ES, SEV-SNP, IGVM).
@main
struct IGVMManager: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "igvm-mgr",
        abstract: "Manage QEMU confidential virtual machines (SEV, SEV-ES, SEV-SNP, IGVM).",
        subcommands: [
            StartCommand.self, StopCommand.self, DestroyCommand.self,
            ListCommand.self, StatusCommand.self, EventsCommand.self, LogsCommand.self, ConsoleCommand.self,
            CleanupCommand.self, SuperviseCommand.self,
            QMPShellCommand.self,
            CapsCommand.self,
            ArgsCommand.self,
            ValidateCommand.self,
            ObjectCommands.self,
            IGVMCommand.self,
            MeasureCommand.self,
            IDBlockCommand.self,
            AttestCommand.self,
        ]
    )
}
