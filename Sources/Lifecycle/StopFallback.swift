import FirmwareUpdate
import Supervisor
import VMState
import Launch
import FileAccess
#if canImport(Glibc)
import Glibc
#endif
import JSON

/// Ends a VM without its supervisor's help: the supervisor is gone, hung (stopped with
/// SIGSTOP, blocked), or its control socket is missing. QEMU is reached through its own monitor
/// (for ACPI and `quit`) and then by signals to its recorded pid, checked against the recorded
/// start time so that a recycled pid is never signalled. A supervisor that is still alive is
/// then asked to exit (SIGTERM) and, if it does not, killed; finally `state.json` is settled
/// (`StopRecord`) under the VM's lock.
struct StopFallback {
    let lifecycle: Lifecycle
    let name: String
    let mode: StopMode
    let timeout: Duration
    /// The exit reason and phase recorded for a QEMU ended here.
    var reason = "stop"
    var phaseAfter = VMPhase.stopped

    /// How long a live supervisor gets to exit by itself, after SIGTERM, and after SIGKILL.
    static let supervisorGrace: Duration = .seconds(3)

    func run() async throws(LifecycleError) -> Lifecycle.StopReport {
        var observation = try lifecycle.observe(name)
        var outcome: StopOutcome?
        if observation.qemuAlive, let qemu = observation.state?.qemu {
            outcome = try await escalate(qemu, mode: mode, socket: observation.paths.qmpSocket)
        }
        if observation.supervisorAlive {
            try await retireSupervisor(observation)
        }
        // A supervisor that spawned QEMU in the meantime (it was starting) left it recorded.
        observation = try lifecycle.observe(name)
        if observation.qemuAlive, let qemu = observation.state?.qemu {
            let late = try await escalate(qemu, mode: .force, socket: observation.paths.qmpSocket)
            outcome = outcome ?? late
        }
        let exit = try settle(observation.paths, endedBy: outcome?.step)
        return Lifecycle.StopReport(name: name, outcome: outcome, exit: outcome == nil ? nil : exit)
    }

    private func escalate(_ qemu: ProcessIdentity, mode: StopMode, socket: String) async throws(LifecycleError) -> StopOutcome {
        let monitor = mode == .force ? nil : try? await MonitorConnection.connect(socket, timeout: StopProcedure.commandTimeout)
        defer { if let monitor { Task { await monitor.close() } } }
        return try await StopProcedure.run(mode: mode, timeout: timeout, target: OrphanStopTarget(qemu: qemu, monitor: monitor))
    }

    /// Waits for a live supervisor to exit (it records QEMU's exit first); SIGTERM, then SIGKILL,
    /// to its recorded, start-time-checked pid when it does not.
    private func retireSupervisor(_ observation: VMObservation) async throws(LifecycleError) {
        let lock = observation.paths.lock
        if await Self.waitForRelease(lock, within: Self.supervisorGrace) { return }
        guard let supervisor = observation.state?.supervisor ?? (try? VMState.read(observation.paths.state))??.supervisor else {
            throw .failed("the supervisor of \(name) does not answer and its pid is not on record")
        }
        // A stopped supervisor would not see SIGTERM until continued: straight to SIGKILL.
        for signal in supervisor.isStopped ? [SIGKILL] : [SIGTERM, SIGKILL] {
            if supervisor.isAlive { kill(supervisor.pid, signal) }
            if await Self.waitForRelease(lock, within: Self.supervisorGrace) { return }
        }
        throw .failed("the supervisor of \(name) (pid \(supervisor.pid)) still holds its lock after SIGKILL")
    }

    /// Settles `state.json` under the VM's lock; the exit record written or found.
    private func settle(_ paths: VMPaths, endedBy step: StopStep?) throws(LifecycleError) -> ExitRecord? {
        let held: VMLock?
        do { held = try VMLock.tryAcquire(paths.lock) } catch { throw LifecycleError(error) }
        guard let held else { return (try? VMState.read(paths.state))??.lastExit }  // a new start owns it now
        defer { held.release() }
        guard let found = try stateAccess({ () throws(StateError) in try VMState.read(paths.state) }) else { return nil }
        guard let settled = StopRecord.settled(found, endedBy: step, reason: reason, phase: phaseAfter, outputTail: QEMUOutput.tail(paths.qemuLog)) else {
            return found.lastExit
        }
        try stateAccess { () throws(StateError) in try settled.write(paths.state) }
        for leftover in [paths.qmpSocket, paths.controlSocket] { unlink(leftover) }
        if let log = try? EventLog(path: paths.eventLog) {
            if let exit = settled.lastExit, exit != found.lastExit {
                log.append(event: "QEMU_EXITED", data: exit.json, source: "igvm-mgr")
            }
            log.append(event: "STATE_SETTLED", data: ["phase": .string(settled.phase.rawValue), "by": "cli"], source: "igvm-mgr")
        }
        return settled.lastExit
    }

    /// Whether the lock at `path` is free within `timeout` (the holder exited). The holder may
    /// not be our child, so the lock is tried every 20 ms until the deadline.
    static func waitForRelease(_ path: String, within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while VMLock.isHeld(path) {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}

/// QEMU's last output lines from its log.
enum QEMUOutput {
    static func tail(_ path: String, lines: Int = 20) -> [String] {
        (try? FileDescriptorIO.readTail(path, maximum: 4096)).flatMap { $0 }
            .map { String(decoding: $0, as: UTF8.self).split(separator: "\n").suffix(lines).map(String.init) } ?? []
    }
}
