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

    public init(supervisor: Supervisor) { self.supervisor = supervisor }

    /// Answers `command` with `arguments`; the result is the reply's `return` value or a QMP error.
    public func handle(_ command: String, arguments: JSONObject?) async -> Result<JSON, QMPCommandError> {
        switch command {
        case "x-igvm-mgr-status":
            return .success(await status())
        case "x-igvm-mgr-stop":
            return await stop(arguments ?? [:])
        case "x-igvm-mgr-events":
            let count = arguments?["tail"]?.intValue ?? 20
            guard count >= 0 else { return .failure(invalid("'tail' must be a non-negative integer")) }
            return .success(.array(EventLog.tail(supervisor.paths.eventLog, count: count)))
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
            o["qmp-status"] = (try? await supervisor.execute("query-status", arguments: nil)) ?? .null
            result = .object(o)
        }
        return result
    }

    private func stop(_ arguments: JSONObject) async -> Result<JSON, QMPCommandError> {
        let modeText = arguments["mode"]?.stringValue ?? StopMode.acpi.rawValue
        guard let mode = StopMode(rawValue: modeText) else {
            return .failure(invalid("'mode' must be one of \(StopMode.allCases.map(\.rawValue).joined(separator: ", ")), not \(modeText)"))
        }
        let timeout = arguments["timeout"]?.doubleValue ?? 30
        guard timeout >= 0 else { return .failure(invalid("'timeout' must not be negative")) }
        do {
            let outcome = try await supervisor.stop(mode: mode, timeout: timeout)
            // Reply only once the exit is recorded, so that `status` right after `stop` agrees.
            _ = await supervisor.waitForRecordedExit(timeout: 10)
            var reply = outcome.json
            if let exit = await supervisor.currentState().lastExit { reply["exit"] = exit.json }
            return .success(reply)
        } catch {
            return .failure(QMPCommandError(command: "x-igvm-mgr-stop", errorClass: "GenericError", desc: error.description))
        }
    }

    private func invalid(_ message: String) -> QMPCommandError {
        QMPCommandError(errorClass: "GenericError", desc: message)
    }
}
