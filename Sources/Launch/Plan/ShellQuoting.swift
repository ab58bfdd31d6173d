import Foundation

/// Quoting argv words for a POSIX `sh` command line, so that `igvm-mgr args` output can be
/// pasted into a shell and gives QEMU exactly the same argv.
public enum ShellQuoting {
    /// `word` unchanged when every character is one sh never interprets, else in single quotes
    /// (inside which nothing is special) with each `'` written as `'\''`.
    public static func quote(_ word: String) -> String {
        if !word.isEmpty && word.utf8.allSatisfy(isPlain) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
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
