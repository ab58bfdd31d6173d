import FirmwareUpdate
import Supervisor
import VMState
import Launch
import FileAccess
#if canImport(Glibc)
import Glibc
#endif
import JSON
import QMP

/// The lifecycle operations the CLI offers on VMs that are (or were) supervised: stop, destroy,
/// status, QMP pass-through, cleanup. `start` is `StartProcedure`; listing is `VMObservation`.
public struct Lifecycle: Sendable {
    public var stateDirectory: StateDirectory
    public init(stateDirectory: StateDirectory) {
        self.stateDirectory = stateDirectory
    }

    /// Observes `name`, failing when the state directory has no such VM.
    public func observe(_ name: String) throws(LifecycleError) -> VMObservation {
        try stateAccess { () throws(StateError) in try stateDirectory.checkTrusted() }
        let paths = try stateAccess { () throws(StateError) in try stateDirectory.vm(name) }
        guard access(paths.folder, F_OK) == 0 else {
            throw .notFound("no VM named \(name) in \(stateDirectory.path)")
        }
        if let problem = FolderTrust.check(paths.folder, kind: .vmFolder) { throw .invalidInput(problem) }
        return try VMObservation.observe(name, in: stateDirectory)
    }

    // MARK: - stop / destroy

    /// The result of `stop` or `destroy`.
    public struct StopReport: Sendable {
        public var name: String
        /// nil when the VM was not running.
        public var outcome: StopOutcome?
        public var exit: ExitRecord?
        /// `destroy` only: whether the VM's state folder was removed.
        public var removed: Bool = false

        public var json: JSON {
            var o: JSONObject = ["name": .string(name), "was-running": .bool(outcome != nil)]
            o["step"] = outcome.map { .string($0.step.rawValue) } ?? .null
            o["attempted"] = outcome.map { .array($0.attempted.map(JSON.string)) } ?? .null
            o["seconds"] = outcome?.json["seconds"] ?? .null
            o["exit"] = exit?.json ?? .null
            o["removed"] = .bool(removed)
            return .object(o)
        }
    }

    /// Stops `name`: ACPI powerdown → `quit` → SIGTERM → SIGKILL (from the step `mode` names),
    /// through its supervisor's control socket; when that cannot be reached (the supervisor is
    /// gone, stopped, still starting, or its socket was deleted), through QEMU's own monitor and
    /// then signals to the recorded pids (`StopFallback`). Always ends with a true record.
    /// How long a client waits for a supervisor's greeting on its control socket (a stopped or
    /// wedged supervisor accepts the connection but never greets).
    static let controlConnectTimeout: Duration = .seconds(10)
    /// The same for `stop --force`, which must not wait long for a supervisor that may be wedged.
    static let forceConnectTimeout: Duration = .seconds(3)
    /// What a stop's answer may take beyond its ACPI wait: the supervisor's further steps
    /// (`quit`, SIGTERM, SIGKILL waits) and the exit record.
    static let stopAnswerMargin: Duration = StopProcedure.escalationWait * 2 + StopProcedure.killWait + .seconds(20)
    /// How long `destroy` waits for a supervisor to exit once QEMU has.
    static let supervisorExitWait: Duration = .seconds(10)
    /// How long `cleanup` lets an orphaned QEMU `quit` before signals.
    static let cleanupQuitWait: Duration = .seconds(5)
    /// How long `status` asks QEMU's run state.
    static let statusProbeTimeout: Duration = .seconds(5)

    public func stop(_ name: String, mode: StopMode, timeout: Duration) async throws(LifecycleError) -> StopReport {
        let observation = try observe(name)
        if observation.supervisorAlive, let report = try await stopThroughSupervisor(observation, mode: mode, timeout: timeout) {
            return report
        }
        return try await StopFallback(lifecycle: self, name: name, mode: mode, timeout: timeout).run()
    }

