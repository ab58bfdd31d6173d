import SwiftASN1

/// A certificate's validity period (RFC 5280 §4.1.2.5), as seconds since the Unix epoch (UTC).
public struct Validity: Sendable, Hashable {
    public let notBefore: Int64
    public let notAfter: Int64

    public init(notBefore: Int64, notAfter: Int64) {
        self.notBefore = notBefore
        self.notAfter = notAfter
    }

    init(derEncoded node: ASN1Node) throws {
        self = try DER.sequence(node, identifier: .sequence) { nodes in
            guard let first = nodes.next(), let second = nodes.next() else {
                throw CertificateError("validity needs notBefore and notAfter")
            }
            return Validity(notBefore: try Self.time(first), notAfter: try Self.time(second))
        }
    }

    /// UTCTime or GeneralizedTime (RFC 5280 allows both).
    private static func time(_ node: ASN1Node) throws -> Int64 {
        if node.identifier == .utcTime {
            let t = try UTCTime(derEncoded: node)
            return UnixTime.seconds(year: t.year, month: t.month, day: t.day, hour: t.hours, minute: t.minutes, second: t.seconds)
        }
        let t = try GeneralizedTime(derEncoded: node)
        return UnixTime.seconds(year: t.year, month: t.month, day: t.day, hour: t.hours, minute: t.minutes, second: t.seconds)
    }

    public func contains(_ time: Int64) -> Bool { notBefore <= time && time <= notAfter }
}

/// Calendar arithmetic for UTC timestamps, without Foundation's calendar.
public enum UnixTime {
    /// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant, "chrono-Compatible
    /// Low-Level Date Algorithms", days_from_civil), plus the time of day.
    public static func seconds(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = Int64(era * 146097 + doe - 719468)
        return days * 86400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// `2030-04-03T19:23:43Z`.
    public static func rfc3339(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = seconds - days * 86400
        // civil_from_days, the inverse of the above.
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60))Z"
    }

    /// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (years 1–9999); nil for anything else.
    public static func parse(_ text: String) -> Int64? {
        let digits = text.split(whereSeparator: { "-T:Z".contains($0) }).map { Int($0) }
        guard digits.allSatisfy({ $0 != nil }), digits.count == 3 || digits.count == 6 else { return nil }
        let v = digits.map { $0! }
        // Four-digit years only: the arithmetic stays far from overflow, and X.509 times are so.
        guard (1...9999).contains(v[0]), (1...12).contains(v[1]), (1...31).contains(v[2]) else { return nil }
        if v.count == 6 {
            guard text.hasSuffix("Z"), (0...23).contains(v[3]), (0...59).contains(v[4]), (0...60).contains(v[5]) else { return nil }
            return seconds(year: v[0], month: v[1], day: v[2], hour: v[3], minute: v[4], second: v[5])
        }
        return seconds(year: v[0], month: v[1], day: v[2])
    }
}
