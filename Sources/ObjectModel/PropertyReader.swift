import Numerals
import JSON

/// One property value as it reaches QEMU: typed JSON (QMP `object-add`, the JSON form of
/// `-object`) or text (the `key=value` form, where every value is a string and QEMU's keyval
/// visitor converts it to the property's type).
public enum PropertyInput: Sendable, Hashable {
    case json(JSON)
    case text(String)
}

/// QEMU's `on|off|auto` enum (`OnOffAuto` in qapi/common.json).
public enum OnOffAuto: String, Sendable, Hashable, CaseIterable {
    case on, off, auto
}

/// Reads an object's properties the way QEMU's QAPI input visitor does, recording a `.qemu`
/// problem for each value QEMU would refuse (wrong type, out of range, unknown property) instead
/// of stopping at the first.
///
/// Each typed read removes the property; `finish()` reports what is left as unexpected.
public struct PropertyReader: Sendable {
    /// The name problems are reported under (the object id).
    public let object: String
    private var values: [(name: String, value: PropertyInput)]
    public private(set) var problems: [Problem] = []

    /// `properties` in the order given; a repeated name keeps the last value, as QEMU does.
    public init(object: String, properties: [(String, PropertyInput)]) {
        self.object = object
        var ordered: [(name: String, value: PropertyInput)] = []
        for (name, value) in properties {
            if let i = ordered.firstIndex(where: { $0.name == name }) {
                ordered[i].value = value
            } else {
                ordered.append((name, value))
            }
        }
        self.values = ordered
    }

    /// JSON properties (QMP / JSON `-object`).
    public init(object: String, json: JSONObject) {
        self.init(object: object, properties: json.pairs.map { ($0.key, PropertyInput.json($0.value)) })
    }

    mutating func take(_ name: String) -> PropertyInput? {
        guard let i = values.firstIndex(where: { $0.name == name }) else { return nil }
        return values.remove(at: i).value
    }

    mutating func report(_ name: String, _ message: String) {
        problems.append(Problem(.qemu, object: object, property: name, message))
    }

    /// A `str` property.
    public mutating func string(_ name: String) -> String? {
        switch take(name) {
        case nil: return nil
        case .text(let s): return s
        case .json(.string(let s)): return s
        case .json(let other):
            report(name, "expected a string, got \(other.kindDescription)")
            return nil
        }
    }

    /// A `bool` property (keyval text: exactly on/off/yes/no/true/false, as QEMU's `parse_type_bool`).
    public mutating func bool(_ name: String) -> Bool? {
        switch take(name) {
        case nil: return nil
        case .json(.bool(let b)): return b
        case .json(let other):
            report(name, "expected a boolean, got \(other.kindDescription)")
            return nil
        case .text(let s):
            switch s {
            case "on", "yes", "true": return true
            case "off", "no", "false": return false
            default:
                report(name, "expected on/off/yes/no/true/false, got '\(s)'")
                return nil
            }
        }
    }

    /// A `uint64` property. Over JSON QEMU accepts a negative integer and stores it wrapped
    /// (`-1` reads back as 18446744073709551615: `qobject_input_type_uint64` falls back to
    /// `qnum_get_try_int`); keyval text goes through `qemu_strtou64`, which refuses a sign.
    public mutating func uint64(_ name: String) -> UInt64? {
        unsigned(name, parse: CNumber.strtou64, expectedText: "an unsigned integer (decimal, 0x hex or 0 octal)") { other in
            if case .double = other { "expected an unsigned integer, got a fractional number" }
            else { "expected an integer, got \(other.kindDescription)" }
        }
    }

    /// A `uint32` property (QEMU: a uint64 then a range check, "expects uint32_t"; a negative
    /// JSON integer wraps to a huge uint64 first, so it is out of range too).
    public mutating func uint32(_ name: String) -> UInt32? {
        // A negative JSON integer is reported as written, not as the uint64 QEMU wraps it to.
        let negative: Int64? = if case .json(.integer(let i))? = values.first(where: { $0.name == name })?.value, i < 0 { i } else { nil }
        guard let v = uint64(name) else { return nil }
        guard let v32 = UInt32(exactly: v) else {
            let shown = negative.map { "\($0) (QEMU wraps it to \(v))" } ?? "\(v)"
            report(name, "\(shown) is out of range for uint32 (0…4294967295)")
            return nil
        }
        return v32
    }

    /// A `size` property (bytes; keyval text may carry a K/M/G/T/P/E suffix, as `qemu_strtosz`).
    /// Over JSON a negative size wraps like a uint64 (QMP accepts `-1`); validation then reports
    /// what QEMU does with such a size.
    public mutating func size(_ name: String) -> UInt64? {
        unsigned(name, parse: CNumber.strtosz, expectedText: "a size (bytes, or with a K/M/G/T/P/E suffix)") { other in
            "expected a size in bytes, got \(other.kindDescription)"
        }
    }

