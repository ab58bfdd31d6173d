import JSON

/// The QMP connection the supervisor holds to QEMU, as the supervisor needs it.
///
/// The protocol itself (framing, ids, negotiation) lives in the QMP module; this is the narrow
/// view the supervisor, the stop procedure and the event policies use, so that they can be
/// exercised against QEMU's monitor or the monitor of a VM whose supervisor is gone alike.
public protocol MonitorSession: Sendable {
    /// QEMU's version from the greeting ("10.0.2").
    var qemuVersion: String? { get }
    /// Runs `command`; returns its `return` value or throws `MonitorCommandError`.
    func execute(_ command: String, arguments: JSONObject?, timeout: Double?) async throws -> JSON
    /// Every event QEMU sends, as the whole event object, until the connection closes.
    func events() -> AsyncStream<JSON>
    func close() async
}

/// A QMP error reply (`class` + `desc`), or the connection failing.
public struct MonitorCommandError: Error, Sendable, CustomStringConvertible {
    /// QMP's error class (`GenericError`, `CommandNotFound`, …) or "Disconnected"/"Timeout".
    public var errorClass: String
    public var message: String

    public init(errorClass: String, message: String) {
        self.errorClass = errorClass
        self.message = message
    }

    public var description: String { "\(errorClass): \(message)" }
}
