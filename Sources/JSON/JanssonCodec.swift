import CJansson

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Malformed JSON text: where (1-based line and column, 0-based byte position) and why.
public struct JSONDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var position: Int
    public var message: String

    public init(line: Int, column: Int, position: Int, message: String) {
        self.line = line
        self.column = column
        self.position = position
        self.message = message
    }

    public var description: String { "invalid JSON at line \(line), column \(column): \(message)" }
}

/// A value JSON cannot represent (a NaN or an infinity).
public struct JSONEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { "cannot encode JSON: \(message)" }
}

// MARK: - Decoding

extension JSON {
    /// Decodes JSON text (any value at the top level, not only objects and arrays).
    ///
    /// Duplicate keys in an object are rejected: a model that keeps key order cannot keep
    /// both, and silently dropping one would hide a broken peer.
    public static func decode(_ text: String) throws(JSONDecodingError) -> JSON {
        var copy = text
        return try copy.withUTF8 { buffer in
            Result { () throws(JSONDecodingError) -> JSON in try decode(UnsafeRawBufferPointer(buffer)) }
        }.get()
    }

    /// Decodes JSON bytes (UTF-8).
    public static func decode(bytes: [UInt8]) throws(JSONDecodingError) -> JSON {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONDecodingError) -> JSON in try decode(buffer) }
        }.get()
    }

    /// Decodes JSON bytes (UTF-8) in place.
    public static func decode(_ buffer: UnsafeRawBufferPointer) throws(JSONDecodingError) -> JSON {
        // jansson stores integers as int64 and fails on anything larger ("too big integer").
        // QMP carries uint64 values above INT64_MAX, so those literals are found first,
        // blanked to `0` (padded with spaces, keeping every line and column the same for
        // error messages), and put back by their position among the integers.
        let scan = BigIntegerScan(buffer)
        let flags = JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES
        var error = json_error_t()
        let root: UnsafeMutablePointer<json_t>?
        if let patched = scan.patched {
            root = patched.withUnsafeBytes { p in
                json_loadb(p.baseAddress?.assumingMemoryBound(to: CChar.self), p.count, Int(flags), &error)
            }
        } else {
            root = json_loadb(
                buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count, Int(flags), &error)
        }
        guard let root else { throw JSONDecodingError(error) }
        defer { cjansson_decref(root) }
        var converter = TreeReader(bigIntegers: scan.bigIntegersByOrdinal)
        return converter.read(root)
    }
}

extension JSONDecodingError {
    init(_ error: json_error_t) {
        var e = error
        let text = withUnsafeBytes(of: &e.text) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        self.init(line: Int(error.line), column: Int(error.column), position: Int(error.position), message: text)
    }
}

/// Finds integer literals above `Int64.max` (and at most `UInt64.max`) outside strings.
private struct BigIntegerScan {
    /// The input with every such literal replaced by `0` and spaces; nil when there were none.
    var patched: [UInt8]?
    /// The literal's value, keyed by its index among all integer literals in document order.
    var bigIntegersByOrdinal: [Int: UInt64] = [:]

