#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, with what was attempted and on which path, so that the
/// one-line error a user sees says what went wrong where ("cannot create /run/x: Permission denied").
public struct SystemError: Error, Sendable, CustomStringConvertible {
    /// What was attempted, e.g. "cannot create".
    public var operation: String
    /// The file or object it was attempted on (may be empty).
    public var subject: String
    /// The `errno` value.
    public var code: Int32

    public init(_ operation: String, _ subject: String, code: Int32 = errno) {
        self.operation = operation
        self.subject = subject
        self.code = code
    }

    public var description: String {
        let reason = String(cString: strerror(code))
        return subject.isEmpty ? "\(operation): \(reason)" : "\(operation) \(subject): \(reason)"
    }
}
