import ArgumentParser
import JSON
import Launch
import Supervisor
import FirmwareUpdate
import Lifecycle

/// `igvm-mgr start CONFIG`: launch a VM under its own supervisor.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a VM from its definition under a per-VM supervisor.",
        discussion: """
            Checks the host first (e.g. sev-snp-guest needs /dev/sev and kvm_amd's sev_snp = Y), then \
            starts `igvm-mgr supervise NAME` detached, which launches QEMU with -S, connects QMP and \
            sends `cont`. Returns when the VM runs (--wait running), its monitor answers (--wait qmp) \
            or QEMU has been spawned (--wait none), printing the VM's name and QEMU's pid. If QEMU \
            fails during start-up, its own error lines are printed; if the supervisor dies before \
            the VM is ready, the QEMU it spawned is killed and the error says so.

            SIGTERM or SIGINT to the supervisor stops the VM (ACPI powerdown, --stop-timeout \
            seconds, then quit, SIGTERM, SIGKILL) and records it; a second one kills QEMU at once.

            \(LifecycleHelp.exitCodes)
            """)

    @Argument(help: "The VM definition (TOML).") var config: String
    @Option(help: "The VM name (default: the definition's `name`).") var name: String?
    @Option(help: "What to wait for: running, qmp or none.") var wait: StartWait = .running
    @Option(help: ArgumentHelp("Seconds to wait (0.1 to 86400).", valueName: "seconds"),
            transform: NumericOption.seconds(0.1...NumericOption.longestWait))
    var timeout: Duration = .seconds(30)
    @Flag(help: "Leave the guest's CPUs stopped (no `cont`).") var paused = false
    @OptionGroup var stopTimeout: StopTimeoutOption
    @OptionGroup var output: OutputOptions
    @OptionGroup var state: StateDirectoryOption

    func run() async throws {
        let directory = try state.resolve()
        let definition = try DefinitionInput.loadValid(config)
        do {
            // The host first: a host that cannot run the VM is told so before the launch digest
            // of its firmware is computed (the heavy part of building the launch).
            let plain = try QEMULaunch(definition: definition, name: name)
            try HostChecks.check(plain.requirements)
            var procedure = StartProcedure(stateDirectory: directory, supervisorExecutable: ownExecutable())
            // The reset/vmfwupdate flow: every start boots the provider firmware with the reset
            // policy and the interface's fw-cfg files; the binary's probe decides the IGVM offer.
            var igvmLoader: IGVMLoaderProbe?
            if VMFWUpdateSetup.applies(to: definition) {
                igvmLoader = try await procedure.igvmLoader(binary: plain.binary, machine: definition.qemu.machine)
            }
            var launch = try QEMULaunch.forStart(definition: definition, name: name, stateDirectory: directory, igvmLoader: igvmLoader)
            launch.startPaused = paused
            procedure.signalStopTimeout = stopTimeout.duration
            let result = try await procedure.start(launch, definitionText: definition.sourceText, wait: wait, timeout: timeout)
            if output.json {
                Output.json(result.json)
            } else {
                Output.line("\(result.name) \(result.phase?.rawValue ?? result.milestone.rawValue) pid \(result.qemuPID.map(String.init) ?? "-") (supervisor \(result.supervisorPID))")
            }
        } catch {
            throw failure(error)
        }
    }
}

extension StartWait: ExpressibleByArgument {}
extension StopMode: ExpressibleByArgument {}

/// `igvm-mgr stop NAME`.
struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop a VM: ACPI powerdown, then quit, then SIGTERM, then SIGKILL.",
        discussion: """
            Each step waits for QEMU to exit before the next: --timeout seconds after the ACPI \
            powerdown (or after `quit` with --mode quit), 5 s after quit and SIGTERM. A guest \
            halted or started paused, or one without ACPI, never powers down: the escalation \
            ends it. Prints which step ended it ("other": QEMU ended during the stop by \
            something else, e.g. an outside kill -9). --force goes straight to SIGKILL. Works \
            also when the supervisor is gone, stopped, still starting, or its control socket was \
            deleted: QEMU's own monitor and then signals to its recorded, start-time-checked pid \
            are used, an unresponsive supervisor is ended, and the VM's record is settled. A stop \
            whose record cannot be written is an error (exit 1).

            \(LifecycleHelp.exitCodes)
            """)

    @Argument(help: "The VM name.") var name: String
    @Option(help: "The first step: acpi, quit, or force (SIGKILL at once, as --force).") var mode: StopMode = .acpi
    @Option(help: ArgumentHelp("Seconds to wait after the first step (0 to 86400).", valueName: "seconds"),
            transform: NumericOption.seconds(0...NumericOption.longestWait))
    var timeout: Duration = .seconds(30)
    @Flag(help: "Skip to SIGKILL.") var force = false
    @OptionGroup var output: OutputOptions
    @OptionGroup var state: StateDirectoryOption

    func run() async throws {
        let lifecycle = try state.lifecycle()
        try await StopText.print(verb: "stopped", output) {
            try await lifecycle.stop(name, mode: force ? .force : mode, timeout: timeout)
        }
    }
}

/// `igvm-mgr destroy NAME`.
struct DestroyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Kill a VM at once (SIGKILL) if it runs and remove its state folder.",
        discussion: LifecycleHelp.exitCodes)

    @Argument(help: "The VM name.") var name: String
    @OptionGroup var output: OutputOptions
    @OptionGroup var state: StateDirectoryOption

    func run() async throws {
        let lifecycle = try state.lifecycle()
        try await StopText.print(verb: "destroyed", output) { try await lifecycle.destroy(name) }
    }
}

enum StopText {
    /// Runs `stop` (a stop or destroy) and prints its report; a failure is reported and ends the command.
    static func print(verb: String, _ output: OutputOptions, _ stop: () async throws -> Lifecycle.StopReport) async throws {
        do {
            let report = try await stop()
            if output.json { Output.json(report.json) } else { Output.line(describe(report, verb: verb)) }
        } catch {
            throw failure(error)
        }
    }

    static func describe(_ report: Lifecycle.StopReport, verb: String) -> String {
        guard let outcome = report.outcome else {
            return "\(report.name) was not running" + (report.removed ? "; state removed" : "")
        }
        var text = "\(report.name) \(verb): ended by \(outcome.step.rawValue)"
        if outcome.attempted.count > 1 { text += " (tried \(outcome.attempted.joined(separator: ", ")))" }
        if let exit = report.exit { text += "; QEMU \(exit.termination)" }
        return text
    }
}
