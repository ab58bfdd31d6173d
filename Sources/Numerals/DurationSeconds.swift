/// Durations from and to seconds, the unit users, configs and QMP peers write. The conversion
/// from a `Double` never traps: `UInt64(1e11 * 1e9)` or `Int64(.nan)` would abort the process,
/// so values are clamped to 0...`Duration.longestTimeout` (ten years: longer than any wait means
/// "for ever" here) and NaN counts as 0.
extension Duration {
    /// The longest timeout a `Double` of seconds becomes.
    public static let longestTimeout: Duration = .seconds(10 * 365 * 86_400)

    /// `seconds`, clamped to 0...`longestTimeout` (NaN → 0).
    public static func clampedSeconds(_ seconds: Double) -> Duration {
        let limit = Double(longestTimeout.components.seconds)
        let clamped = seconds.isNaN ? 0 : min(max(seconds, 0), limit)
        return .nanoseconds(Int64(clamped * 1e9))
    }

    /// The longest wait a command-line option accepts, in seconds: a day. Enough for a slow
    /// guest shutdown, far below the point where seconds stop fitting in nanoseconds
    /// (`Duration`, `UInt64` timers).
    public static let longestWaitSeconds: Double = 86_400

    /// Seconds written as a finite decimal in `range`, to the millisecond; nil for anything else
    /// (`nan`, `inf`, `1e300`, a value out of range). How every seconds option is read.
    public static func seconds(text: String, in range: ClosedRange<Double>) -> Duration? {
        guard let value = Double(text), value.isFinite, range.contains(value) else { return nil }
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    /// The duration in seconds (for JSON records and messages).
    public var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }

    /// The duration in whole nanoseconds (for APIs that count in them).
    public var nanoseconds: Int64 {
        let (whole, attoseconds) = components
        return whole * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
