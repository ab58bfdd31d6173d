import Launch

extension LifecycleError {
    /// A state problem as a lifecycle operation reports it: what the caller gave (a name, an
    /// untrusted folder) is bad input (exit status 2); a failed system call or a corrupt
    /// record is a failure.
    public init(_ error: StateError) {
        switch error {
        case .invalidInput(let message), .untrusted(let message): self = .invalidInput(message)
        case .system, .corruptRecord: self = .failed(error.description)
        }
    }
}
