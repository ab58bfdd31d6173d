/// Finds the table headers toml++ cannot be trusted with.
///
/// toml++ 3.x (the copy TOMLKit 0.6.0 bundles) checks the first character of a key everywhere
/// except in a table header: after `[` or `[[` and blanks, `parser::parse_key()` only asserts
/// (`TOML_ASSERT_ASSUME(is_bare_key_character(*cp) || is_string_delimiter(*cp))`, toml.hpp). SwiftPM
/// builds C++ without NDEBUG, so `[!a]`, `[.a]`, `[é]`, `[[[a]]]` or a `[` ending its line abort
/// the process; with NDEBUG the assertion becomes an optimiser assumption, undefined behaviour.
/// No such document is valid TOML (toml.io v1.0.0, "Table": a header holds a key, and a key starts
/// with a bare-key character or a quote), so it is refused here, before toml++ sees it.
///
/// The scan follows just enough of TOML to know where headers are: strings of all four kinds
/// (a `[` inside them is text), comments, and the arrays and inline tables of values (a `[` that
/// starts a line inside an array is a value). It never refuses a valid document.
enum TOMLHeaderScan {
    struct BadHeader: Equatable {
        /// 1-based line and column (in Unicode scalars, as toml++ counts) of the offending character.
        var line: Int
        var column: Int
        /// The character as the message shows it: `'!'`, or `U+0004` when not printable ASCII.
        var found: String

        var message: String {
            "a table header's key must start with a letter, digit, '-', '_' or a quote, saw \(found)"
        }
    }

    static func firstBadHeader(_ text: String) -> BadHeader? {
        var scanner = Scanner(bytes: Array(text.utf8))
        return scanner.run()
    }

    private struct Scanner {
        let bytes: [UInt8]
        var i = 0
        var line = 1
        var lineStart = 0
        /// Open arrays and inline tables of the current value.
        var depth = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func run() -> BadHeader? {
            var atStatementStart = true
            while i < bytes.count {
                let c = bytes[i]
                switch c {
                case UInt8(ascii: "\n"):
                    newline()
                    if depth == 0 { atStatementStart = true }
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                    i += 1
                case UInt8(ascii: "#"):
                    skipToEndOfLine()
                case UInt8(ascii: "[") where atStatementStart && depth == 0:
                    atStatementStart = false
                    if let bad = checkHeader() { return bad }
                default:
                    atStatementStart = false
                    scanValueCharacter(c)
                }
            }
            return nil
        }

        mutating func newline() {
            i += 1
            line += 1
            lineStart = i
        }

        mutating func skipToEndOfLine() {
            while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
        }

        mutating func skipBlanks() -> Bool {
            let start = i
            while i < bytes.count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") { i += 1 }
            return i > start
        }

        /// At a header's `[`: checks the key's first character as toml++'s table-header parser
        /// reaches it, then skips the rest of the header's line.
        mutating func checkHeader() -> BadHeader? {
            i += 1
            let blankAfterFirst = skipBlanks()
            if i < bytes.count, bytes[i] == UInt8(ascii: "[") {
                // `[ [`: toml++ reports "brackets must be contiguous" itself.
                if blankAfterFirst { skipHeaderRest(); return nil }
                i += 1
                _ = skipBlanks()
            }
            // The end of the document and a premature `]` are reported by toml++ itself.
            guard i < bytes.count else { return nil }
            let c = bytes[i]
            if !(Self.isBareKeyCharacter(c) || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") || c == UInt8(ascii: "]")) {
                return BadHeader(line: line, column: column(of: i), found: describe(at: i))
            }
            skipHeaderRest()
            return nil
        }

        /// The rest of a header's line; quoted keys may hold `]` and `#`.
        mutating func skipHeaderRest() {
            while i < bytes.count, bytes[i] != UInt8(ascii: "\n") {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                    skipSingleLineString(quote: c)
                } else if c == UInt8(ascii: "#") {
                    skipToEndOfLine()
                } else {
                    i += 1
                }
            }
        }

        mutating func scanValueCharacter(_ c: UInt8) {
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                if startsTripleQuote(c) { skipMultiLineString(quote: c) } else { skipSingleLineString(quote: c) }
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                i += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth = max(0, depth - 1)
                i += 1
            default:
                i += 1
            }
        }

        func startsTripleQuote(_ q: UInt8) -> Bool {
            i + 2 < bytes.count && bytes[i + 1] == q && bytes[i + 2] == q
        }

        /// `"…"` (backslash escapes) or `'…'` (none); ends at the quote or the line's end.
        mutating func skipSingleLineString(quote q: UInt8) {
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: "\n") {
                if bytes[i] == UInt8(ascii: "\\") && q == UInt8(ascii: "\"") { i += 2; continue }
                i += 1
                if bytes[i - 1] == q { return }
            }
        }

        /// `"""…"""` or `'''…'''`; up to two more quotes right after the closing three belong to
        /// the string (toml.io v1.0.0, "String").
        mutating func skipMultiLineString(quote q: UInt8) {
            i += 3
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\n") { newline(); continue }
                if c == UInt8(ascii: "\\") && q == UInt8(ascii: "\"") {
                    i += 1
                    if i < bytes.count, bytes[i] == UInt8(ascii: "\n") { newline() } else { i += 1 }
                    continue
                }
                if c == q && startsTripleQuote(q) {
                    i += 3
                    var extra = 0
                    while extra < 2, i < bytes.count, bytes[i] == q { i += 1; extra += 1 }
                    return
                }
                i += 1
            }
        }

        static func isBareKeyCharacter(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
        }

        func column(of index: Int) -> Int {
            String(decoding: bytes[lineStart..<index], as: UTF8.self).unicodeScalars.count + 1
        }

        func describe(at index: Int) -> String {
            let scalar = String(decoding: bytes[index..<min(index + 4, bytes.count)], as: UTF8.self).unicodeScalars.first!
            if scalar.value > 0x20 && scalar.value < 0x7f { return "'\(Character(scalar))'" }
            return "U+" + String(repeating: "0", count: max(0, 4 - String(scalar.value, radix: 16).count))
                + String(scalar.value, radix: 16, uppercase: true)
        }
    }
}
