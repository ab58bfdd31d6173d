/// Refuses, before toml++ sees them, the invalid documents toml++ cannot be trusted with.
///
/// toml++ 3.x (the copy TOMLKit 0.6.0 bundles) guards some of its parser's steps only with
/// `TOML_ASSERT_ASSUME` (toml.hpp): SwiftPM builds C++ without NDEBUG, so such input aborts the
/// process, and with NDEBUG the assertion becomes an optimiser assumption, undefined behaviour.
/// The libFuzzer target found two:
/// - a table header whose key starts with neither a bare-key character nor a quote (`[!a]`,
///   `[.a]`, `[é]`, `[[[a]]]`, a `[` ending its line): `parser::parse_key()`;
/// - a bare value its type guess sends to the wrong reader, e.g. `1979-05-27T?07:32:00""` read
///   as a date-time: `parser::parse_time()`.
///
/// So headers' first key characters and every bare value (number, boolean, date, time) are
/// checked against the TOML 1.0 grammar (toml.io/en/v1.0.0, and its ABNF `toml.abnf`), and so is
/// what follows a value. Nothing valid is refused: every check is a rule of that grammar.
/// Strings, comments, arrays and inline tables are followed just far enough to know where keys,
/// values and headers are; keys and strings themselves are left to toml++, which reports their
/// errors properly.
enum TOMLPreflight {
    struct Finding: Equatable {
        /// 1-based line and column (in Unicode scalars, as toml++ counts) of the offending text.
        var line: Int
        var column: Int
        var message: String
    }

    static func firstFinding(_ text: String) -> Finding? {
        var scanner = Scanner(bytes: Array(text.utf8))
        return scanner.run()
    }

    private enum Expect { case key, value, afterValue }
    private enum Container { case array, inlineTable }

    private struct Scanner {
        let bytes: [UInt8]
        var i = 0
        var line = 1
        var lineStart = 0
        var containers: [Container] = []
        var expect = Expect.key
        var atStatementStart = true

        init(bytes: [UInt8]) {
            self.bytes = bytes
            // toml++ skips a UTF-8 byte order mark; so does the scan, or `\u{FEFF}[!a]` would pass.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        }

        mutating func run() -> Finding? {
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\n") {
                    newline()
                    if containers.isEmpty { atStatementStart = true; expect = .key }
                    continue
                }
                if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") { i += 1; continue }
                if c == UInt8(ascii: "#") { skipToEndOfLine(); continue }
                if atStatementStart && c == UInt8(ascii: "[") {
                    atStatementStart = false
                    if let finding = checkHeader() { return finding }
                    continue
                }
                atStatementStart = false
                let finding: Finding?
                switch expect {
                case .key: finding = scanKey(c)
                case .value: finding = scanValue(c)
                case .afterValue: finding = scanAfterValue(c)
                }
                if let finding { return finding }
            }
            return nil
        }

        // MARK: Keys, values and what follows them

