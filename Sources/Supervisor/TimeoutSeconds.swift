import VMState
import Launch
import FileAccess
/// Seconds (a `Double` from a user, a config or a QMP peer) to the integer units of sleeps and
/// deadlines without trapping: `UInt64(1e11 * 1e9)` or `Int64(.nan)` would abort the process.
/// Values are clamped to 0...`maximum` (ten years: longer than any wait means "for ever" here)
/// and NaN counts as 0.
public enum TimeoutSeconds {
    public static let maximum: Double = 10 * 365 * 86_400

    public static func clamped(_ seconds: Double) -> Double {
        seconds.isNaN ? 0 : min(max(seconds, 0), maximum)
    }

    public static func nanoseconds(_ seconds: Double) -> UInt64 {
        UInt64(clamped(seconds) * 1e9)
    }

    public static func milliseconds(_ seconds: Double) -> Int64 {
        Int64(clamped(seconds) * 1e3)
    }
}
