import JSON
@_exported import Platform

// The QMP message vocabulary (docs/interop/qmp-spec.rst), independent of any transport.
// Both the client and the server codec are built on these types.

/// The server's greeting: `{"QMP": {"version": {...}, "capabilities": [...]}}`.
public struct QMPGreeting: Sendable, Hashable {
    /// `version`: QEMU's `VersionInfo`.
    public var version: QEMUVersion
    /// The capabilities the server offers (e.g. `["oob"]`).
    public var capabilities: [String]

    public init(version: QEMUVersion, capabilities: [String] = []) {
        self.version = version
        self.capabilities = capabilities
    }

    public init(major: Int, minor: Int, micro: Int, package: String = "", capabilities: [String] = []) {
        self.init(version: QEMUVersion(major: major, minor: minor, micro: micro, package: package), capabilities: capabilities)
    }

    /// Parses the greeting object; nil when `message` is not a greeting.
    public init?(_ message: JSON) {
        guard let qmp = message["QMP"], let version = qmp["version"].flatMap(QEMUVersion.init(versionInfo:)) else { return nil }
        self.init(version: version, capabilities: qmp["capabilities"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    /// The greeting as a JSON message.
    public var json: JSON {
        ["QMP": ["version": version.versionInfo, "capabilities": .array(capabilities.map { JSON.string($0) })]]
    }
}

extension QEMUVersion {
    /// QEMU's `VersionInfo` (qapi/control.json), as the greeting and `query-version` carry it:
    /// `{"qemu": {"major": …, "minor": …, "micro": …}, "package": …}`; nil when a number is missing.
    public init?(versionInfo: JSON) {
        guard let q = versionInfo["qemu"], let major = q["major"]?.intValue, let minor = q["minor"]?.intValue,
            let micro = q["micro"]?.intValue
        else { return nil }
        self.init(major: major, minor: minor, micro: micro, package: versionInfo["package"]?.stringValue ?? "")
    }

    /// The `VersionInfo` object.
    public var versionInfo: JSON {
        ["qemu": ["micro": JSON(micro), "minor": JSON(minor), "major": JSON(major)], "package": JSON(package)]
    }
}

/// A command as sent by a client: `{"execute"|"exec-oob": NAME, "arguments": {...}, "id": ID}`.
public struct QMPCommand: Sendable, Hashable {
    public var name: String
    public var arguments: JSONObject?
    /// The id to echo in the reply; QMP allows any JSON value. Nil: an id-less command.
    public var id: JSON?
    /// Sent as `exec-oob` (out-of-band; needs the `oob` capability).
    public var outOfBand: Bool

    public init(_ name: String, arguments: JSONObject? = nil, id: JSON? = nil, outOfBand: Bool = false) {
        self.name = name
        self.arguments = arguments
        self.id = id
        self.outOfBand = outOfBand
    }

    public var json: JSON {
        var o = JSONObject()
        o[outOfBand ? "exec-oob" : "execute"] = .string(name)
        if let arguments { o["arguments"] = .object(arguments) }
        if let id { o["id"] = id }
        return .object(o)
    }

    /// Parses a command message. Throws a `QMPCommandError`-shaped reason (class, desc) the way
    /// QEMU words them, so a server can answer a malformed command exactly as QEMU would.
    public init(parsing message: JSON) throws(QMPCommandError) {
        guard let object = message.objectValue else {
            throw QMPCommandError(errorClass: "GenericError", desc: "QMP input must be a JSON object")
        }
        let id = object["id"]
        let name: String
        let oob: Bool
        if let e = object["execute"] {
            guard let s = e.stringValue else {
                throw QMPCommandError(errorClass: "GenericError", desc: "QMP input member 'execute' must be a string", id: id)
            }
            name = s
            oob = false
        } else if let e = object["exec-oob"] {
            guard let s = e.stringValue else {
                throw QMPCommandError(errorClass: "GenericError", desc: "QMP input member 'exec-oob' must be a string", id: id)
            }
            name = s
            oob = true
        } else {
            throw QMPCommandError(errorClass: "GenericError", desc: "QMP input lacks member 'execute'", id: id)
        }
        var arguments: JSONObject?
        if let a = object["arguments"] {
            guard let o = a.objectValue else {
                throw QMPCommandError(errorClass: "GenericError", desc: "QMP input member 'arguments' must be an object", id: id)
            }
            arguments = o
        }
        for key in object.keys where !["execute", "exec-oob", "arguments", "id", "control"].contains(key) {
            throw QMPCommandError(errorClass: "GenericError", desc: "QMP input member '\(key)' is unexpected", id: id)
        }
        self.init(name, arguments: arguments, id: id, outOfBand: oob)
    }
}

/// An error reply's body: the QMP `class` (e.g. "GenericError", "CommandNotFound") and the
/// human-readable `desc`. Thrown by `QMPClient.execute` when the server answers with an error.
public struct QMPCommandError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The command that failed (empty when not known, e.g. on the server side).
    public var command: String
    /// QMP's error class, kept verbatim.
    public var errorClass: String
    /// QMP's description, kept verbatim.
    public var desc: String
    /// The id of the reply, if any.
    public var id: JSON?

    public init(command: String = "", errorClass: String, desc: String, id: JSON? = nil) {
        self.command = command
        self.errorClass = errorClass
        self.desc = desc
        self.id = id
    }

    /// "GenericError: Property 'x' not found" — the form the CLI prints.
    public var description: String { "\(errorClass): \(desc)" }

    /// The error reply message.
    public var json: JSON {
        var o: JSONObject = ["error": ["class": .string(errorClass), "desc": .string(desc)]]
        if let id { o["id"] = id }
        return .object(o)
    }
}

/// An asynchronous event: `{"event": NAME, "data": {...}, "timestamp": {"seconds": S, "microseconds": U}}`.
public struct QMPEvent: Sendable, Hashable {
    public var name: String
    /// `data`, or an empty object when the event has none (e.g. `STOP`).
    public var data: JSONObject
    public var seconds: Int64
    public var microseconds: Int64

    public init(name: String, data: JSONObject = [:], seconds: Int64 = 0, microseconds: Int64 = 0) {
        self.name = name
        self.data = data
        self.seconds = seconds
        self.microseconds = microseconds
    }

    /// Parses an event message; nil when `message` is not an event.
    public init?(_ message: JSON) {
        guard let name = message["event"]?.stringValue else { return nil }
        self.init(
            name: name, data: message["data"]?.objectValue ?? [:],
            seconds: message["timestamp"]?["seconds"]?.int64Value ?? 0,
            microseconds: message["timestamp"]?["microseconds"]?.int64Value ?? 0)
    }

    /// An event stamped with the current wall-clock time (what a server emits).
    public static func now(_ name: String, data: JSONObject = [:]) -> QMPEvent {
        let (s, us) = WallClock.now()
        return QMPEvent(name: name, data: data, seconds: s, microseconds: us)
    }

    public var json: JSON {
        var o: JSONObject = ["event": .string(name)]
        if !data.isEmpty { o["data"] = .object(data) }
        o["timestamp"] = ["seconds": .integer(seconds), "microseconds": .integer(microseconds)]
        return .object(o)
    }
}

/// Any message a client receives, classified.
public enum QMPServerMessage: Sendable, Hashable {
    case greeting(QMPGreeting)
    /// `{"return": VALUE, "id": ID}`.
    case success(JSON, id: JSON?)
    /// `{"error": {"class", "desc"}, "id": ID}`.
    case error(QMPCommandError)
    case event(QMPEvent)

    /// Classifies a decoded message; throws `QMPProtocolViolation` for anything that is none of
    /// the four (including a malformed error body).
    public init(_ message: JSON) throws(QMPProtocolViolation) {
        guard let object = message.objectValue else {
            throw QMPProtocolViolation("expected a JSON object, got \(message.kindDescription)")
        }
        if let value = object["return"] {
            self = .success(value, id: object["id"])
        } else if let body = object["error"] {
            guard let cls = body["class"]?.stringValue, let desc = body["desc"]?.stringValue else {
                throw QMPProtocolViolation("error reply without string 'class' and 'desc': \(message)")
            }
            self = .error(QMPCommandError(errorClass: cls, desc: desc, id: object["id"]))
        } else if let event = QMPEvent(message) {
            self = .event(event)
        } else if let greeting = QMPGreeting(message) {
            self = .greeting(greeting)
        } else {
            throw QMPProtocolViolation("message is neither reply, error, event nor greeting: \(Self.excerpt(message))")
        }
    }

    static func excerpt(_ message: JSON) -> String {
        let text = message.description
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

/// The peer broke the protocol (garbage, a message of no known kind, an id-less error while
/// nothing id-less was pending, an oversized message). The connection cannot be trusted after it.
public struct QMPProtocolViolation: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "QMP protocol violation: \(reason)" }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum WallClock {
    static func now() -> (Int64, Int64) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int64(ts.tv_sec), Int64(ts.tv_nsec / 1000))
    }
}
