/// An error with a kind to branch on and a one-line description naming what was wrong: the shape
/// the measurement and the report parser share (`MeasurementError`, `ReportParseError`), defined
/// once here because both modules import this one.
public struct KindedError<Kind: Sendable & Equatable>: Error, Sendable, Equatable, CustomStringConvertible {
    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
