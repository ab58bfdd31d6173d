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
        let paths = try stateDirectory.vm(name)
        guard access(paths.folder, F_OK) == 0 else {
            throw .notFound("no VM named \(name) in \(stateDirectory.path)")
        }
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
    /// through its supervisor, or directly when the supervisor is gone.
    public func stop(_ name: String, mode: StopMode, timeout: Double) async throws(LifecycleError) -> StopReport {
        let observation = try observe(name)
        if observation.supervisorAlive {
            let reply: JSON
            do {
                let session = try await MonitorConnection.connect(observation.paths.controlSocket, timeout: 10)
                do {
                    reply = try await session.execute("x-igvm-mgr-stop", arguments: ["mode": .string(mode.rawValue), "timeout": .double(timeout)],
                                                      timeout: timeout + 40)
                    await session.close()
                } catch {
                    await session.close()
                    throw error
                }
            } catch {
                throw .failed("cannot stop \(name) through its supervisor: \(error)")
            }
            let outcome = StopOutcome(
                step: StopStep(rawValue: reply["step"]?.stringValue ?? "") ?? .alreadyExited,
                attempted: reply["attempted"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                seconds: reply["seconds"]?.doubleValue ?? 0)
            let exit = ExitRecord(json: reply["exit"]) ?? (try? VMState.read(observation.paths.state))?.lastExit
            return StopReport(name: name, outcome: outcome, exit: exit)
        }
        if observation.qemuAlive, let qemu = observation.state?.qemu {
            let outcome = try await stopOrphan(observation, qemu: qemu, mode: mode, timeout: timeout, reason: "stop")
            return StopReport(name: name, outcome: outcome, exit: (try? VMState.read(observation.paths.state))?.lastExit)
        }
        return StopReport(name: name, outcome: nil, exit: observation.state?.lastExit)
    }

    /// Ends `name` at once (SIGKILL) if it runs, then removes its state folder.
    public func destroy(_ name: String) async throws(LifecycleError) -> StopReport {
        var report = try await stop(name, mode: .force, timeout: 0)
        let paths = try stateDirectory.vm(name)
        // The supervisor exits right after recording the exit; wait for it to let go of the lock.
        let deadline = Timestamp.monotonic() + 10
        var lock = try? VMLock.tryAcquire(paths.lock)
        while lock == nil && Timestamp.monotonic() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
            lock = try? VMLock.tryAcquire(paths.lock)
        }
        guard let lock else { throw .busy("the supervisor of \(name) did not exit; its state was kept") }
        defer { lock.release() }
        do { try FolderRemover.remove(paths.folder) } catch { throw LifecycleError(error) }
        report.removed = true
        return report
    }

    private func stopOrphan(_ observation: VMObservation, qemu: ProcessIdentity, mode: StopMode, timeout: Double,
                            reason: String) async throws(LifecycleError) -> StopOutcome {
        let monitor = mode == .force ? nil : try? await MonitorConnection.connect(observation.paths.qmpSocket, timeout: 5)
        let outcome = try await StopProcedure.run(mode: mode, timeout: timeout, target: OrphanStopTarget(qemu: qemu, monitor: monitor))
        await monitor?.close()
        recordOrphanExit(observation, reason: reason, stopped: true, step: outcome.step)
        return outcome
    }

    /// Records the end of a run whose supervisor was gone (its exit status cannot be collected).
    private func recordOrphanExit(_ observation: VMObservation, reason: String, stopped: Bool, step: StopStep?) {
        guard var state = observation.state else { return }
        let tail = (try? FileDescriptorIO.readTail(observation.paths.qemuLog, maximum: 4096)).flatMap { $0 }
            .map { String(decoding: $0, as: UTF8.self).split(separator: "\n").suffix(20).map(String.init) } ?? []
        state.lastExit = ExitRecord(termination: .unknown, reason: reason, stopStep: step?.rawValue, outputTail: tail)
        state.phase = stopped ? .stopped : .crashed
        state.qemu = nil
        state.supervisor = nil
        try? state.write(observation.paths.state)
        let leftovers: [String] = [observation.paths.qmpSocket, observation.paths.controlSocket, observation.paths.qemuPid, observation.paths.supervisorPid]
        for leftover in leftovers { unlink(leftover) }
        if let log = try? EventLog(path: observation.paths.eventLog) {
            log.append(event: "QEMU_EXITED", data: state.lastExit!.json, source: "igvm-mgr")
        }
    }

    // MARK: - status / qmp

    /// What `status` shows.
    public struct StatusReport: Sendable {
        public var observation: VMObservation
        /// QEMU's `query-status`, when its monitor could be reached.
        public var qmpStatus: JSON?
        public var lastEvents: [JSON]

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
            o["vmfwupdate"] = state?.vmfwupdate ?? .null
            o["last-events"] = .array(lastEvents)
            return .object(o)
        }
    }

    /// One VM's status: the record, what is alive, QEMU's run state, and the last events.
    public func status(_ name: String, events: Int = 10) async throws(LifecycleError) -> StatusReport {
        let observation = try observe(name)
        var qmpStatus: JSON?
        let socket = observation.supervisorAlive ? observation.paths.controlSocket : (observation.qemuAlive ? observation.paths.qmpSocket : nil)
        if let socket, let session = try? await MonitorConnection.connect(socket, timeout: 5) {
            qmpStatus = try? await session.execute("query-status", arguments: nil, timeout: 5)
            await session.close()
        }
        return StatusReport(observation: observation, qmpStatus: qmpStatus, lastEvents: EventLog.tail(observation.paths.eventLog, count: events))
    }

    /// Runs one QMP command through `name`'s control socket.
    public func qmp(_ name: String, command: String, arguments: JSONObject?, timeout: Double = 60) async throws -> JSON {
        let observation = try observe(name)
        guard observation.supervisorAlive else {
            throw LifecycleError.failed("VM \(name) has no running supervisor (phase \(observation.phase))")
        }
        let session = try await MonitorConnection.connect(observation.paths.controlSocket, timeout: 10)
        do {
            let result = try await session.execute(command, arguments: arguments, timeout: timeout)
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
            case "orphaned":
                if let qemu = observation.state?.qemu,
                   let outcome = try? await stopOrphan(observation, qemu: qemu, mode: .quit, timeout: 5, reason: "cleanup-supervisor-lost") {
                    actions.append(CleanupAction(name: name, action: "stopped QEMU pid \(qemu.pid) left without its supervisor (\(outcome.step.rawValue))"))
                } else {
                    actions.append(CleanupAction(name: name, action: "could not stop QEMU left without its supervisor"))
                }
            case "lost":
                recordOrphanExit(observation, reason: "supervisor-lost", stopped: false, step: nil)
                actions.append(CleanupAction(name: name, action: "recorded a run whose supervisor and QEMU were both gone"))
            case "unknown":
                if (try? FolderRemover.remove(observation.paths.folder)) != nil {
                    actions.append(CleanupAction(name: name, action: "removed a folder without state"))
                }
            default:
                let candidates: [String] = [observation.paths.qmpSocket, observation.paths.controlSocket, observation.paths.qemuPid, observation.paths.supervisorPid]
                let stale = candidates.filter { access($0, F_OK) == 0 }
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
