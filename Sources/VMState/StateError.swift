import FileAccess

/// Why the state directory or a VM's record could not be used. A failed system call keeps its
/// `errno` (`SystemError.code`), so a caller can tell "no space left" from "permission denied";
/// the CLI-facing `LifecycleError` is made from this at the lifecycle's edge.
public enum StateError: Error, Sendable, CustomStringConvertible {
    /// A system call failed (creating a folder, reading or writing a record).
    case system(SystemError)
    /// A name or a path the caller gave is not usable (bad VM name, socket path too long).
    case invalidInput(String)
    /// The folder is not safe to use (writable by others, owned by someone else, a link).
    case untrusted(String)
    /// A record exists but does not say what it must (not JSON, a field missing or unknown).
    case corruptRecord(path: String, reason: String)

    public var description: String {
        switch self {
        case .system(let error): error.description
        case .invalidInput(let message), .untrusted(let message): message
        case .corruptRecord(let path, let reason): "\(path): \(reason)"
        }
    }

    /// The `errno` of a failed system call, nil for the other causes.
    public var code: Int32? {
        if case .system(let error) = self { error.code } else { nil }
    }
}