        /// Key characters and quoted keys up to `=`; toml++ checks the key itself.
        mutating func scanKey(_ c: UInt8) -> Finding? {
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): skipSingleLineString(quote: c)
            case UInt8(ascii: "="): expect = .value; i += 1
            case UInt8(ascii: "}") where containers.last == .inlineTable:  // `{}` or a trailing `}`
                containers.removeLast()
                expect = .afterValue
                i += 1
            default: i += 1
            }
            return nil
        }

        mutating func scanValue(_ c: UInt8) -> Finding? {
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                if startsTripleQuote(c) { skipMultiLineString(quote: c) } else { skipSingleLineString(quote: c) }
                expect = .afterValue
            case UInt8(ascii: "["):
                containers.append(.array)
                i += 1
            case UInt8(ascii: "]") where containers.last == .array:  // `[]` or a trailing comma
                containers.removeLast()
                expect = .afterValue
                i += 1
            case UInt8(ascii: "{"):
                containers.append(.inlineTable)
                expect = .key
                i += 1
            default:
                return scanBareValue()
            }
            return nil
        }

        /// A value is followed by blanks, a comment, a newline, or (inside an array or inline
        /// table) a comma or the closing bracket.
        mutating func scanAfterValue(_ c: UInt8) -> Finding? {
            switch (c, containers.last) {
            case (UInt8(ascii: ","), .array?): expect = .value
            case (UInt8(ascii: ","), .inlineTable?): expect = .key
            case (UInt8(ascii: "]"), .array?), (UInt8(ascii: "}"), .inlineTable?): containers.removeLast()
            default:
                return Finding(line: line, column: column(of: i),
                               message: "expected a comma, a closing bracket, a comment or a new line after a value, saw \(describe(at: i))")
            }
            i += 1
            return nil
        }

        /// A number, boolean, date or time: the run of characters up to the next separator.
        mutating func scanBareValue() -> Finding? {
            let start = i
            skipBareRun()
            // A date, a space and a time are one value (ABNF `time-delim`).
            if TOMLScalar.isFullDate(bytes[start..<i]), i + 1 < bytes.count, bytes[i] == UInt8(ascii: " "),
               TOMLScalar.isDigit(bytes[i + 1]) {
                i += 1
                skipBareRun()
            }
            guard TOMLScalar.isValid(bytes[start..<i]) else {
                let token = String(decoding: bytes[start..<min(i, start + 40)], as: UTF8.self)
                return Finding(line: line, column: column(of: start),
                               message: "\(Self.quoted(token)) is not a TOML value (a string, number, boolean, date or time)")
            }
            expect = .afterValue
            return nil
        }

        mutating func skipBareRun() {
            while i < bytes.count, !Self.endsBareValue(bytes[i]) { i += 1 }
        }

        static func endsBareValue(_ c: UInt8) -> Bool {
            c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") || c == UInt8(ascii: "\n")
                || c == UInt8(ascii: ",") || c == UInt8(ascii: "]") || c == UInt8(ascii: "}") || c == UInt8(ascii: "#")
        }

        // MARK: Headers

        /// At a header's `[`: checks the key's first character as toml++'s table-header parser
        /// reaches it, then skips the rest of the header's line.
        mutating func checkHeader() -> Finding? {
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
            if !(TOMLScalar.isBareKeyCharacter(c) || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") || c == UInt8(ascii: "]")) {
                return Finding(line: line, column: column(of: i),
                               message: "a table header's key must start with a letter, digit, '-', '_' or a quote, saw \(describe(at: i))")
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

        // MARK: Strings, comments, positions

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

        func column(of index: Int) -> Int {
            String(decoding: bytes[lineStart..<index], as: UTF8.self).unicodeScalars.count + 1
        }

        /// `'x'` for printable ASCII, else `U+XXXX`.
        func describe(at index: Int) -> String {
            let scalar = String(decoding: bytes[index..<min(index + 4, bytes.count)], as: UTF8.self).unicodeScalars.first!
            if scalar.value > 0x20 && scalar.value < 0x7f { return "'\(Character(scalar))'" }
            return "U+" + String(repeating: "0", count: max(0, 4 - String(scalar.value, radix: 16).count))
                + String(scalar.value, radix: 16, uppercase: true)
        }

        static func quoted(_ s: String) -> String { JSONQuoted(s) }
    }
}

/// The bare values of TOML 1.0's ABNF (toml.io/en/v1.0.0, `toml.abnf`): booleans, integers
/// (decimal, `0x`, `0o`, `0b`, `_` only between digits), floats (`inf`, `nan`), dates, times and
/// date-times. Ranges (month 13, hour 25) are left to toml++, which reports them.
enum TOMLScalar {
    static func isValid(_ t: ArraySlice<UInt8>) -> Bool {
        t.elementsEqual("true".utf8) || t.elementsEqual("false".utf8) || isInteger(t) || isFloat(t) || isDateTime(t)
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    static func isBareKeyCharacter(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }

    /// `digit *( digit / "_" digit )` from `i`: moves past it; false (not moved) when none.
    static func digits(_ t: ArraySlice<UInt8>, _ i: inout Int, _ isDigit: (UInt8) -> Bool) -> Bool {
        guard i < t.endIndex, isDigit(t[i]) else { return false }
        i += 1
        while i < t.endIndex {
            if isDigit(t[i]) { i += 1 } else if t[i] == UInt8(ascii: "_"), i + 1 < t.endIndex, isDigit(t[i + 1]) { i += 2 } else { break }
        }
        return true
    }

    /// `dec-int`'s digits: `0`, or a non-zero digit and more (no leading zero).
    static func decimalIntegerPart(_ t: ArraySlice<UInt8>, _ i: inout Int) -> Bool {
        guard i < t.endIndex, isDigit(t[i]) else { return false }
        if t[i] == UInt8(ascii: "0") { i += 1; return true }
        return digits(t, &i, isDigit)
    }

    static func skipSign(_ t: ArraySlice<UInt8>, _ i: inout Int) {
        if i < t.endIndex, t[i] == UInt8(ascii: "+") || t[i] == UInt8(ascii: "-") { i += 1 }
    }

    static func isInteger(_ t: ArraySlice<UInt8>) -> Bool {
        var i = t.startIndex
        if t.count > 2, t[i] == UInt8(ascii: "0") {
            let radixDigit: ((UInt8) -> Bool)?
            switch t[i + 1] {
            case UInt8(ascii: "x"): radixDigit = { isDigit($0) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66) }
            case UInt8(ascii: "o"): radixDigit = { $0 >= 0x30 && $0 <= 0x37 }
            case UInt8(ascii: "b"): radixDigit = { $0 == 0x30 || $0 == 0x31 }
            default: radixDigit = nil
            }
            if let radixDigit {
                i += 2
                return digits(t, &i, radixDigit) && i == t.endIndex
            }
        }
        skipSign(t, &i)
        return decimalIntegerPart(t, &i) && i == t.endIndex
    }