    init(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        var i = 0
        var ordinal = 0
        var inString = false
        while i < n {
            let c = bytes[i]
            if inString {
                if c == UInt8(ascii: "\\") { i += 2; continue }
                if c == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            if c == UInt8(ascii: "\"") { inString = true; i += 1; continue }
            guard c == UInt8(ascii: "-") || Self.isDigit(c) else { i += 1; continue }
            let start = i
            var isInteger = true
            i += 1
            while i < n {
                let d = bytes[i]
                if Self.isDigit(d) {
                } else if d == UInt8(ascii: ".") || d == UInt8(ascii: "e") || d == UInt8(ascii: "E")
                    || d == UInt8(ascii: "+") || d == UInt8(ascii: "-")
                {
                    isInteger = false
                } else {
                    break
                }
                i += 1
            }
            guard isInteger else { continue }
            // 9223372036854775808 has 19 digits: shorter literals always fit an Int64.
            if c != UInt8(ascii: "-"), i - start >= 19, let value = Self.parse(bytes, start..<i),
                value > UInt64(Int64.max)
            {
                if patched == nil { patched = Array(bytes) }
                patched![start] = UInt8(ascii: "0")
                for j in (start + 1)..<i { patched![j] = UInt8(ascii: " ") }
                bigIntegersByOrdinal[ordinal] = value
            }
            ordinal += 1
        }
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// The decimal value, or nil if it overflows a UInt64 (jansson then reports the error).
    private static func parse(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64? {
        var value: UInt64 = 0
        for j in range {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(bytes[j] - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = s
        }
        return value
    }
}

/// Turns a jansson tree into `JSON`, restoring the big integers by ordinal. jansson (2.8+)
/// iterates objects in insertion order and duplicates are rejected, so its traversal order
/// is the document order the scan counted in.
private struct TreeReader {
    let bigIntegers: [Int: UInt64]
    var ordinal = 0

    init(bigIntegers: [Int: UInt64]) { self.bigIntegers = bigIntegers }

    mutating func read(_ node: UnsafeMutablePointer<json_t>) -> JSON {
        switch cjansson_typeof(node) {
        case JSON_NULL: return .null
        case JSON_TRUE: return .bool(true)
        case JSON_FALSE: return .bool(false)
        case JSON_INTEGER:
            defer { ordinal += 1 }
            if let big = bigIntegers[ordinal] { return .unsigned(big) }
            return .integer(Int64(json_integer_value(node)))
        case JSON_REAL: return .double(json_real_value(node))
        case JSON_STRING:
            return .string(Self.string(json_string_value(node), json_string_length(node)))
        case JSON_ARRAY:
            let n = json_array_size(node)
            var items: [JSON] = []
            items.reserveCapacity(n)
            for i in 0..<n { items.append(read(json_array_get(node, i)!)) }
            return .array(items)
        case JSON_OBJECT:
            var object = JSONObject(minimumCapacity: json_object_size(node))
            var iter = json_object_iter(node)
            while let it = iter {
                let key = Self.string(json_object_iter_key(it), json_object_iter_key_len(it))
                object.appendNew(key, read(json_object_iter_value(it)!))
                iter = json_object_iter_next(node, it)
            }
            return .object(object)
        default:
            return .null
        }
    }

    /// A jansson string with its explicit length, so embedded NULs survive.
    static func string(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> String {
        guard let pointer else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }
}

// MARK: - Encoding

extension JSON {
    /// Encodes to JSON text: compact by default (one line, as QMP wants it), or indented
    /// by two spaces. Keys keep their order; non-ASCII stays UTF-8.
    public func encoded(pretty: Bool = false) throws(JSONEncodingError) -> String {
        String(decoding: try encodedBytes(pretty: pretty), as: UTF8.self)
    }

    /// The encoding as UTF-8 bytes (compact unless `pretty`), written by jansson straight into
    /// the array: no C string, no intermediate `String`.
    public func encodedBytes(pretty: Bool = false) throws(JSONEncodingError) -> [UInt8] {
        var writer = TreeWriter()
        let root = try writer.make(self)
        defer { cjansson_decref(root) }
        let indent: Int32 = pretty ? 2 : 0
        var flags = JSON_ENCODE_ANY | (17 << 11) /* JSON_REAL_PRECISION(17): doubles round-trip */
        flags |= pretty ? indent : JSON_COMPACT
        var bytes: [UInt8] = []
        let status = withUnsafeMutablePointer(to: &bytes) { out in
            json_dump_callback(root, { buffer, size, context in
                guard let buffer, let context else { return -1 }
                let out = context.assumingMemoryBound(to: [UInt8].self)
                buffer.withMemoryRebound(to: UInt8.self, capacity: size) {
                    out.pointee.append(contentsOf: UnsafeBufferPointer(start: $0, count: size))
                }
                return 0
            }, out, Int(flags))
        }
        guard status == 0 else { throw JSONEncodingError(message: "jansson could not serialise the value") }
        if let nonce = writer.nonce { return TreeWriter.restoreBigIntegers(in: bytes, nonce: nonce) }
        return bytes
    }
}

/// Builds a jansson tree. jansson cannot hold a uint64 above INT64_MAX, so such a value is
/// written as a marker string carrying a random nonce, and the marker is replaced by the
/// bare digits after serialisation. The nonce makes a collision with real data impossible
/// in practice.
private struct TreeWriter {
    var nonce: String?

    mutating func make(_ value: JSON) throws(JSONEncodingError) -> UnsafeMutablePointer<json_t> {
        switch value {
        case .null: return json_null()
        case .bool(let b): return cjansson_boolean(b ? 1 : 0)
        case .integer(let i): return json_integer(json_int_t(i))
        case .unsigned(let u):
            if nonce == nil { nonce = String(UInt64.random(in: 1...UInt64.max), radix: 16) }
            return Self.makeString("\u{1}u64:\(nonce!):\(u)")
        case .double(let d):
            guard d.isFinite, let node = json_real(d) else {
                throw JSONEncodingError(message: "\(d) is not a finite number")
            }
            return node
        case .string(let s): return Self.makeString(s)
        case .array(let items):
            let node = json_array()!
            for item in items {
                let child: UnsafeMutablePointer<json_t>
                do { child = try make(item) } catch {
                    cjansson_decref(node)
                    throw error
                }
                json_array_append_new(node, child)
            }
            return node
        case .object(let object):
            let node = json_object()!
            for (key, item) in object {
                let child: UnsafeMutablePointer<json_t>
                do { child = try make(item) } catch {
                    cjansson_decref(node)
                    throw error
                }
                var k = key
                k.withUTF8 { p in
                    p.withMemoryRebound(to: CChar.self) { _ = json_object_setn_new_nocheck(node, $0.baseAddress, $0.count, child) }
                }
            }
            return node
        }
    }

    static func makeString(_ s: String) -> UnsafeMutablePointer<json_t> {
        var copy = s
        return copy.withUTF8 { p in
            p.withMemoryRebound(to: CChar.self) { c in
                guard let base = c.baseAddress else { return json_string("")! }
                return json_stringn_nocheck(base, c.count)!
            }
        }
    }

    /// Replaces every `"\u0001u64:NONCE:DIGITS"` marker by the bare DIGITS.
    static func restoreBigIntegers(in bytes: [UInt8], nonce: String) -> [UInt8] {
        let marker = Array("\"\\u0001u64:\(nonce):".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == marker[0], bytes.count - i >= marker.count, bytes[i..<(i + marker.count)].elementsEqual(marker) {
                i += marker.count
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                    out.append(bytes[i])
                    i += 1
                }
                i += 1  // the closing quote
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }
}
