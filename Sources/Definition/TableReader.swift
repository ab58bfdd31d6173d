import Foundation
import Numerals

/// Collects the problems found while reading one config file.
final class ProblemList {
    let file: String
    private(set) var problems: [ConfigProblem] = []

    init(file: String) { self.file = file }

    func add(_ key: String, _ message: String) {
        problems.append(ConfigProblem(file: file, key: key, message: message))
    }
}

/// Typed, checked access to one table of a VM definition.
///
/// Every accessor records which key it read; `finish()` reports every key nobody read, so a
/// misspelt key is an error instead of a silently ignored setting. A value of the wrong type is
/// recorded as a problem ("expected …, got …") and reads as absent, so that reading goes on and
/// all problems of a file are reported in one run.
final class TableReader {
    let entries: [(key: String, value: TOMLNode)]
    /// Dotted path of this table (`""` for the document, `"qemu"`, …).
    let path: String
    let problems: ProblemList
    /// The folder relative paths are resolved against: the config file's own.
    let baseDirectory: URL
    private var read: Set<String> = []

    init(entries: [(key: String, value: TOMLNode)], path: String, problems: ProblemList, baseDirectory: URL) {
        self.entries = entries
        self.path = path
        self.problems = problems
        self.baseDirectory = baseDirectory
    }

    /// The full dotted name of `key` in this table, as error messages print it.
    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Reports a problem about `key` of this table.
    func problem(_ key: String, _ message: String) { problems.add(keyPath(key), message) }

    /// Whether the table has `key` (without marking it read).
    func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// The raw value of `key`, marking it read.
    func value(_ key: String) -> TOMLNode? {
        read.insert(key)
        return entries.first { $0.key == key }?.value
    }

    /// Keys present in the table, in document (sorted) order.
    var keys: [String] { entries.map(\.key) }

    /// Marks `key` as read without interpreting it (another reader handles it).
    func claim(_ key: String) { read.insert(key) }

    func string(_ key: String, expected: String = "a string") -> String? {
        guard let node = value(key) else { return nil }
        guard case .string(let s) = node else {
            problem(key, "expected \(expected), got \(node.described)")
            return nil
        }
        return s
    }

    func bool(_ key: String) -> Bool? {
        guard let node = value(key) else { return nil }
        guard case .bool(let b) = node else {
            problem(key, "expected true or false, got \(node.described)")
            return nil
        }
        return b
    }

    /// An integer in `range` (TOML integers are int64; wider values are hex strings, see `hex`).
    func integer(_ key: String, in range: ClosedRange<Int64>) -> Int64? {
        guard let node = value(key) else { return nil }
        guard case .integer(let i) = node else {
            problem(key, "expected an integer from \(range.lowerBound) to \(range.upperBound), got \(node.described)")
            return nil
        }
        guard range.contains(i) else {
            problem(key, "expected an integer from \(range.lowerBound) to \(range.upperBound), got \(i)")
            return nil
        }
        return i
    }

    /// A 64-bit value written as a hex string (`"0x30000"`): TOML integers stop at INT64_MAX and a
    /// decimal policy is unreadable anyway. `example` is shown in the message.
    func hex(_ key: String, max: UInt64 = .max, example: String) -> UInt64? {
        guard let node = value(key) else { return nil }
        let expected = "a hex string like \"\(example)\""
        guard case .string(let s) = node else {
            problem(key, "expected \(expected), got \(node.described)")
            return nil
        }
        guard let parsed = HexNumber.parse(s) else {
            problem(key, "expected \(expected) (0x and 1 to 16 hex digits), got \(node.described)")
            return nil
        }
        guard parsed <= max else {
            problem(key, "expected \(expected) no larger than 0x\(String(max, radix: 16)), got \(node.described)")
            return nil
        }
        return parsed
    }

    /// A file path; relative paths are resolved against the config file's folder.
    func path(_ key: String) -> String? {
        guard let s = string(key, expected: "a file path (string)") else { return nil }
        guard !s.isEmpty else {
            problem(key, "expected a file path, got an empty string")
            return nil
        }
        return resolve(s)
    }

    /// `s` made absolute against the config file's folder.
    func resolve(_ s: String) -> String {
        if s.hasPrefix("/") { return URL(fileURLWithPath: s).standardizedFileURL.path }
        // appendingPathComponent, not URL(relativeTo:): the latter drops the last component of a
        // base that does not exist or lacks a trailing slash.
        return baseDirectory.appendingPathComponent(s).standardizedFileURL.path
    }

    /// A sub-table, or nil when absent (a non-table value is a problem).
    func table(_ key: String) -> TableReader? {
        guard let node = value(key) else { return nil }
        guard case .table(let entries) = node else {
            problem(key, "expected a table ([\(keyPath(key))]), got \(node.described)")
            return nil
        }
        return TableReader(entries: entries, path: keyPath(key), problems: problems, baseDirectory: baseDirectory)
    }

    /// An array of tables (`[[key]]`), each with its index in the path (`disk[0]`); empty when absent.
    func tables(_ key: String) -> [TableReader] {
        guard let node = value(key) else { return [] }
        guard case .array(let items) = node, items.allSatisfy({ if case .table = $0 { true } else { false } }) else {
            problem(key, "expected an array of tables ([[\(keyPath(key))]]), got \(node.described)")
            return []
        }
        return items.enumerated().compactMap { index, item in
            guard case .table(let entries) = item else { return nil }
            return TableReader(entries: entries, path: "\(keyPath(key))[\(index)]", problems: problems, baseDirectory: baseDirectory)
        }
    }

    /// An array of strings; nil when absent or not one.
    func strings(_ key: String, expected: String) -> [String]? {
        guard let node = value(key) else { return nil }
        guard case .array(let items) = node else {
            problem(key, "expected \(expected), got \(node.described)")
            return nil
        }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else {
                problem(key, "expected \(expected), got an element that is \(item.described)")
                return nil
            }
            out.append(s)
        }
        return out
    }

    /// One of `choices` (e.g. an enum's raw values); a problem names them all.
    func choice<T: RawRepresentable & CaseIterable>(_ key: String, as type: T.Type) -> T? where T.RawValue == String {
        let names = T.allCases.map { JSONQuoted($0.rawValue) }.joined(separator: ", ")
        guard let s = string(key, expected: "one of \(names)") else { return nil }
        guard let value = T(rawValue: s) else {
            problem(key, "expected one of \(names), got \(JSONQuoted(s))")
            return nil
        }
        return value
    }

    /// Reports every key that no accessor read. `allowed` lists the keys this table knows, for the message.
    func finish(allowed: [String]) {
        for (key, _) in entries where !read.contains(key) {
            problem(key, "unknown key (expected one of: \(allowed.joined(separator: ", ")))")
        }
    }
}

/// `0x`-prefixed hexadecimal numbers as config files write 64-bit values: `0x1f` / `0X1F`, 1 to
/// 16 digits, with `_` allowed only between two digits as in TOML's own integers
/// (`0x8000_0000`); a sign, a leading, trailing or doubled `_` is not a number.
public enum HexNumber {
    public static func parse(_ text: String) -> UInt64? {
        guard text.hasPrefix("0x") || text.hasPrefix("0X") else { return nil }
        let groups = text.dropFirst(2).split(separator: "_", omittingEmptySubsequences: false)
        guard groups.allSatisfy({ !$0.isEmpty }) else { return nil }
        return Numeral.hexDigits(groups.joined())
    }
}
