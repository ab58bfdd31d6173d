import Launch
import JSON
import QMP

/// Checks the arguments of the manager's own control commands the way QEMU's QAPI visitor
/// checks a command's (qapi/qobject-input-visitor.c): an argument of the wrong JSON type or one
/// the command does not take is a `GenericError` naming it, never silently replaced by a default.
struct ControlArguments {
    let command: String
    let arguments: JSONObject

    init(command: String, _ arguments: JSONObject?) {
        self.command = command
        self.arguments = arguments ?? [:]
    }

    /// Fails with QEMU's wording for the first argument not in `known`.
    func onlyKnown(_ known: Set<String>) throws(QMPCommandError) {
        if let unexpected = arguments.keys.first(where: { !known.contains($0) }) {
            throw error("Parameter '\(unexpected)' is unexpected")
        }
    }

    /// The string `name`, or nil when absent.
    func string(_ name: String) throws(QMPCommandError) -> String? {
        guard let value = arguments[name], value != .null else { return nil }
        guard let text = value.stringValue else { throw error("Invalid parameter type for '\(name)', expected: string") }
        return text
    }

    /// The number `name` (integer or not) within `range`, or nil when absent.
    func number(_ name: String, in range: ClosedRange<Double>, unit: String) throws(QMPCommandError) -> Double? {
        guard let value = arguments[name], value != .null else { return nil }
        guard let number = value.doubleValue else { throw error("Invalid parameter type for '\(name)', expected: number") }
        guard number.isFinite, range.contains(number) else {
            throw error("'\(name)' must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound))\(unit), not \(Self.format(number))")
        }
        return number
    }

    /// The integer `name` within `range`, or nil when absent.
    func integer(_ name: String, in range: ClosedRange<Int>) throws(QMPCommandError) -> Int? {
        guard let value = arguments[name], value != .null else { return nil }
        guard let number = value.intValue else { throw error("Invalid parameter type for '\(name)', expected: integer") }
        guard range.contains(number) else { throw error("'\(name)' must be between \(range.lowerBound) and \(range.upperBound), not \(number)") }
        return number
    }

    func error(_ desc: String) -> QMPCommandError {
        QMPCommandError(command: command, errorClass: "GenericError", desc: desc)
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}

/// The arguments of `x-igvm-mgr-stop`.
public struct StopArguments: Sendable, Equatable {
    public var mode: StopMode
    public var timeout: Duration

    /// One day (in seconds, as the wire writes it): longer than any ACPI shutdown.
    public static let timeoutRange: ClosedRange<Double> = 0...86_400
    /// How long a stop waits after the ACPI powerdown (or `quit`) before escalating.
    public static let defaultTimeout: Duration = .seconds(30)

    public init(mode: StopMode, timeout: Duration) {
        self.mode = mode
        self.timeout = timeout
    }

    public static func parse(_ arguments: JSONObject?) -> Result<StopArguments, QMPCommandError> {
        let reader = ControlArguments(command: "x-igvm-mgr-stop", arguments)
        do throws(QMPCommandError) {
            try reader.onlyKnown(["mode", "timeout"])
            let modeText = try reader.string("mode") ?? StopMode.acpi.rawValue
            guard let mode = StopMode(rawValue: modeText) else {
                throw reader.error("'mode' must be one of \(StopMode.allCases.map(\.rawValue).joined(separator: ", ")), not \(modeText)")
            }
            let timeout = try reader.number("timeout", in: timeoutRange, unit: " seconds").map(Duration.clampedSeconds) ?? defaultTimeout
            return .success(StopArguments(mode: mode, timeout: timeout))
        } catch {
            return .failure(error)
        }
    }
}

/// The arguments of `x-igvm-mgr-events`.
public struct EventsArguments: Sendable, Equatable {
    public var tail: Int
    public static let tailRange: ClosedRange<Int> = 0...100_000

    public static func parse(_ arguments: JSONObject?) -> Result<EventsArguments, QMPCommandError> {
        let reader = ControlArguments(command: "x-igvm-mgr-events", arguments)
        do throws(QMPCommandError) {
            try reader.onlyKnown(["tail"])
            return .success(EventsArguments(tail: try reader.integer("tail", in: tailRange) ?? 20))
        } catch {
            return .failure(error)
        }
    }
}
