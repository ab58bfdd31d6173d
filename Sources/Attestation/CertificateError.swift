/// A certificate that cannot be read or used: one line naming the file or role and the problem.
public struct CertificateError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// An expectation the relying party wrote that cannot be used (a malformed minimum TCB, …).
public struct ExpectationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
