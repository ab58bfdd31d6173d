import JSON
import Launch
import QMP
import VMState

#if canImport(Glibc)
import Glibc
#endif

/// What the control socket and the event policies may ask of the supervisor
/// (`SupervisorControl`), and the stops it runs for them and for signals.
extension Supervisor {

    /// The VM's current state record.
    public func currentState() -> VMState { state }

    public func currentLaunch() -> QEMULaunch { launch }

    /// The serial console's attachment (`ConsoleRelay.attachment()`); null for a VM without `[console]`.
    public func consoleAttachment() async -> JSON { await consoleRelay?.attachment() ?? .null }

    /// How long a stop waits for the exit record before it answers (the record follows the exit
    /// by one `state.json` write).
    static let exitRecordWait: Duration = .seconds(10)
    /// How long the old instance gets to `quit` before a relaunch escalates to signals.
    static let relaunchQuitWait: Duration = .seconds(10)

    /// How long a command passed to QEMU's monitor may take unless the caller says otherwise.
    public static let commandTimeout: Duration = .seconds(60)

    public func execute(_ command: String, arguments: JSONObject?) async throws -> JSON {
        try await execute(command, arguments: arguments, timeout: Self.commandTimeout)
    }

    /// Runs `command` on QEMU's monitor, giving up after `timeout`.
    public func execute(_ command: String, arguments: JSONObject?, timeout: Duration) async throws -> JSON {
        guard let monitor = run.monitor else { throw QMPCommandError(command: command, errorClass: "GenericError", desc: "QEMU's monitor is not connected") }
        return try await monitor.execute(command, arguments, timeout: timeout)
    }

    public func record(event: String, data: JSON) {
        eventLog.append(event: event, data: data, source: "igvm-mgr")
    }

    public func updateState(_ change: @Sendable (inout VMState) -> Void) {
        change(&state)
        setPhase(state.phase)
    }

    /// Stops QEMU with the escalation of `mode`; returns which step ended it (`other` when QEMU
    /// ended during the stop by something the stop did not do), once the exit is recorded.
    public func stop(mode: StopMode, timeout: Duration) async throws(LifecycleError) -> StopOutcome {
        guard let qemu = run.qemu, run.exit.current == nil else {
            return StopOutcome(step: .alreadyExited, attempted: [], seconds: 0)
        }
        if state.phase != .stopping { setPhase(.stopping) }
        eventLog.append(event: "STOP_REQUESTED", data: ["mode": .string(mode.rawValue), "timeout": .double(timeout.seconds)], source: "igvm-mgr")
        FaultPoint.stopRequested.reach()
        let target = ChildStopTarget(supervisor: self, qemu: qemu, exit: run.exit)
        let recorded = run.recorded
        var outcome = try await StopProcedure.run(mode: mode, timeout: timeout, target: target)
        if run.stopOutcome == nil { run.stopOutcome = outcome }
        // Reply only once the exit is recorded, so that `status` right after `stop` agrees.
        if await recorded.wait(timeout: Self.exitRecordWait) != nil, let exit = state.lastExit, exit.reason != "stop" {
            outcome.step = .other
        }
        eventLog.append(event: "STOPPED", data: outcome.json, source: "igvm-mgr")
        return outcome
    }

    /// Why the last `state.json` write failed, if it did (nil once a later write succeeded).
    public func stateProblem() -> String? { stateWriteFailure }

    /// SIGTERM or SIGINT reached the supervisor: the first stops the VM with the usual
    /// escalation, a second one forces it (`SignalStopPolicy`).
    public func terminationSignal(_ signal: Int32) {
        terminationSignals += 1
        let mode = SignalStopPolicy.mode(forSignalNumber: terminationSignals)
        eventLog.append(event: "SIGNAL_RECEIVED", data: ["signal": .string(ProcessTermination.signalName(signal)), "stop-mode": .string(mode.rawValue)],
                        source: "igvm-mgr")
        startSignalStop()
    }

    func startSignalStop() {
        let mode = SignalStopPolicy.mode(forSignalNumber: terminationSignals)
        let timeout = signalStopTimeout
        // Not awaited: a second signal must be able to escalate while the first stop waits.
        Task { _ = try? await self.stop(mode: mode, timeout: timeout) }
    }

    func noteStopStep(_ step: StopStep) {
        if run.exit.current == nil { run.stopInProgress = step }
        eventLog.append(event: "STOP_STEP", data: ["step": .string(step.rawValue)], source: "igvm-mgr")
    }

    func monitorForStop() -> QMPClient? { run.monitor }

    public func relaunch(_ next: QEMULaunch) async throws(LifecycleError) {
        guard let qemu = run.qemu else { throw .failed("no QEMU is running to relaunch") }
        guard terminationSignals == 0 else { throw .failed("the supervisor is stopping the VM (signal received)") }
        pendingRelaunch = next
        let target = ChildStopTarget(supervisor: self, qemu: qemu, exit: run.exit)
        _ = try await StopProcedure.run(mode: .quit, timeout: Self.relaunchQuitWait, target: target)
    }

    /// Waits until the current run's exit is in `state.json` (for replies that must follow it).
    public func waitForRecordedExit(timeout: Duration) async -> Bool {
        await run.recorded.wait(timeout: timeout) ?? false
    }
}
