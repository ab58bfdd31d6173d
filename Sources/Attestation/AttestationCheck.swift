import Measure

/// One verdict of a verification: what was compared, whether it held, and both sides.
public struct AttestationCheck: Sendable, Equatable {
    /// Stable, lower-case names (`report-signature`, `measurement`, …) for scripts and tests.
    public let name: String
    public let ok: Bool
    public let expected: String
    public let actual: String

    public init(_ name: String, ok: Bool, expected: String, actual: String) {
        self.name = name
        self.ok = ok
        self.expected = expected
        self.actual = actual
    }

    /// A check of two byte strings, shown as hex.
    static func bytes(_ name: String, expected: [UInt8], actual: [UInt8]) -> AttestationCheck {
        AttestationCheck(name, ok: expected == actual, expected: Hex.encode(expected), actual: Hex.encode(actual))
    }

    /// A check whose outcome is a problem or none.
    static func outcome(_ name: String, expected: String, problem: String?, fine: String) -> AttestationCheck {
        AttestationCheck(name, ok: problem == nil, expected: expected, actual: problem ?? fine)
    }
}
