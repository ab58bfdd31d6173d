import ArgumentParser
import JSON
import Launch

#if canImport(Glibc)
import Glibc
#endif

/// Exit codes shared by every command (documented in `igvm-mgr --help`).
enum ExitStatus {
    /// Success; for `validate`-like commands: valid (warnings allowed).
    static let ok = ExitCode(0)
    /// The thing asked about is invalid, or the operation failed.
    static let failure = ExitCode(1)
    /// Usage error, or input that could not be read at all.
    static let usage = ExitCode(2)
}

/// Writing results: plain text for people, JSON for scripts.
///
/// Text goes through `TerminalText.escape`: names, paths and messages come from definitions,
/// QEMU and QMP peers, and a raw ESC, CR or U+202E from them would reach the user's terminal.
enum Output {
    static func line(_ text: String) { print(TerminalText.escape(text)) }

    /// Pushes buffered stdout out now. Streams (`qmp --events`, `events --follow`) call it after
    /// each line: piped into another program, stdout is block-buffered and a consumer would
    /// see nothing until the buffer fills or the stream ends.
    static func flush() { fflush(nil) }  // nil: every output stream, stdout among them

    /// Pretty JSON on stdout.
    static func json(_ value: JSON) {
        print((try? value.encoded(pretty: true)) ?? "null")
    }

    /// One line on stderr, prefixed with the tool's name.
    static func error(_ message: String) {
        var err = StandardError()
        print("igvm-mgr: error: \(TerminalText.escape(message))", to: &err)
    }

    static func warning(_ message: String) {
        var err = StandardError()
        print("igvm-mgr: warning: \(TerminalText.escape(message))", to: &err)
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var copy = string
        copy.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}

/// Text made safe to print on a terminal: every control character but newline and tab (C0,
/// DEL, C1) and every bidirectional-override character (U+202A–U+202E, U+2066–U+2069, which
/// reorder what follows them on screen) is written as a visible escape (`\u{1B}`). Newlines stay:
/// the text's own lines are the caller's layout.
enum TerminalText {
    static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func needsEscape(_ s: Unicode.Scalar) -> Bool { ShellQuoting.isInvisible(s) }
}
