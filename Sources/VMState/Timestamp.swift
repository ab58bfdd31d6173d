#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock instants as written into state files and the event log: UTC, RFC 3339 with
/// microseconds (sorts as text; no Foundation needed in the supervisor).
public enum Timestamp {
    /// Seconds and microseconds since the epoch, now.
    public static func now() -> (seconds: Int64, microseconds: Int64) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int64(ts.tv_sec), Int64(ts.tv_nsec / 1000))
    }

    /// `2026-11-23T09:44:04.123456Z`
    public static func rfc3339(seconds: Int64, microseconds: Int64 = 0) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let micro = String(microseconds)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: max(0, 6 - micro.count)) + micro + "Z"
    }

    public static func nowRFC3339() -> String {
        let (s, us) = now()
        return rfc3339(seconds: s, microseconds: us)
    }

    /// A monotonic clock in seconds, for timeouts.
    public static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
