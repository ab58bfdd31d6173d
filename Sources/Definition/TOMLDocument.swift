import TOMLKit

/// A parsed TOML document as plain Swift values.
///
/// TOMLKit hands out classes wrapping toml++ nodes; converting once into this value tree keeps
/// TOMLKit at the edge of the module and makes the definition reader `Sendable` and testable.
/// Key order is toml++'s (sorted), which keeps error lists stable.
public indirect enum TOMLNode: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case double(Double)
    case bool(Bool)
    /// Dates and times have no use in a VM definition; kept only to name them in errors.
    case dateTime(String)
    case array([TOMLNode])
    case table([(key: String, value: TOMLNode)])

    public static func == (lhs: TOMLNode, rhs: TOMLNode) -> Bool {
        switch (lhs, rhs) {
        case let (.string(a), .string(b)): a == b
        case let (.integer(a), .integer(b)): a == b
        case let (.double(a), .double(b)): a == b
        case let (.bool(a), .bool(b)): a == b
        case let (.dateTime(a), .dateTime(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.table(a), .table(b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// How an error message names this value: `integer 196608`, `string "abc"`, `a table`.
    public var described: String {
        switch self {
        case .string(let s): "string \(JSONQuoted(s))"
        case .integer(let i): "integer \(i)"
        case .double(let d): "floating-point number \(d)"
        case .bool(let b): "boolean \(b)"
        case .dateTime(let d): "date/time \(d)"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

/// A string in double quotes with `"`, `\` and control characters escaped, so a message stays one line.
public func JSONQuoted(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f:
            out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

enum TOMLDocument {
    /// Parses TOML text. A syntax error becomes one problem naming the line and column.
    static func parse(_ text: String, file: String) throws(ConfigError) -> [(key: String, value: TOMLNode)] {
        // toml++ reads C strings: a NUL in the file would silently end the document early.
        if text.utf8.contains(0) {
            throw ConfigError(kind: .unreadable, problems: [
                ConfigProblem(file: file, key: "", message: "not a TOML document: the file contains a NUL byte")
            ])
        }
        if let line = nulEscapeLine(text) {
            // TOMLKit hands strings over as C strings, so "a\u0000b" would silently read as "a";
            // no QEMU argument can hold a NUL anyway.
            throw ConfigError(kind: .invalid, problems: [
                ConfigProblem(file: file, key: "", message: "line \(line): a \\u0000 escape (NUL) in a string: no QEMU argument can hold a NUL byte")
            ])
        }
        if let bad = TOMLPreflight.firstFinding(text) {
            // toml++ might abort on it (see TOMLPreflight) instead of reporting it.
            throw ConfigError(kind: .unreadable, problems: [
                ConfigProblem(file: file, key: "", message: "not valid TOML at line \(bad.line), column \(bad.column): \(bad.message)")
            ])
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let where_ = "line \(error.source.begin.line), column \(error.source.begin.column)"
            throw ConfigError(kind: .unreadable, problems: [
                ConfigProblem(file: file, key: "", message: "not valid TOML at \(where_): \(error.description)")
            ])
        } catch {
            throw ConfigError(kind: .unreadable, problems: [
                ConfigProblem(file: file, key: "", message: "not valid TOML: \(error)")
            ])
        }
        // TOMLKit 0.6.0's TOMLTable has no deinit: the toml++ tree it owns is never freed. Once
        // converted to TOMLNode, emptying it returns all but the empty root table to the heap
        // (found by the definition fuzzer, whose memory grew with every input).
        defer { table.clear() }
        return convert(table)
    }

    /// The line of the first `\u0000` / `\U00000000` escape (an odd run of backslashes before
    /// it), or nil. Conservative: the same text inside a literal string or a comment also counts.
    static func nulEscapeLine(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        var line = 1
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") { line += 1 }
            if bytes[i] == UInt8(ascii: "\\") {
                var run = 0
                while i + run < bytes.count && bytes[i + run] == UInt8(ascii: "\\") { run += 1 }
                let after = i + run
                if run % 2 == 1 && after < bytes.count {
                    let rest = bytes[after...]
                    if rest.starts(with: Array("u0000".utf8)) || rest.starts(with: Array("U00000000".utf8)) { return line }
                }
                i = after
                continue
            }
            i += 1
        }
        return nil
    }

    private static func convert(_ table: TOMLTable) -> [(key: String, value: TOMLNode)] {
        table.keys.compactMap { key in
            guard let value = table[key] else { return nil }
            return (key, convert(value))
        }
    }

    private static func convert(_ value: TOMLValueConvertible) -> TOMLNode {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .integer(Int64(value.int ?? 0))
        case .double: return .double(value.double ?? 0)
        case .bool: return .bool(value.bool ?? false)
        case .date, .time, .dateTime: return .dateTime(value.debugDescription)
        case .array: return .array((value.array ?? []).map { convert($0) })
        case .table: return .table(value.table.map(convert) ?? [])
        }
    }
}
