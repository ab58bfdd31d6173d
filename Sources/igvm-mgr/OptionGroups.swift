import ArgumentParser
import Lifecycle
import Supervisor

/// What `--json`'s help says for a command: "Print JSON." (`PlainJSON`) unless the command says
/// what its JSON holds.
protocol JSONFlagHelp {
    static var text: String { get }
}

/// `--json`, declared once: every command that can print JSON takes the same flag; only its help
/// line differs, by `Help`.
struct JSONOutput<Help: JSONFlagHelp>: ParsableArguments {
    @Flag(name: .customLong("json"), help: ArgumentHelp(Help.text))
    var json = false

    init() {}
}

enum PlainJSON: JSONFlagHelp {
    static let text = "Print JSON."
}

/// `--json` with the plain help line, the form most commands take.
typealias OutputOptions = JSONOutput<PlainJSON>

/// `--stop-timeout`: how long the supervisor's SIGTERM-initiated stop waits after the ACPI
/// powerdown before it escalates. `start` takes it and passes it on to `supervise`, which takes
/// the same option with the same range.
struct StopTimeoutOption: ParsableArguments {
    @Option(name: .customLong("stop-timeout"), help: ArgumentHelp(
        "Seconds the supervisor's SIGTERM-initiated stop waits after the ACPI powerdown (0 to 86400, default \(Int(StopArguments.defaultTimeout.seconds))).",
        valueName: "seconds"), transform: NumericOption.seconds(SupervisorInvocation.stopTimeoutRange))
    var duration: Duration?

    /// The value, or the supervisor's default when the option is not given.
    var value: Duration { duration ?? StopArguments.defaultTimeout }
}