    /// The supervisor's own stop (`x-igvm-mgr-stop`); nil when the supervisor cannot be reached
    /// or does not answer, so that the caller ends the VM without it.
    private func stopThroughSupervisor(_ observation: VMObservation, mode: StopMode, timeout: Duration) async throws(LifecycleError) -> StopReport? {
        let name = observation.name
        let reply: JSON
        do {
            // A stopped or wedged supervisor accepts the connection but never greets: --force
            // does not wait long for it.
            let session = try await MonitorConnection.connect(observation.paths.controlSocket,
                                                              timeout: mode == .force ? Self.forceConnectTimeout : Self.controlConnectTimeout)
            do {
                reply = try await session.execute("x-igvm-mgr-stop", ["mode": .string(mode.rawValue), "timeout": .double(timeout.seconds)],
                                                  timeout: timeout + Self.stopAnswerMargin)
                await session.close()
            } catch {
                await session.close()
                throw error
            }
        } catch {
            return nil
        }
        let outcome = StopOutcome(
            step: StopStep(rawValue: reply["step"]?.stringValue ?? "") ?? .alreadyExited,
            attempted: reply["attempted"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            seconds: reply["seconds"]?.doubleValue ?? 0)
        if let problem = reply["state-error"]?.stringValue {
            throw .failed("\(name) stopped (ended by \(outcome.step.rawValue)), but its state could not be recorded: \(problem)")
        }
        let exit = ExitRecord(json: reply["exit"]) ?? (try? VMState.read(observation.paths.state))??.lastExit
        return StopReport(name: name, outcome: outcome, exit: exit)
    }

    /// Ends `name` at once (SIGKILL) if it runs, then removes its state folder.
    public func destroy(_ name: String) async throws(LifecycleError) -> StopReport {
        var report = try await stop(name, mode: .force, timeout: .zero)
        let paths = try stateAccess { () throws(StateError) in try stateDirectory.vm(name) }
        // The supervisor exits right after recording the exit; wait for it to let go of the lock.
        guard await StopFallback.waitForRelease(paths.lock, within: Self.supervisorExitWait), let lock = try? VMLock.tryAcquire(paths.lock) else {
            throw .busy("the supervisor of \(name) did not exit; its state was kept")
        }
        defer { lock.release() }
        do { try FolderRemover.remove(paths.folder) } catch { throw LifecycleError(error) }
        report.removed = true
        return report
    }

    // MARK: - status / qmp

    /// What `status` shows.
    public struct StatusReport: Sendable {
        public var observation: VMObservation
        /// QEMU's `query-status`, when its monitor could be reached.
        public var qmpStatus: JSON?
        public var lastEvents: [JSON]
        /// The guest's devices from the VM's `plan.json`: `disks`, `nics`, `vsock-guest-cid`
        /// and `console` (its socket and log, or null).
        public var devices: JSON = .null

        public var json: JSON {
            var o = observation.json.objectValue ?? [:]
            let state = observation.state
            o["qemu-version"] = state?.qemuVersion.map(JSON.string) ?? .null
            o["confidential-type"] = state?.confidentialType.map(JSON.string) ?? .null
            o["launch-measurement"] = state?.launchMeasurement?.json ?? .null
            o["firmware"] = state?.firmware.map(JSON.string) ?? .null
            o["started-at"] = state?.startedAt.map(JSON.string) ?? .null
            o["qmp-status"] = qmpStatus ?? .null
            o["last-exit"] = state?.lastExit?.json ?? .null
            o["error"] = state?.error.map(JSON.string) ?? .null
            o["vmfwupdate"] = state?.vmfwupdate?.json ?? .null
            o["last-events"] = .array(lastEvents)
            o["devices"] = devices
            return .object(o)
        }
    }

    /// One VM's status: the record, what is alive, QEMU's run state, and the last events.
    public func status(_ name: String, events: Int = 10) async throws(LifecycleError) -> StatusReport {
        let observation = try observe(name)
        var qmpStatus: JSON?
        // Who is attached to the console: only the supervisor (its relay) knows.
        var consoleAttachment: JSON?
        if observation.supervisorAlive,
            let session = try? await MonitorConnection.connect(observation.paths.controlSocket, timeout: Self.statusProbeTimeout)
        {
            let supervisorStatus = try? await session.execute("x-igvm-mgr-status", nil, timeout: Self.statusProbeTimeout)
            qmpStatus = supervisorStatus?["qmp-status"].flatMap { $0 == .null ? nil : $0 }
            consoleAttachment = supervisorStatus?["console"]
            await session.close()
        } else if observation.qemuAlive, let session = try? await MonitorConnection.connect(observation.paths.qmpSocket, timeout: Self.statusProbeTimeout) {
            qmpStatus = try? await session.execute("query-status", nil, timeout: Self.statusProbeTimeout)
            await session.close()
        }
        var report = StatusReport(observation: observation, qmpStatus: qmpStatus, lastEvents: EventLog.tail(observation.paths.eventLog, count: events))
        if let plan = try? QEMULaunch.recorded(in: observation.paths),
           var devices = plan.devices.objectValue {
            var console: JSONObject = ["socket": .string(observation.paths.consoleSocket), "log": .string(observation.paths.consoleLog)]
            // `attached`: true or false while a supervisor answers, null when nobody could say.
            console["attached"] = consoleAttachment?["attached"] ?? .null
            console["attached-pid"] = consoleAttachment?["pid"] ?? .null
            devices["console"] = plan.console ? .object(console) : .null
            report.devices = .object(devices)
        }
        return report
    }

    /// Runs one QMP command through `name`'s control socket.
    public func qmp(_ name: String, command: String, arguments: JSONObject?, timeout: Duration = Supervisor.commandTimeout) async throws -> JSON {
        let observation = try observe(name)
        guard observation.supervisorAlive else {
            throw LifecycleError.failed("VM \(name) has no running supervisor (phase \(observation.phase))")
        }
        let session = try await MonitorConnection.connect(observation.paths.controlSocket, timeout: Self.controlConnectTimeout)
        do {
            let result = try await session.execute(command, arguments, timeout: timeout)
            await session.close()
            return result
        } catch {
            await session.close()
            throw error
        }
    }

    // MARK: - cleanup

    /// One thing `cleanup` did.
    public struct CleanupAction: Sendable {
        public var name: String
        public var action: String
        public var json: JSON { ["name": .string(name), "action": .string(action)] }
    }

    /// Reconciles every VM whose processes are gone (or whose supervisor is): orphaned QEMUs are
    /// stopped, lost runs recorded, stale sockets and pid files removed. Running VMs are left alone.
    public func cleanup() async -> [CleanupAction] {
        var actions: [CleanupAction] = []
        for observation in VMObservation.observeAll(in: stateDirectory) where !observation.supervisorAlive {
            let name = observation.name
            switch observation.phase {
            case .orphaned, .lost:
                var fallback = StopFallback(lifecycle: self, name: name, mode: .quit, timeout: Self.cleanupQuitWait)
                fallback.reason = "cleanup-supervisor-lost"
                let qemuPID = observation.state?.qemu?.pid ?? 0
                do {
                    let report = try await fallback.run()
                    if let outcome = report.outcome {
                        actions.append(CleanupAction(name: name, action: "stopped QEMU pid \(qemuPID) left without its supervisor (\(outcome.step.rawValue))"))
                    } else {
                        actions.append(CleanupAction(name: name, action: "recorded a run whose supervisor and QEMU were both gone"))
                    }
                } catch {
                    actions.append(CleanupAction(name: name, action: "could not settle it: \(error)"))
                }
            case .unknown:
                if (try? FolderRemover.remove(observation.paths.folder)) != nil {
                    actions.append(CleanupAction(name: name, action: "removed a folder without state"))
                }
            case .starting, .running, .paused, .stopping, .stopped, .failed, .crashed:
                // Sockets only: a QEMU that is alive is never unlinked from (it is not in this branch).
                let candidates: [String] = [observation.paths.qmpSocket, observation.paths.controlSocket, observation.paths.qemuPid, observation.paths.supervisorPid]
                    + AtomicFile.leftovers(in: observation.paths.folder)
                let stale = observation.qemuAlive ? [] : candidates.filter { access($0, F_OK) == 0 }
                for path in stale { unlink(path) }
                if !stale.isEmpty {
                    actions.append(CleanupAction(name: name, action: "removed " + stale.map { String($0.split(separator: "/").last!) }.joined(separator: ", ")))
                }
            }
        }
        return actions
    }
}

/// Removes a VM folder and what is in it (files and one level of sub-folders, e.g. stored firmware).
enum FolderRemover {
    static func remove(_ path: String) throws(SystemError) {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return }
            throw SystemError("cannot open", path)
        }
        var entries: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { entries.append(name) }
        }
        closedir(dir)
        for name in entries {
            let child = path + "/" + name
            var info = stat()
            if lstat(child, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                try remove(child)
            } else if unlink(child) != 0 && errno != ENOENT {
                throw SystemError("cannot remove", child)
            }
        }
        if rmdir(path) != 0 && errno != ENOENT { throw SystemError("cannot remove", path) }
    }
}
