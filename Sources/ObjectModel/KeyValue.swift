/// QEMU's `key=value,…` option syntax, as `-object` (QemuOpts) and `-machine` (keyval) parse it.
///
/// - A value's comma is written `,,`; nothing else is special in a value (`=`, newline, `}`
///   and non-ASCII pass through), so escaping commas is the whole of the quoting.
/// - The first parameter may be a bare word: the value of the implied key (`qom-type` for
///   `-object`, `type` for `-machine`), with the same `,,` rule.
/// - Keys are letters, digits, `-` and `_` (QEMU: "Invalid parameter 'a b'"); keys have no escape.
/// - A later bare word `flag` means `flag=on` and `noflag` means `flag=off` in QemuOpts (-object;
///   deprecated, QEMU warns); keyval (-machine) rejects it ("Expected '=' after parameter").
/// - A repeated key keeps the last value; a trailing comma is ignored.
public enum KeyValueSyntax {
    /// One parsed parameter.
    public struct Parameter: Sendable, Hashable {
        public var key: String
        public var value: String
        /// True for a deprecated short-form boolean (`flag` / `noflag`).
        public var shortFormBoolean: Bool
    }

    public struct SyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    // Everything here works on UTF-8 bytes, as QEMU does: a comma followed by a combining
    // mark is one Swift `Character` that is not equal to ",", and must still be escaped.

    /// `value` with every comma doubled.
    public static func escape(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count + 8)
        for b in value.utf8 {
            out.append(b)
            if b == comma { out.append(comma) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let comma = UInt8(ascii: ","), equals = UInt8(ascii: "=")

    /// QEMU's `is_help_option`: a bare `help` or `?` asks for help.
    static func isHelp(_ word: String) -> Bool { word == "help" || word == "?" }

    /// Renders `implied` (if any) as the first bare word, then `key=value` pairs. An implied value
    /// that would not read back as itself is written out as `key=value`: one holding `=` (it
    /// would read as a key), starting with `{` (QEMU would read JSON), `help`/`?` before any comma
    /// (QEMU prints help) or empty (keyval refuses an empty first parameter).
    public static func render(implied: (key: String, value: String)?, _ pairs: [(String, String)]) -> String {
        var parts: [String] = []
        if let implied {
            let v = implied.value
            if v.isEmpty || v.utf8.contains(equals) || v.utf8.first == UInt8(ascii: "{")
                || isHelp(String(decoding: v.utf8.prefix { $0 != comma }, as: UTF8.self)) {
                parts.append("\(implied.key)=\(escape(implied.value))")
            } else {
                parts.append(escape(implied.value))
            }
        }
        for (k, v) in pairs { parts.append("\(k)=\(escape(v))") }
        return parts.joined(separator: ",")
    }

    /// Parses `text`; the first bare word becomes `impliedKey`. `allowShortFormBooleans` is QemuOpts
    /// behaviour (`-object`, `-device`), off for keyval (`-machine`).
    public static func parse(_ text: String, impliedKey: String?, allowShortFormBooleans: Bool) throws(SyntaxError) -> [Parameter] {
        let bytes = Array(text.utf8)
        var result: [Parameter] = []
        var i = 0
        var first = true
        while i < bytes.count {
            var keyEnd = i
            while keyEnd < bytes.count, bytes[keyEnd] != equals, bytes[keyEnd] != comma { keyEnd += 1 }
            if keyEnd == bytes.count || bytes[keyEnd] == comma {
                let word = String(decoding: bytes[i..<keyEnd], as: UTF8.self)
                if isHelp(word) {
                    throw SyntaxError(message: "'\(word)' asks QEMU for help instead of setting anything")
                }
                if first, let impliedKey {
                    let (value, next) = readValue(bytes, from: i)
                    result.append(Parameter(key: impliedKey, value: value, shortFormBoolean: false))
                    i = next
                } else {
                    guard allowShortFormBooleans else {
                        throw SyntaxError(message: "expected '=' after parameter '\(word.replacingNewlines())'")
                    }
                    try checkKey(word)
                    if word.hasPrefix("no") {
                        result.append(Parameter(key: String(word.dropFirst(2)), value: "off", shortFormBoolean: true))
                    } else {
                        result.append(Parameter(key: word, value: "on", shortFormBoolean: true))
                    }
                    i = keyEnd + 1
                }
            } else {
                let key = String(decoding: bytes[i..<keyEnd], as: UTF8.self)
                try checkKey(key)
                let (value, next) = readValue(bytes, from: keyEnd + 1)
                result.append(Parameter(key: key, value: value, shortFormBoolean: false))
                i = next
            }
            first = false
        }
        return result
    }

    /// Reads a value up to a single comma (`,,` is a literal comma); returns the index after it.
    static func readValue(_ bytes: [UInt8], from start: Int) -> (String, Int) {
        var value: [UInt8] = []
        var i = start
        while i < bytes.count {
            if bytes[i] == comma {
                if i + 1 < bytes.count, bytes[i + 1] == comma {
                    value.append(comma)
                    i += 2
                    continue
                }
                return (String(decoding: value, as: UTF8.self), i + 1)
            }
            value.append(bytes[i])
            i += 1
        }
        return (String(decoding: value, as: UTF8.self), i)
    }

    static func checkKey(_ key: String) throws(SyntaxError) {
        guard !key.isEmpty else { throw SyntaxError(message: "empty parameter name") }
        guard key.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSetASCII.isAlnum($0) || $0 == "-" || $0 == "_") }) else {
            throw SyntaxError(message: "invalid parameter name '\(key.replacingNewlines())'")
        }
    }
}

enum CharacterSetASCII {
    static func isAlpha(_ s: Unicode.Scalar) -> Bool {
        (s >= "a" && s <= "z") || (s >= "A" && s <= "Z")
    }
    static func isAlnum(_ s: Unicode.Scalar) -> Bool {
        isAlpha(s) || (s >= "0" && s <= "9")
    }
}

/// QEMU's identifier rule (`id_wellformed` in util/id.c): an ASCII letter, then ASCII letters,
/// digits, `-`, `.`, `_`.
public enum IDRules {
    public static func isWellFormed(_ id: String) -> Bool {
        let scalars = Array(id.unicodeScalars)
        guard let first = scalars.first, CharacterSetASCII.isAlpha(first) else { return false }
        return scalars.dropFirst().allSatisfy { $0.isASCII && (CharacterSetASCII.isAlnum($0) || "-._".unicodeScalars.contains($0)) }
    }

    static func check(id: String, as object: String) -> [Problem] {
        guard !isWellFormed(id) else { return [] }
        return [Problem(.qemu, object: object, property: "id",
            "'\(id)' is not a valid QEMU id (a letter first, then letters, digits, '-', '.', '_')")]
    }
}
