import ArgumentParser
import JSON
import Launch
import Supervisor
import FirmwareUpdate
import Lifecycle

/// `igvm-mgr cleanup`.
struct CleanupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Settle VMs whose processes are gone: record lost runs, stop QEMUs left without a supervisor, remove stale sockets and pid files.",
        discussion: """
            VMs whose supervisor runs are left alone. Each action is reported on one line.

            \(LifecycleHelp.exitCodes)
            """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var state: StateDirectoryOption

    func run() async throws {
        let actions = await (try state.lifecycle()).cleanup()
        if output.json {
            Output.json(.array(actions.map(\.json)))
        } else if actions.isEmpty {
            Output.line("nothing to clean up")
        } else {
            for action in actions { Output.line("\(action.name): \(action.action)") }
        }
    }
}

/// `igvm-mgr supervise NAME`: the supervisor process (started by `start`).
struct SuperviseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervise",
        abstract: "Run a VM's supervisor in the foreground (normally started by `start`).",
        discussion: """
            Reads STATE_DIR/NAME/plan.json, launches QEMU as its child, serves the control socket \
            and records how QEMU ended. SIGTERM or SIGINT stops the VM (ACPI powerdown, waiting \
            --stop-timeout seconds, then quit, SIGTERM, SIGKILL) and records it; a second one \
            kills QEMU at once. Exit status: 0 QEMU ended because it was asked to (stop, guest \
            power-off, signal); 1 QEMU ended unexpectedly (crash, signal); 2 the launch failed.
            """)

    @Argument(help: "The VM name.") var name: String
    @Option(help: ArgumentHelp("The inherited descriptor holding the VM's lock (set by `start`).", visibility: .hidden)) var lockFd: Int32?
    @Option(help: ArgumentHelp("The inherited readiness pipe (set by `start`).", visibility: .hidden)) var readinessFd: Int32?
    @OptionGroup var stopTimeout: StopTimeoutOption
    @Option(help: "The largest QMP message the control socket takes, in bytes (1024...67108864; default 262144).")
    var maxCommandBytes: Int = Supervisor.defaultControlMessageLimit
    @OptionGroup var state: StateDirectoryOption

    func validate() throws {
        guard (1024...64 * 1024 * 1024).contains(maxCommandBytes) else {
            throw ValidationError("--max-command-bytes must be between 1024 and 67108864")
        }
    }

    func run() async throws {
        let directory = try state.resolve()
        let status = await SupervisorEntry.run(
            name: name, stateDirectory: directory, lockDescriptor: lockFd, readinessDescriptor: readinessFd,
            signalStopTimeout: stopTimeout.value, controlMessageLimit: maxCommandBytes)
        if status != 0 { throw ExitCode(status) }
    }
}
