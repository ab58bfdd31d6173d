/// A JSON value.
///
/// Integers are kept exactly over the whole int64 *and* uint64 range, because QMP
/// carries both (a `uint64` property such as `sev-snp-guest.policy` may be above
/// `Int64.max`). The invariant: `.unsigned` only ever holds values above `Int64.max`;
/// everything that fits an `Int64` is `.integer`. Use `JSON(_: UInt64)` to build one
/// from a `UInt64` and the invariant holds by construction.
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// Only for values above `Int64.max` (see the type's documentation).
    case unsigned(UInt64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)
}

extension JSON {
    public init(_ value: Int64) { self = .integer(value) }
    public init(_ value: Int) { self = .integer(Int64(value)) }
    public init(_ value: UInt64) {
        self = value > UInt64(Int64.max) ? .unsigned(value) : .integer(Int64(value))
    }
    public init(_ value: UInt32) { self = .integer(Int64(value)) }
    public init(_ value: Bool) { self = .bool(value) }
    public init(_ value: String) { self = .string(value) }
    public init(_ value: Double) { self = .double(value) }
    public init(_ value: [JSON]) { self = .array(value) }
    public init(_ value: JSONObject) { self = .object(value) }
}

// MARK: - Accessors

extension JSON {
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }

    public var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }

    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }

    /// The value as an `Int64`, if it is an integer that fits.
    public var int64Value: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }

    /// The value as a `UInt64`, if it is a non-negative integer.
    public var uint64Value: UInt64? {
        switch self {
        case .integer(let i) where i >= 0: return UInt64(i)
        case .unsigned(let u): return u
        default: return nil
        }
    }

    /// The value as an `Int`, if it is an integer that fits.
    public var intValue: Int? { int64Value.flatMap { Int(exactly: $0) } }

    /// Any number as a `Double` (integers converted, possibly rounding).
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .integer(let i): return Double(i)
        case .unsigned(let u): return Double(u)
        default: return nil
        }
    }

    /// `object[key]`, or nil when this is not an object or has no such key.
    public subscript(key: String) -> JSON? {
        get { objectValue?[key] }
        set {
            guard case .object(var o) = self else { return }
            o[key] = newValue
            self = .object(o)
        }
    }

    /// `array[index]`, or nil when this is not an array or the index is out of range.
    public subscript(index: Int) -> JSON? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }

    /// A short name of the value's kind, for error messages ("expected a string, got an array").
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .unsigned: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

// MARK: - Literals

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(JSONObject(elements))
    }
}

extension JSON: CustomStringConvertible {
    /// Compact JSON text.
    public var description: String { (try? encoded()) ?? "<unencodable JSON>" }
}
