import ArgumentParser
import Launch
import VMState
import Lifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `--state-dir`, shared by every lifecycle command.
struct StateDirectoryOption: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "The state directory (default: $IGVM_MGR_STATE_DIR, else $XDG_RUNTIME_DIR/igvm-mgr, or /run/igvm-mgr for root).",
        valueName: "path"))
    var path: String?

    func resolve() throws -> StateDirectory {
        do {
            return try StateDirectory.resolve(explicit: path, environment: StateDirectory.processEnvironment())
        } catch {
            Output.error(error.description)
            throw ExitStatus.usage
        }
    }

    /// The lifecycle of the resolved state directory.
    func lifecycle() throws -> Lifecycle { Lifecycle(stateDirectory: try resolve()) }

    /// The named VM as it is now; an unknown or bad name is reported and ends the command.
    func observe(_ name: String) throws -> VMObservation {
        let lifecycle = try lifecycle()
        do { return try lifecycle.observe(name) } catch { throw failure(error) }
    }
}

/// The exit-status paragraph every lifecycle command's `--help` ends with.
enum LifecycleHelp {
    static let exitCodes = """
        Exit status: 0 success; 1 the operation failed (QEMU refused to start, the host cannot \
        run the VM, the VM is busy, a timeout); 2 usage error or unusable input (bad name, no \
        such VM, unreadable config).
        """
}

extension LifecycleError {
    /// The CLI exit status for this error.
    var exitStatus: ExitCode {
        switch self {
        case .invalidInput, .notFound: return ExitStatus.usage
        default: return ExitStatus.failure
        }
    }
}

/// Reports `error` on stderr (one line, or QEMU's lines indented after it) and returns the exit code.
/// `name`: the VM it is about, when the command works on several (the line then names it).
func failure(_ error: any Error, of name: String? = nil) -> ExitCode {
    let prefix = name.map { "\($0): " } ?? ""
    if let lifecycle = error as? LifecycleError {
        Output.error(prefix + lifecycle.description)
        return lifecycle.exitStatus
    }
    Output.error(prefix + "\(error)")
    return ExitStatus.failure
}

/// The path of this executable (the supervisor is a mode of the same binary).
func ownExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return CommandLine.arguments[0] }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
