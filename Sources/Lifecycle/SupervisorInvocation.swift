import Numerals
import VMState

/// How `start` runs a VM's supervisor:
/// `igvm-mgr supervise NAME --state-dir PATH --lock-fd 3 --readiness-fd 4 [--stop-timeout SECONDS]`.
///
/// These are the words `igvm-mgr supervise --help` documents, always in this order, so the
/// supervisor reads them back without swift-argument-parser: the parser's reflection of the
/// command (protocol-conformance lookups over the whole binary) was ~12 % of a supervisor's CPU
/// until its VM is ready, and every VM starts one. `init?(arguments:)` takes exactly this form
/// and declines everything else — a person running `supervise` by hand, `--help`, a value the
/// parser would refuse or read differently — which then goes through the parser as before, so
/// no argv means one thing here and another there.
public struct SupervisorInvocation: Equatable, Sendable {
    public var name: String
    /// Absolute: the supervisor's working directory is not the caller's.
    public var stateDirectory: String
    public var stopTimeout: Duration?

    /// The stop timeout's range in seconds, as `--stop-timeout` takes it.
    public static let stopTimeoutRange: ClosedRange<Double> = 0...Duration.longestWaitSeconds

    public init(name: String, stateDirectory: String, stopTimeout: Duration? = nil) {
        self.name = name
        self.stateDirectory = stateDirectory
        self.stopTimeout = stopTimeout
    }

    /// The arguments after the executable.
    public var arguments: [String] {
        var words = [
            "supervise", name, "--state-dir", stateDirectory,
            "--lock-fd", String(SupervisorDescriptors.lock), "--readiness-fd", String(SupervisorDescriptors.readiness),
        ]
        if let stopTimeout { words += ["--stop-timeout", String(stopTimeout.seconds)] }
        return words
    }

    /// Reads the arguments after the executable when they are exactly the form `arguments`
    /// writes; nil for anything else.
    public init?(arguments: [String]) {
        guard arguments.count == 8 || arguments.count == 10,
            arguments[0] == "supervise", arguments[2] == "--state-dir", arguments[4] == "--lock-fd",
            arguments[6] == "--readiness-fd",
            arguments[5] == String(SupervisorDescriptors.lock), arguments[7] == String(SupervisorDescriptors.readiness)
        else { return nil }
        let name = arguments[1], directory = arguments[3]
        // A word starting with "-" is an option to the parser, not a value.
        guard !name.isEmpty, !name.hasPrefix("-"), directory.hasPrefix("/") else { return nil }
        var stopTimeout: Duration?
        if arguments.count == 10 {
            guard arguments[8] == "--stop-timeout",
                let seconds = Duration.seconds(text: arguments[9], in: Self.stopTimeoutRange)
            else { return nil }
            stopTimeout = seconds
        }
        self.init(name: name, stateDirectory: directory, stopTimeout: stopTimeout)
    }
}
