import JSON

/// The server side of one QMP connection as a pure state machine (no socket): frames in,
/// actions out. Answers the protocol-level cases exactly as QEMU's monitor does
/// (`monitor/qmp.c`, `qapi/qmp-dispatch.c`) so that any QMP client, `qemu.qmp` included,
/// talks to it as to QEMU; real commands are handed to the caller as `.dispatch`.
public struct QMPServerSession: Sendable {
    public enum Phase: Sendable, Hashable {
        /// Only `qmp_capabilities` is accepted; no events are sent.
        case negotiation
        /// Commands are dispatched and events flow.
        case commands
    }

    /// What the transport must do next.
    public enum Action: Sendable, Hashable {
        /// Send this message (a reply the session could give itself).
        case reply(JSON)
        /// Run the command and send its reply (`QMPServerSession.reply(to:result:)`).
        case dispatch(QMPCommand)
    }

    public let greeting: QMPGreeting
    public private(set) var phase: Phase = .negotiation
    public private(set) var outOfBandEnabled = false

    public init(greeting: QMPGreeting) { self.greeting = greeting }

    /// The first message to send.
    public var greetingMessage: JSON { greeting.json }

    /// Whether events may be sent now (QEMU sends none before negotiation completes).
    public var acceptsEvents: Bool { phase == .commands }

    public mutating func receive(_ frame: QMPFrame) -> Action {
        let message: JSON
        switch frame.decode() {
        case .success(let m): message = m
        case .failure(let violation):
            // QEMU answers unparsable input with an id-less GenericError and carries on.
            return .reply(QMPCommandError(errorClass: "GenericError", desc: "JSON parse error, \(violation.reason)").json)
        }
        let command: QMPCommand
        do { command = try QMPCommand(parsing: message) } catch { return .reply(error.json) }
        let id = command.id
        switch phase {
        case .negotiation:
            guard command.name == "qmp_capabilities", !command.outOfBand else {
                return .reply(Self.error("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'", id))
            }
            var enable: [String] = []
            if let requested = command.arguments?["enable"] {
                guard let list = requested.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                    return .reply(Self.error("GenericError", "Invalid parameter type for 'enable', expected: array", id))
                }
                enable = list.compactMap(\.stringValue)
            }
            for capability in enable where !greeting.capabilities.contains(capability) {
                return .reply(Self.error("GenericError", "Capability '\(capability)' not available", id))
            }
            phase = .commands
            outOfBandEnabled = enable.contains("oob")
            return .reply(Self.success(.object([:]), id))
        case .commands:
            if command.name == "qmp_capabilities" {
                return .reply(Self.error("CommandNotFound", "Capabilities negotiation is already complete, command ignored", id))
            }
            if command.outOfBand && !outOfBandEnabled {
                return .reply(Self.error("GenericError", "QMP input member 'exec-oob' requires capability 'oob'", id))
            }
            return .dispatch(command)
        }
    }

    /// The reply message for a dispatched command: its return value, or its error (a
    /// `QMPCommandError` keeps its class; any other error becomes a GenericError).
    public static func reply(to command: QMPCommand, result: Result<JSON, any Error>) -> JSON {
        switch result {
        case .success(let value): return success(value, command.id)
        case .failure(let error as QMPCommandError): return Self.error(error.errorClass, error.desc, command.id)
        case .failure(let error): return Self.error("GenericError", "\(error)", command.id)
        }
    }

    static func success(_ value: JSON, _ id: JSON?) -> JSON {
        var o: JSONObject = ["return": value]
        if let id { o["id"] = id }
        return .object(o)
    }

    static func error(_ errorClass: String, _ desc: String, _ id: JSON?) -> JSON {
        QMPCommandError(errorClass: errorClass, desc: desc, id: id).json
    }
}

extension QMPCommandError {
    /// QEMU's error for an unknown command.
    public static func commandNotFound(_ name: String) -> QMPCommandError {
        QMPCommandError(command: name, errorClass: "CommandNotFound", desc: "The command \(name) has not been found")
    }
}
