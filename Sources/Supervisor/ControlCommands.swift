import VMState
import Launch
import JSON
import QMP

/// What the control socket answers, independent of the wire: one QMP command in, one QMP reply
/// (`{"return": …}` or `{"error": {"class", "desc"}}`) out.
///
/// QEMU's commands are passed through to the VM's monitor unchanged; the manager's own commands
/// carry the `x-igvm-mgr-` prefix so they can never collide with QEMU's.
public struct ControlCommands: Sendable {
    /// The manager's own commands, as listed by `query-commands` on the control socket.
    public static let managerCommands = ["x-igvm-mgr-status", "x-igvm-mgr-stop", "x-igvm-mgr-events"]

    let supervisor: Supervisor
    /// How long `x-igvm-mgr-status` waits for QEMU's own run state: briefly, because the
    /// manager's answer must not wait behind a slow pass-through command.
    static let statusProbeTimeout: Duration = .seconds(2)

    public init(supervisor: Supervisor) { self.supervisor = supervisor }

    /// Answers `command` with `arguments`; the result is the reply's `return` value or a QMP error.
    public func handle(_ command: String, arguments: JSONObject?) async -> Result<JSON, QMPCommandError> {
        switch command {
        case "x-igvm-mgr-status":
            return .success(await status())
        case "x-igvm-mgr-stop":
            switch StopArguments.parse(arguments) {
            case .success(let parsed): return await stop(parsed)
            case .failure(let error): return .failure(error)
            }
        case "x-igvm-mgr-events":
            return EventsArguments.parse(arguments).map { .array(EventLog.tail(supervisor.paths.eventLog, count: $0.tail)) }
        case "query-commands":
            // QEMU's list plus ours, so that qmp-shell completes them.
            let theirs = (try? await supervisor.execute(command, arguments: arguments))?.arrayValue ?? []
            return .success(.array(theirs + Self.managerCommands.map { ["name": .string($0)] }))
        default:
            do {
                return .success(try await supervisor.execute(command, arguments: arguments))
            } catch let error as QMPCommandError {
                return .failure(error)
            } catch {
                return .failure(QMPCommandError(command: command, errorClass: "GenericError", desc: "\(error)"))
            }
        }
    }

    private func status() async -> JSON {
        var result = (await supervisor.currentState()).json
        if case .object(var o) = result {
            o["qmp-status"] = (try? await supervisor.execute("query-status", arguments: nil, timeout: Self.statusProbeTimeout)) ?? .null
            o["console"] = await supervisor.consoleAttachment()
            result = .object(o)
        }
        return result
    }

    private func stop(_ arguments: StopArguments) async -> Result<JSON, QMPCommandError> {
        let (mode, timeout) = (arguments.mode, arguments.timeout)
        do {
            let outcome = try await supervisor.stop(mode: mode, timeout: timeout)
            var reply = outcome.json
            if let exit = await supervisor.currentState().lastExit { reply["exit"] = exit.json }
            // A stop whose record could not be written must not look like a clean one.
            if let problem = await supervisor.stateProblem() { reply["state-error"] = .string(problem) }
            return .success(reply)
        } catch {
            return .failure(QMPCommandError(command: "x-igvm-mgr-stop", errorClass: "GenericError", desc: error.description))
        }
    }
}
