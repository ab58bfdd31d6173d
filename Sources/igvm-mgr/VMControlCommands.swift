import ArgumentParser
import JSON
import Launch
import Supervisor
import FirmwareUpdate
import Lifecycle
import Definition
import VMState

/// `igvm-mgr start CONFIG`: launch a VM under its own supervisor.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start VMs from their definitions, each under a supervisor of its own.",
        discussion: """
            Checks the host first (e.g. sev-snp-guest needs /dev/sev and kvm_amd's sev_snp = Y), then \
            starts `igvm-mgr supervise NAME` detached, which launches QEMU with -S, connects QMP and \
            sends `cont`. Returns when the VM runs (--wait running), its monitor answers (--wait qmp) \
            or QEMU has been spawned (--wait none), printing the VM's name and QEMU's pid. If QEMU \
            fails during start-up, its own error lines are printed; if the supervisor dies before \
            the VM is ready, the QEMU it spawned is killed and the error says so.

            SIGTERM or SIGINT to the supervisor stops the VM (ACPI powerdown, --stop-timeout \
            seconds, then quit, SIGTERM, SIGKILL) and records it; a second one kills QEMU at once.

            Several definitions are all read and checked first (one that is unusable starts \
            none, as does a name two of them share), then started at the same time, each as if \
            it were alone; the results are printed in the order of the definitions (--json: one \
            document each), a VM that fails is one line on stderr naming it, and the exit status \
            is the highest of them.

            \(LifecycleHelp.exitCodes)
            """)

    @Argument(help: "The VM definitions (TOML): several are started at the same time, each as if alone.") var configs: [String]
    @Option(help: "The VM name (default: the definition's `name`; only with one definition).") var name: String?
    @Option(help: "What to wait for: running, qmp or none.") var wait: StartWait = .running
    @Option(help: ArgumentHelp("Seconds to wait (0.1 to 86400).", valueName: "seconds"),
            transform: NumericOption.seconds(0.1...NumericOption.longestWait))
    var timeout: Duration = .seconds(30)
    @Flag(help: "Leave the guest's CPUs stopped (no `cont`).") var paused = false
    @OptionGroup var stopTimeout: StopTimeoutOption
    @OptionGroup var output: OutputOptions
    @OptionGroup var state: StateDirectoryOption

    func validate() throws {
        guard !configs.isEmpty else { throw ValidationError("Missing expected argument '<configs> ...'") }
        guard name == nil || configs.count == 1 else { throw ValidationError("--name takes one definition, not \(configs.count)") }
    }

    func run() async throws {
        let directory = try state.resolve()
        // Every definition is read and checked before anything starts: a bad one starts none.
        var definitions: [VMDefinition] = []
        var status = ExitStatus.ok
        for config in configs {
            do { definitions.append(try DefinitionInput.loadValid(config)) } catch let code as ExitCode {
                if code.rawValue > status.rawValue { status = code }
            }
        }
        if status != ExitStatus.ok { throw status }
        let names = definitions.map { name ?? $0.name }
        if let twice = SeveralVMs.repeatedName(names) {
            Output.error("\(twice) is the name of more than one of the definitions")
            throw ExitStatus.usage
        }

        let start = VMStart(stateDirectory: directory, name: name, wait: wait, timeout: timeout, paused: paused, stopTimeout: stopTimeout.duration)
        let results = await SeveralVMs.allAtOnce(definitions) { try await start.run($0) }
        try SeveralVMs.report(names, results) { result in
            if output.json {
                Output.json(result.json)
            } else {
                Output.line("\(result.name) \(result.phase?.rawValue ?? result.milestone.rawValue) pid \(result.qemuPID.map(String.init) ?? "-") (supervisor \(result.supervisorPID))")
            }
        }
    }
}

/// One VM's start as `start` does it, the same for each of several definitions.
struct VMStart: Sendable {
    let stateDirectory: StateDirectory
    let name: String?
    let wait: StartWait
    let timeout: Duration
    let paused: Bool
    let stopTimeout: Duration?

