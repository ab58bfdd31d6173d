import ArgumentParser
import JSON

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
enum Output {
    static func line(_ text: String) { print(text) }

    /// Pretty JSON on stdout.
    static func json(_ value: JSON) {
        print((try? value.encoded(pretty: true)) ?? "null")
    }

    /// One line on stderr, prefixed with the tool's name.
    static func error(_ message: String) {
        var err = StandardError()
        print("igvm-mgr: error: \(message)", to: &err)
    }

    static func warning(_ message: String) {
        var err = StandardError()
        print("igvm-mgr: warning: \(message)", to: &err)
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
