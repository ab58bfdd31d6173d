import FileAccess
/// Why a lifecycle operation failed. Every case carries one line a user can act on.
public enum LifecycleError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Bad input: a name, a path, an option (CLI exit status 2).
    case invalidInput(String)
    /// The host cannot run this configuration (missing device, disabled kernel feature).
    case hostUnsupported(String)
    /// The VM is running already, or another `start` holds its lock.
    case busy(String)
    /// No such VM in the state directory.
    case notFound(String)
    /// QEMU or the supervisor failed while starting; `details` are QEMU's own error lines.
    case startFailed(String, details: [String])
    /// The wait ran out of time.
    case timedOut(String)
    /// Any other failure (a system call, the control socket).
    case failed(String)

    public var description: String {
        switch self {
        case .invalidInput(let m), .hostUnsupported(let m), .busy(let m), .notFound(let m), .timedOut(let m), .failed(let m):
            return m
        case .startFailed(let m, let details):
            return details.isEmpty ? m : m + "\n" + details.map { "  qemu: " + $0 }.joined(separator: "\n")
        }
    }

    public init(_ error: SystemError) { self = .failed(error.description) }
}