    func run(_ definition: VMDefinition) async throws -> StartResult {
        // The host first: a host that cannot run the VM is told so before the launch digest
        // of its firmware is computed (the heavy part of building the launch).
        let plain = try QEMULaunch(definition: definition, name: name)
        try HostChecks.check(plain.requirements)
        var procedure = StartProcedure(stateDirectory: stateDirectory, supervisorExecutable: ownExecutable())
        // The reset/vmfwupdate flow: every start boots the provider firmware with the reset
        // policy and the interface's fw-cfg files; the binary's probe decides the IGVM offer.
        var igvmLoader: IGVMLoaderProbe?
        if VMFWUpdateSetup.applies(to: definition) {
            igvmLoader = try await procedure.igvmLoader(binary: plain.binary, machine: definition.qemu.machine)
        }
        var launch = try QEMULaunch.forStart(definition: definition, name: name, stateDirectory: stateDirectory, igvmLoader: igvmLoader)
        launch.startPaused = paused
        procedure.signalStopTimeout = stopTimeout
        return try await procedure.start(launch, definitionText: definition.sourceText, wait: wait, timeout: timeout)
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

            Several names are stopped at the same time, each as if it were alone; the reports \
            are printed in the order of the names (--json: one document each), a VM that fails \
            is one line on stderr naming it, and the exit status is the highest of them.

            \(LifecycleHelp.exitCodes)
            """)

    @Argument(help: "The VMs' names: several are stopped at the same time, each as if alone.") var names: [String]
    @Option(help: "The first step: acpi, quit, or force (SIGKILL at once, as --force).") var mode: StopMode = .acpi
    @Option(help: ArgumentHelp("Seconds to wait after the first step (0 to 86400).", valueName: "seconds"),
            transform: NumericOption.seconds(0...NumericOption.longestWait))
    var timeout: Duration = .seconds(30)
    @Flag(help: "Skip to SIGKILL.") var force = false
    @OptionGroup var output: OutputOptions
    @OptionGroup var state: StateDirectoryOption

    func validate() throws { try StopText.validate(names) }

    func run() async throws {
        let lifecycle = try state.lifecycle()
        let mode = force ? .force : mode, timeout = timeout
        try await StopText.print(verb: "stopped", names, output) { name throws(LifecycleError) in
            try await lifecycle.stop(name, mode: mode, timeout: timeout)
        }
    }
}

/// `igvm-mgr destroy NAME`.
struct DestroyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Kill a VM at once (SIGKILL) if it runs and remove its state folder.",
        discussion: """
            Several names are destroyed at the same time, reported as `stop` reports several.

            \(LifecycleHelp.exitCodes)
            """)

    @Argument(help: "The VMs' names: several are destroyed at the same time.") var names: [String]
    @OptionGroup var output: OutputOptions
    @OptionGroup var state: StateDirectoryOption

    func validate() throws { try StopText.validate(names) }

    func run() async throws {
        let lifecycle = try state.lifecycle()
        try await StopText.print(verb: "destroyed", names, output) { name throws(LifecycleError) in try await lifecycle.destroy(name) }
    }
}

enum StopText {
    /// At least one name, none twice (two stops of one VM at once would race each other).
    static func validate(_ names: [String]) throws {
        guard !names.isEmpty else { throw ValidationError("Missing expected argument '<names> ...'") }
        if let twice = SeveralVMs.repeatedName(names) { throw ValidationError("\(twice) is named twice") }
    }

    /// Runs `stop` (a stop or destroy) for every name at the same time and prints the reports
    /// in the order of the names, each as a lone stop prints it (`--json`: one document each).
    static func print(verb: String, _ names: [String], _ output: OutputOptions,
                      _ stop: @escaping @Sendable (String) async throws(LifecycleError) -> Lifecycle.StopReport) async throws {
        let results = await SeveralVMs.allAtOnce(names) { try await stop($0) }
        try SeveralVMs.report(names, results) { report in
            if output.json { Output.json(report.json) } else { Output.line(describe(report, verb: verb)) }
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