    static func isFloat(_ t: ArraySlice<UInt8>) -> Bool {
        var i = t.startIndex
        skipSign(t, &i)
        let rest = t[i...]
        if rest.elementsEqual("inf".utf8) || rest.elementsEqual("nan".utf8) { return true }
        guard decimalIntegerPart(t, &i) else { return false }
        var fractionOrExponent = false
        if i < t.endIndex, t[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(t, &i, isDigit) else { return false }
            fractionOrExponent = true
        }
        if i < t.endIndex, t[i] == UInt8(ascii: "e") || t[i] == UInt8(ascii: "E") {
            i += 1
            skipSign(t, &i)
            guard digits(t, &i, isDigit) else { return false }
            fractionOrExponent = true
        }
        return fractionOrExponent && i == t.endIndex
    }

    static func isFullDate(_ t: ArraySlice<UInt8>) -> Bool {
        var i = t.startIndex
        return fullDate(t, &i) && i == t.endIndex
    }

    /// `local-time`, `full-date`, or a date, `T`/`t`/space and a time, with an optional offset
    /// (`Z`, `z`, `+HH:MM`, `-HH:MM`) after a date-time.
    static func isDateTime(_ t: ArraySlice<UInt8>) -> Bool {
        var i = t.startIndex
        if partialTime(t, &i) { return i == t.endIndex }
        i = t.startIndex
        guard fullDate(t, &i) else { return false }
        if i == t.endIndex { return true }
        guard t[i] == UInt8(ascii: "T") || t[i] == UInt8(ascii: "t") || t[i] == UInt8(ascii: " ") else { return false }
        i += 1
        guard partialTime(t, &i) else { return false }
        if i == t.endIndex { return true }
        if t[i] == UInt8(ascii: "Z") || t[i] == UInt8(ascii: "z") { return i + 1 == t.endIndex }
        guard t[i] == UInt8(ascii: "+") || t[i] == UInt8(ascii: "-") else { return false }
        i += 1
        return fixed(t, &i, 2) && literal(t, &i, ":") && fixed(t, &i, 2) && i == t.endIndex
    }

    static func fullDate(_ t: ArraySlice<UInt8>, _ i: inout Int) -> Bool {
        fixed(t, &i, 4) && literal(t, &i, "-") && fixed(t, &i, 2) && literal(t, &i, "-") && fixed(t, &i, 2)
    }

    /// `HH:MM:SS` and an optional `.` fraction.
    static func partialTime(_ t: ArraySlice<UInt8>, _ i: inout Int) -> Bool {
        guard fixed(t, &i, 2) && literal(t, &i, ":") && fixed(t, &i, 2) && literal(t, &i, ":") && fixed(t, &i, 2) else { return false }
        if i < t.endIndex, t[i] == UInt8(ascii: ".") {
            i += 1
            guard i < t.endIndex, isDigit(t[i]) else { return false }
            while i < t.endIndex, isDigit(t[i]) { i += 1 }
        }
        return true
    }

    static func fixed(_ t: ArraySlice<UInt8>, _ i: inout Int, _ n: Int) -> Bool {
        guard t.endIndex - i >= n, t[i..<(i + n)].allSatisfy(isDigit) else { return false }
        i += n
        return true
    }

    static func literal(_ t: ArraySlice<UInt8>, _ i: inout Int, _ c: Unicode.Scalar) -> Bool {
        guard i < t.endIndex, t[i] == UInt8(ascii: c) else { return false }
        i += 1
        return true
    }
}
