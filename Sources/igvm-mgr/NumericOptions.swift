import Numerals
import ArgumentParser

/// Numeric option values with a range. A value outside it (or not a number: `nan`, `inf`,
/// `1e300` seconds) is a usage error naming the range (exit 2), never a trap later on when the
/// value is converted to an integer type.
enum NumericOption {
    /// The longest wait any command accepts: a day (`Duration.longestWaitSeconds`).
    static let longestWait = Duration.longestWaitSeconds

    /// Seconds as a `Duration`, a finite decimal in `range`.
    static func seconds(_ range: ClosedRange<Double>) -> @Sendable (String) throws -> Duration {
        { text in
            guard let duration = Duration.seconds(text: text, in: range) else {
                throw ValidationError("expected seconds from \(format(range.lowerBound)) to \(format(range.upperBound)), got \"\(text)\"")
            }
            return duration
        }
    }

    /// A whole number in `range`.
    static func integer(_ range: ClosedRange<Int>) -> @Sendable (String) throws -> Int {
        { text in
            guard let value = Int(text), range.contains(value) else {
                throw ValidationError("expected a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(text)\"")
            }
            return value
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(value)
    }
}

