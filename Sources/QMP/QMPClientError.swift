#if canImport(Glibc)
import Glibc
#endif

/// Why a QMP connection ended. Carried by `QMPClientError.interrupted` so that a failed command
/// names the root cause (QEMU exited, the socket broke, the peer spoke garbage…), not just
/// "cancelled".
public enum QMPDisconnectCause: Sendable, Hashable, CustomStringConvertible {
    /// `close()` was called.
    case closedByClient
    /// The peer closed the connection (end of file), e.g. QEMU exited or was killed.
    case peerClosed
    /// A socket error: its `errno` when the system gave one (ECONNRESET: "Connection reset by
    /// peer"), and the error's text.
    case ioError(code: Int32?, reason: String)
    /// The peer broke the protocol; the client closed the connection.
    case protocolViolation(QMPProtocolViolation)

    /// The peer is gone: it closed the connection or reset it (QEMU exited or was killed with
    /// commands still unread in its socket, which the kernel answers with a reset).
    public var peerWentAway: Bool {
        switch self {
        case .peerClosed: return true
        case .ioError(let code?, _): return code == ECONNRESET || code == EPIPE
        case .ioError(nil, _): return false
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .closedByClient: return "the client closed the connection"
        case .peerClosed: return "the peer closed the connection"
        case .ioError(_, let reason): return "I/O error: \(reason)"
        case .protocolViolation(let v): return v.description
        }
    }
}

/// Failures of `QMPClient` other than a QMP error reply (that one is `QMPCommandError`).
public enum QMPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Could not connect to the socket (missing, refused, not a socket…).
    case connectionFailed(path: String, reason: String)
    /// No greeting arrived within the configured time.
    case greetingTimedOut(seconds: Double)
    /// The connection ended before negotiation completed.
    case negotiationFailed(String)
    /// The command was sent (or being sent) when the connection ended: **outcome unknown** —
    /// QMP gives no way to learn whether it ran; query the state if it matters.
    case interrupted(command: String, cause: QMPDisconnectCause)
    /// No reply within the command's timeout. The command may still run: **outcome unknown**.
    /// A late reply is dropped (and logged).
    case timedOut(command: String, seconds: Double)
    /// The connection was already closed: the command was **not** sent.
    case notConnected(command: String, cause: QMPDisconnectCause)
    /// The reply did not have the shape the typed wrapper expects.
    case unexpectedReply(command: String, reason: String)

    public var description: String {
        switch self {
        case .connectionFailed(let path, let reason): return "cannot connect to QMP socket \(path): \(reason)"
        case .greetingTimedOut(let s): return "no QMP greeting within \(s) s"
        case .negotiationFailed(let reason): return "QMP negotiation failed: \(reason)"
        case .interrupted(let command, let cause):
            return "'\(command)' interrupted, outcome unknown: \(cause)"
        case .timedOut(let command, let s): return "'\(command)' got no reply within \(s) s (outcome unknown)"
        case .notConnected(let command, let cause): return "'\(command)' not sent: connection closed (\(cause))"
        case .unexpectedReply(let command, let reason): return "unexpected reply to '\(command)': \(reason)"
        }
    }
}
