import Foundation

/// A QEMU built with IGVM support (QEMU 10.2 or newer with libigvm: the tests load native
/// guests, which QEMU's IGVM loader takes from 10.2; 10.1 loads only confidential ones), named by
/// `IGVM_MGR_TEST_QEMU_IGVM`. The installed Debian QEMU has none, so the tests that need one
/// are skipped, naming the variable, when it is unset.
public enum QEMUWithIGVM {
    public static let variable = "IGVM_MGR_TEST_QEMU_IGVM"

    /// The binary, or nil when the variable is unset or empty.
    public static var binary: String? {
        guard let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty else { return nil }
        return path
    }

    public static let skipReason = "\(variable) is not set: give it a qemu-system-x86_64 10.2 or newer built with IGVM support"

    /// Starts `binary` with the IGVM file as a native guest (no confidential-guest object, TCG)
    /// on `machine` with `memory` (as -m takes it), stopped (-S), and quits it over QMP on stdin:
    /// a file QEMU loads ends with status 0, one it refuses with status 1 and its error line.
    public static func load(_ file: String, machine: String, memory: String, binary: String) throws -> QEMULoadOutcome {
        let result = try TestProcess.run(binary, [
            "-machine", "\(machine),igvm-cfg=igvm0", "-object", "igvm-cfg,id=igvm0,file=\(file)",
            "-m", memory, "-accel", "tcg", "-nodefaults", "-display", "none", "-S", "-qmp", "stdio",
        ], stdin: Data("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n".utf8))
        return QEMULoadOutcome(status: result.status, signal: result.signal, stderr: result.stderr)
    }
}

/// How a QEMU run with an IGVM file ended, from its exit status and standard error.
public enum QEMULoadOutcome: Sendable, Equatable, CustomStringConvertible {
    case loaded
    /// QEMU exited non-zero; its error lines (the "qemu-system-x86_64: " prefix kept).
    case refused(status: Int32, stderr: String)
    /// QEMU died of a signal (SIGABRT from a libigvm panic or an assertion, SIGSEGV).
    case crashed(signal: Int32)

    public init(status: Int32, signal: Int32?, stderr: String) {
        if let signal {
            self = .crashed(signal: signal)
        } else if status == 0 {
            self = .loaded
        } else {
            self = .refused(status: status, stderr: stderr)
        }
    }

    public var description: String {
        switch self {
        case .loaded: "QEMU loaded the file"
        case .refused(let status, let stderr): "QEMU exited \(status): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
        case .crashed(let signal): "QEMU died of signal \(signal)"
        }
    }

    /// True when `stderr` holds QEMU's message `format` (a printf format whose `%s` stand for
    /// what the caller does not know, such as the file name): its pieces in order on one line.
    public static func stderr(_ stderr: String, matches format: String) -> Bool {
        let pieces = format.components(separatedBy: "%s")
        return stderr.split(separator: "\n").contains { line in
            var rest = Substring(line)
            for piece in pieces {
                guard let found = rest.range(of: piece) else { return false }
                rest = rest[found.upperBound...]
            }
            return true
        }
    }
}
