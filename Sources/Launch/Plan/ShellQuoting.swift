import Foundation

/// Quoting argv words for a POSIX `sh` command line, so that `igvm-mgr args` output can be
/// pasted into a shell and gives QEMU exactly the same argv.
public enum ShellQuoting {
    /// `word` unchanged when every character is one sh never interprets, else in single quotes
    /// (inside which nothing is special) with each `'` written as `'\''`.
    ///
    /// A word with another control character (ESC, CR, BEL…) or a bidirectional override is
    /// written in ANSI-C form instead, `$'…'` with those characters as `\xHH`/`\u` escapes
    /// (bash, zsh, ksh and POSIX.1-2024 `sh` read it back exactly): printed raw, such a byte
    /// would act on the terminal. Newline and tab stay inside single quotes, which every POSIX
    /// `sh` reads.
    public static func quote(_ word: String) -> String {
        if !word.isEmpty && word.utf8.allSatisfy(isPlain) { return word }
        if word.unicodeScalars.contains(where: isInvisible) { return ansiC(word) }
        return "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    static func ansiC(_ word: String) -> String {
        var out = "$'"
        for scalar in word.unicodeScalars {
            switch scalar {
            case "'": out += "\\'"
            case "\\": out += "\\\\"
            default:
                if isInvisible(scalar) {
                    out += scalar.value < 0x80 ? "\\x" + hex2(scalar.value) : "\\u" + String(scalar.value, radix: 16, uppercase: true)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "'"
    }

    private static func hex2(_ v: UInt32) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return h.count == 1 ? "0" + h : h
    }

    /// Control characters (C0 but newline and tab, DEL, C1) and bidirectional overrides: what
    /// acts on a terminal instead of being shown. The CLI's text output escapes the same set.
    public static func isInvisible(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x0A, 0x09: false
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// The words quoted and joined by single spaces.
    public static func line(_ words: [String]) -> String {
        words.map(quote).joined(separator: " ")
    }

    /// Characters that are literal anywhere in an unquoted sh word. `=` and `:` and `,` are
    /// literal in sh; `~` (tilde expansion at word start), `#` (comment at word start), globs,
    /// `$`, quotes, backslash, whitespace and control characters are not.
    private static func isPlain(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: ","),
             UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "+"), UInt8(ascii: "%"):
            return true
        default:
            return false
        }
    }
}