    /// What `uint64` and `size` share: a JSON integer is taken as QEMU's visitor takes it (a
    /// negative one wraps), any other JSON value is reported by `wrongJSON`, text goes through
    /// `parse` (QEMU's parser for the property's type).
    private mutating func unsigned(
        _ name: String, parse: (String) -> UInt64?, expectedText: String, wrongJSON: (JSON) -> String
    ) -> UInt64? {
        switch take(name) {
        case nil: return nil
        case .json(.integer(let i)): return UInt64(bitPattern: i)
        case .json(.unsigned(let u)): return u
        case .json(let other):
            report(name, wrongJSON(other))
            return nil
        case .text(let s):
            guard let v = parse(s) else {
                report(name, "expected \(expectedText), got '\(s)'")
                return nil
            }
            return v
        }
    }

    /// An enum property whose values are `E`'s raw values.
    public mutating func enumeration<E: RawRepresentable & CaseIterable>(_ name: String, as type: E.Type) -> E?
    where E.RawValue == String {
        let raw: String
        switch take(name) {
        case nil: return nil
        case .text(let s), .json(.string(let s)): raw = s
        case .json(let other):
            report(name, "expected a string, got \(other.kindDescription)")
            return nil
        }
        guard let v = E(rawValue: raw) else {
            report(name, "'\(raw)' is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return v
    }

    /// Reports every property nobody read as unexpected (QEMU: "Parameter 'x' is unexpected"),
    /// or, for names in `unmodelled`, as real QEMU properties igvm-mgr cannot represent; returns
    /// all problems found.
    public mutating func finish(type: String, unmodelled: Set<String> = []) -> [Problem] {
        for (name, _) in values {
            if unmodelled.contains(name) {
                report(name, "QEMU's \(type) has this property, but igvm-mgr does not model it")
            } else {
                report(name, "\(type) has no property '\(name)'")
            }
        }
        values.removeAll()
        return problems
    }
}

/// QEMU's C number parsing for keyval text.
enum CNumber {
    static func isCSpace(_ c: Character) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\u{0B}" || c == "\u{0C}" || c == "\r"
    }

    /// `qemu_strtou64(s, NULL, 0, &v)`: leading C whitespace, optional `+`, then `0x` hex, `0`
    /// octal or decimal, to the end of the string; no sign `-`, no overflow.
    static func strtou64(_ text: String) -> UInt64? {
        var s = Substring(text)
        while let c = s.first, isCSpace(c) { s = s.dropFirst() }
        if s.first == "+" { s = s.dropFirst() }
        guard !s.isEmpty else { return nil }
        let radix: Int
        if (s.hasPrefix("0x") || s.hasPrefix("0X")) && s.count > 2 {
            s = s.dropFirst(2)
            radix = 16
        } else if s.hasPrefix("0") && s.count > 1 {
            radix = 8
        } else {
            radix = 10
        }
        return Numeral.digits(s, radix: radix)
    }

    /// `qemu_strtosz`: a decimal (or `0x` hex) number, an optional decimal fraction, an optional
    /// unit suffix B/K/M/G/T/P/E (any case, powers of 1024).
    static func strtosz(_ text: String) -> UInt64? {
        var s = Substring(text)
        while let c = s.first, isCSpace(c) { s = s.dropFirst() }
        var unitIndex = s.endIndex
        if let last = s.last, "bkmgtpeBKMGTPE".contains(last) { unitIndex = s.index(before: s.endIndex) }
        let number = s[..<unitIndex]
        let unit = s[unitIndex...].uppercased()
        let shifts: [String: UInt64] = ["": 0, "B": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60]
        guard let shift = shifts[unit], !number.isEmpty else { return nil }
        if number.hasPrefix("0x") || number.hasPrefix("0X") {
            guard let v = Numeral.digits(number.dropFirst(2), radix: 16) else { return nil }
            let (r, o) = v.multipliedReportingOverflow(by: 1 << shift)
            return o ? nil : r
        }
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = UInt64(parts[0]), parts[0].allSatisfy(\.isASCII) else { return nil }
        let (base, o) = whole.multipliedReportingOverflow(by: 1 << shift)
        if o { return nil }
        guard parts.count == 2 else { return base }
        // A fraction needs a unit above bytes, as in QEMU ("1.5G"); it is rounded down.
        guard shift > 0, !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let frac = Double("0." + parts[1]) else { return nil }
        let extra = UInt64(frac * Double(UInt64(1) << shift))
        let (sum, o2) = base.addingReportingOverflow(extra)
        return o2 ? nil : sum
    }
}
