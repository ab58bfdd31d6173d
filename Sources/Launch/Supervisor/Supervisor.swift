import JSON
import QMP
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The per-VM supervisor (`igvm-mgr supervise NAME`): launches QEMU as its child with `-S`,
/// connects QMP, sends `cont`, logs events, serves the control socket, and records how QEMU
/// ended — whatever the reason, `kill -9` included.
///
/// Exit status: 0 QEMU ended because it was asked to (stop, guest power-off), 1 QEMU ended
/// unexpectedly (crash, signal), 2 the launch failed (host check, QEMU refused to start).
public actor Supervisor: SupervisorControl {
    public nonisolated let paths: VMPaths
    private let eventLog: EventLog
    private let policy: any VMEventPolicy
    private let readiness: ReadinessChannel?
    private let lock: VMLock?
    private var launch: QEMULaunch
    private var state: VMState

    // The current QEMU run.
    private var qemu: ProcessIdentity?
    private var exit = OnceValue<ProcessTermination>()
    /// Set once `state.json` holds the run's exit record.
    private var recorded = OnceValue<Bool>()
    private var monitor: QMPClient?
    private var outputOffset: Int64 = 0
    private var lastShutdown: JSON?
    private var stopInProgress: StopStep?
    private var pendingRelaunch: QEMULaunch?
    private var stopOutcome: StopOutcome?
    private let waiterPool: NIOThreadPool
    private var controlServer: QMPServer?
    /// Control requests being answered (the supervisor drains them before it exits).
    private var controlRequestsInFlight = 0
    /// Whether to drop start-up's code pages from the RSS once QEMU runs (`ResidentSetTrim`).
    private let trimsResidentSet: Bool
    /// SIGTERM/SIGINT seen so far (`SignalStopPolicy`), and the ACPI wait of the stop they start.
    private var terminationSignals = 0
    private let signalStopTimeout: Double
    /// The largest QMP message the control socket takes (a larger one ties QEMU's monitor up
    /// parsing it while every other client waits).
    private let controlMessageLimit: Int

    /// The default of `controlMessageLimit`: 256 KiB, far above any command QEMU's monitor needs
    /// (the largest, `object-add` with an IGVM or ID block, is a few KiB).
    public static let defaultControlMessageLimit = 256 * 1024
    /// The last `state.json` write that failed (a stop reports it instead of claiming success).
    private var stateWriteFailure: String?

    /// How long the supervisor waits for QEMU's monitor greeting during start-up.
    public static let monitorTimeout: Double = 60

    public init(paths: VMPaths, launch: QEMULaunch, policy: any VMEventPolicy = DefaultEventPolicy(),
                lock: VMLock?, readiness: ReadinessChannel?, trimsResidentSet: Bool = true,
                signalStopTimeout: Double = StopArguments.defaultTimeout,
                controlMessageLimit: Int = Supervisor.defaultControlMessageLimit) throws(LifecycleError) {
        self.paths = paths
        self.controlMessageLimit = controlMessageLimit
        self.trimsResidentSet = trimsResidentSet
        self.signalStopTimeout = signalStopTimeout
        self.launch = launch
        self.policy = policy
        self.lock = lock
        self.readiness = readiness
        do { eventLog = try EventLog(path: paths.eventLog) } catch { throw LifecycleError(error) }
        state = VMState(name: launch.name, phase: .starting)
        state.supervisor = ProcessIdentity.of(pid: getpid())
        state.definitionSource = launch.definitionSource
        state.firmware = launch.firmware
        state.confidentialType = launch.requirements.confidentialType
        if let previous = try? VMState.read(paths.state) {
            state.lastExit = previous.lastExit
            // A supervisor that died mid-update left its step and stored image on record.
            if let flow = previous.vmfwupdate, let step = flow["phase"]?.stringValue, !["running", "stopped"].contains(step) {
                eventLog.append(event: "vmfwupdate-interrupted", data: flow, source: "igvm-mgr")
            }
        }
        waiterPool = NIOThreadPool(numberOfThreads: 1)
        waiterPool.start()
    }

    /// Runs until QEMU has ended for good; returns the supervisor's exit status.
    public func run() async -> Int32 {
        // Its own identity on record first: from here on a dead supervisor is recognisable.
        setPhase(.starting)
        if let failure = stateWriteFailure { return fail("cannot record the VM's state: \(failure)", details: []) }
        eventLog.append(event: "SUPERVISOR_STARTED", data: ["pid": JSON(Int(getpid()))], source: "igvm-mgr")
        var status: Int32 = 0
        while true {
            status = await runOnce()
            guard let next = pendingRelaunch, terminationSignals == 0 else { break }
            pendingRelaunch = nil
            launch = next
            state.firmware = next.firmware
            eventLog.append(event: "RELAUNCH", data: ["firmware": next.firmware.map(JSON.string) ?? .null], source: "igvm-mgr")
        }
        await drainControlServer()
        unlink(paths.controlSocket)
        readiness?.close()
        try? await waiterPool.shutdownGracefully()
        eventLog.append(event: "SUPERVISOR_EXITED", data: ["status": JSON(Int(status))], source: "igvm-mgr")
        return status
    }

    // MARK: - One QEMU run

    private func runOnce() async -> Int32 {
        exit = OnceValue()
        recorded = OnceValue()
        lastShutdown = nil
        stopInProgress = nil
        stopOutcome = nil
        recordLaunchMeasurement()
        do {
            try HostChecks.check(launch.requirements)
            try launch.validate()
        } catch {
            return fail(error.description, details: [])
        }
        if terminationSignals > 0 { return fail("stopped by a signal before QEMU was spawned", details: []) }
        let pid: Int32
        do {
            pid = try spawnQEMU()
        } catch {
            // A held child that never ran has exited (its gate closed): nothing to record as running.
            state.qemu = nil
            qemu = nil
            return fail(error.description, details: [])
        }
        FaultPoint.qemuReleased.reach()
        readiness?.send("spawned", ["qemu-pid": JSON(Int(pid))])
        // A signal that came while QEMU was being spawned stops it now that it can be stopped.
        if terminationSignals > 0 { startSignalStop() }

        // Connect QMP; if QEMU dies first, its own words are the error, not a bare "monitor
        // closed" (docs/background.md, "QMP and libvirt conventions the lifecycle follows").
        let session: QMPClient
        switch await connectMonitor() {
        case .connected(let s):
            session = s
        case .exited(let termination):
            return failStart(termination: termination, why: "QEMU exited during start-up (\(termination))")
        case .failed(let message):
            if let termination = await exit.wait(timeout: 5) {
                return failStart(termination: termination, why: "QEMU exited during start-up (\(termination))")
            }
            _ = qemu.map { signalProcess($0, SIGKILL) }
            let termination = await exit.wait(timeout: 10) ?? .signaled(SIGKILL)
            return failStart(termination: termination, why: "cannot talk to QEMU's monitor: \(message)")
        }
        // Subscribe first, so that no event of the run is missed (events from before the
        // negotiation completed are kept by the client).
        let subscription = session.events(bufferSize: 4096)
        monitor = session
        state.qemuVersion = session.greeting.version.description
        for early in session.eventsBeforeReady { await handle(early) }
        let pump = Task { await self.pumpEvents(from: subscription) }
        if controlServer == nil {
            do {
                controlServer = try await startControlServer(greeting: session.greeting)
            } catch {
                eventLog.append(event: "CONTROL_SOCKET_FAILED", data: ["error": .string("\(error)")], source: "igvm-mgr")
            }
        }
        readiness?.send("qmp", ["qemu-version": .string(session.greeting.version.description)])
        FaultPoint.monitorConnected.reach()

        if launch.startPaused {
            setPhase(.paused)
        } else {
            do {
                _ = try await session.execute("cont", arguments: nil, timeout: 30)
                setPhase(.running)
            } catch {
                // QEMU may be dying right now; the exit below decides what is recorded.
                if let termination = await exit.wait(timeout: 5) {
                    pump.cancel()
                    return failStart(termination: termination, why: "QEMU exited during start-up (\(termination))")
                }
                eventLog.append(event: "CONT_FAILED", data: ["error": .string("\(error)")], source: "igvm-mgr")
                setPhase(.paused)
            }
        }
        // Start-up is over: from here on the supervisor only watches, and needs little of the
        // code start-up ran. Trimmed before "ready", so that a ready VM's supervisor is in its
        // steady state.
        if trimsResidentSet { ResidentSetTrim.dropReadOnlyFileMappings() }
        readiness?.send("ready", ["phase": .string(state.phase.rawValue), "qemu-pid": JSON(Int(pid))])

        let termination = await exit.wait() ?? .exited(-1)
        FaultPoint.qemuExited.reach()
        monitor = nil
        await session.close()
        pump.cancel()
        return recordExit(termination)
    }

    private enum MonitorOutcome: Sendable {
        case connected(QMPClient)
        case exited(ProcessTermination)
        case failed(String)
    }

    private func connectMonitor() async -> MonitorOutcome {
        let path = paths.qmpSocket
        let exit = self.exit
        return await withTaskGroup(of: MonitorOutcome.self) { group in
            group.addTask {
                do { return .connected(try await MonitorConnection.connect(path, timeout: Self.monitorTimeout)) } catch { return .failed("\(error)") }
            }
            group.addTask {
                if let termination = await exit.wait() { return .exited(termination) }
                return .failed("QEMU's exit status is unknown")
            }
            let first = await group.next()!
            group.cancelAll()
            if case .exited = first {
                // The connect task ends by itself: QEMU closed the socket when it died.
            }
            return first
        }
    }

    /// Spawns QEMU held before exec, records its pid and start time in `state.json`, then lets
    /// it run: a supervisor killed at any moment leaves either no QEMU or a recorded one.
    private func spawnQEMU() throws(LifecycleError) -> Int32 {
        let listener: Int32
        do { listener = try UnixListener.listen(at: paths.qmpSocket) } catch { throw LifecycleError(error) }
        defer { close(listener) }
        let argv = launch.argv
        do {
            try AtomicFile.write((try? JSON.array(argv.map(JSON.string)).encoded(pretty: true)) ?? "[]", to: paths.argv)
        } catch { throw LifecycleError(error) }
        outputOffset = fileSize(paths.qemuLog)
        var request = SpawnRequest(executable: launch.binary, arguments: Array(argv.dropFirst()), logPath: paths.qemuLog)
        request.inheritedDescriptors = [(listener, QEMULaunch.monitorDescriptor)]
        FaultPoint.beforeSpawn.reach()
        let child = try ProcessSpawner.spawnGated(request)
        let pid = child.pid
        FaultPoint.gateSpawned.reach()
        qemu = ProcessIdentity.of(pid: pid) ?? ProcessIdentity(pid: pid, startTicks: 0)
        state.qemu = qemu
        let now = Timestamp.now()
        state.startedAt = Timestamp.rfc3339(seconds: now.seconds, microseconds: now.microseconds)
        state.error = nil
        setPhase(.starting)
        watchExit(of: pid)
        if let failure = stateWriteFailure {
            child.abandon()  // never run a QEMU nobody could find
            throw .failed("cannot record QEMU's pid before running it: \(failure)")
        }
        FaultPoint.pidRecorded.reach()
        try child.release(executable: launch.binary)
        eventLog.append(event: "QEMU_SPAWNED", data: ["pid": JSON(Int(pid)), "argv": .array(argv.map(JSON.string))], source: "igvm-mgr")
        return pid
    }

    /// A pool thread blocks in `waitpid` for our one child and publishes how it ended.
    private func watchExit(of pid: Int32) {
        let exit = self.exit
        let pool = waiterPool
        Task.detached {
            let termination = try? await pool.runIfActive { () -> ProcessTermination in
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 {
                    if errno != EINTR { return .exited(-1) }
                }
                return ProcessTermination(waitStatus: status)
            }
            exit.set(termination ?? .exited(-1))
        }
    }

    private func pumpEvents(from subscription: QMPEventSubscription) async {
        do {
            for try await event in subscription { await handle(event) }
        } catch {
            // The connection ended (QEMU exited): the exit path records what happened.
        }
    }

    private func handle(_ event: QMPEvent) async {
            let name = event.name
            eventLog.append(event: name, data: event.data.isEmpty ? .null : .object(event.data), source: "qemu",
                            qemuTimestamp: ["seconds": JSON(event.seconds), "microseconds": JSON(event.microseconds)])
            controlServer?.emit(event)
            switch name {
            case "SHUTDOWN": lastShutdown = .object(event.data)
            case "STOP" where state.phase == .running: setPhase(.paused)
            case "RESUME" where state.phase == .paused || state.phase == .starting: setPhase(.running)
            default: break
            }
            await policy.handle(event: event, supervisor: self)
    }

    /// Records the run's expected launch digest in `state.json` and the event log first, before
    /// the host checks, so that it is on record whatever becomes of the launch; a relaunch
    /// replaces the previous run's.
    private func recordLaunchMeasurement() {
        guard state.launchMeasurement != nil || launch.launchMeasurement != nil else { return }  // no digest, nothing to write
        state.launchMeasurement = launch.launchMeasurement
        setPhase(state.phase)
        if let measurement = launch.launchMeasurement {
            eventLog.append(event: "LAUNCH_MEASUREMENT", data: measurement.json, source: "igvm-mgr")
        }
    }

    // MARK: - Outcomes

    private func recordExit(_ termination: ProcessTermination) -> Int32 {
        let verdict = ExitClassification.classify(
            termination, stepInProgress: stopInProgress ?? stopOutcome?.step,
            shutdownReason: lastShutdown?["reason"]?.stringValue, shutdownByGuest: lastShutdown?["guest"]?.boolValue == true,
            relaunching: pendingRelaunch != nil)
        state.lastExit = ExitRecord(termination: termination, reason: verdict.reason, stopStep: verdict.creditedStep?.rawValue, outputTail: outputTail())
        eventLog.append(event: "QEMU_EXITED", data: state.lastExit!.json, source: "igvm-mgr")
        unlink(paths.qmpSocket)
        state.qemu = nil
        setPhase(verdict.phase)
        recorded.set(true)
        return verdict.phase == .stopped ? 0 : 1
    }

    private func failStart(termination: ProcessTermination, why: String) -> Int32 {
        let tail = outputTail()
        state.lastExit = ExitRecord(termination: termination, reason: "start-failed", outputTail: tail)
        state.qemu = nil
        unlink(paths.qmpSocket)
        eventLog.append(event: "QEMU_EXITED", data: state.lastExit!.json, source: "igvm-mgr")
        defer { recorded.set(true) }
        return fail(why, details: errorLines(in: tail))
    }

    /// Records a failed launch and tells `start`.
    private func fail(_ message: String, details: [String]) -> Int32 {
        state.error = message
        setPhase(.failed)
        eventLog.append(event: "START_FAILED", data: ["error": .string(message), "qemu-output": .array(details.map(JSON.string))], source: "igvm-mgr")
        readiness?.send("error", ["error": .string(message), "qemu-output": .array(details.map(JSON.string))])
        return 2
    }

    private func setPhase(_ phase: VMPhase) {
        state.phase = phase
        do {
            try state.write(paths.state)
            stateWriteFailure = nil
        } catch {
            stateWriteFailure = error.description
            eventLog.append(event: "STATE_WRITE_FAILED", data: ["error": .string(error.description)], source: "igvm-mgr")
        }
    }

    /// The last lines QEMU printed during this run.
    private func outputTail(lines: Int = 20) -> [String] {
        guard let bytes = try? FileDescriptorIO.readTail(paths.qemuLog, from: outputOffset, maximum: 8192) else { return [] }
        let text = String(decoding: bytes, as: UTF8.self)
        return Array(text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init).suffix(lines))
    }

    /// QEMU's error lines (`qemu-system-x86_64: …`), or the whole tail when none look like errors.
    private func errorLines(in tail: [String]) -> [String] {
        let binaryName = launch.binary.split(separator: "/").last.map(String.init) ?? launch.binary
        let errors = tail.filter { $0.hasPrefix(binaryName + ":") || $0.hasPrefix("qemu") }
        return errors.isEmpty ? tail : errors
    }

    private func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }

    // MARK: - Control socket

    private func startControlServer(greeting: QMPGreeting) async throws -> QMPServer {
        let commands = ControlCommands(supervisor: self)
        // QEMU's version, no `oob`: control commands run in order on each connection.
        let ours = QMPGreeting(version: greeting.version, capabilities: [])
        return try await QMPServer.listen(unixSocket: paths.controlSocket, greeting: ours, maximumMessageSize: controlMessageLimit) { request in
            await self.controlRequestStarted()
            let result = await commands.handle(request.command.name, arguments: request.command.arguments)
            await self.controlRequestFinished()
            return try result.get()
        }
    }

    private func controlRequestStarted() { controlRequestsInFlight += 1 }
    private func controlRequestFinished() { controlRequestsInFlight -= 1 }

    /// Lets the answers to requests that ended the VM (a `stop`) reach their clients: waits for
    /// running requests, then (briefly) for clients to hang up, then closes the socket.
    private func drainControlServer() async {
        guard let server = controlServer else { return }
        let deadline = Timestamp.monotonic() + 2
        while (controlRequestsInFlight > 0 || !server.connections.isEmpty) && Timestamp.monotonic() < deadline {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        await server.close()
        controlServer = nil
    }

    // MARK: - Control operations (the control socket and event policies)

    /// The VM's current state record.
    public func currentState() -> VMState { state }

    public func currentLaunch() -> QEMULaunch { launch }

    public func execute(_ command: String, arguments: JSONObject?) async throws -> JSON {
        try await execute(command, arguments: arguments, timeout: 60)
    }

    /// Runs `command` on QEMU's monitor, giving up after `timeout` seconds.
    public func execute(_ command: String, arguments: JSONObject?, timeout: Double) async throws -> JSON {
        guard let monitor else { throw QMPCommandError(command: command, errorClass: "GenericError", desc: "QEMU's monitor is not connected") }
        return try await monitor.execute(command, arguments: arguments, timeout: timeout)
    }

    public func record(event: String, data: JSON) {
        eventLog.append(event: event, data: data, source: "igvm-mgr")
    }

    public func recordFirmwareUpdateState(_ json: JSON) {
        state.vmfwupdate = json
        setPhase(state.phase)
    }

    /// Stops QEMU with the escalation of `mode`; returns which step ended it (`other` when QEMU
    /// ended during the stop by something the stop did not do), once the exit is recorded.
    public func stop(mode: StopMode, timeout: Double) async throws(LifecycleError) -> StopOutcome {
        guard let qemu, exit.current == nil else {
            return StopOutcome(step: .alreadyExited, attempted: [], seconds: 0)
        }
        if state.phase != .stopping { setPhase(.stopping) }
        eventLog.append(event: "STOP_REQUESTED", data: ["mode": .string(mode.rawValue), "timeout": .double(timeout)], source: "igvm-mgr")
        FaultPoint.stopRequested.reach()
        let target = ChildStopTarget(supervisor: self, qemu: qemu, exit: exit)
        var outcome = try await StopProcedure.run(mode: mode, timeout: timeout, target: target)
        if stopOutcome == nil { stopOutcome = outcome }
        // Reply only once the exit is recorded, so that `status` right after `stop` agrees.
        if await recorded.wait(timeout: 10) != nil, let exit = state.lastExit, exit.reason != "stop" {
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

    private func startSignalStop() {
        let mode = SignalStopPolicy.mode(forSignalNumber: terminationSignals)
        let timeout = signalStopTimeout
        // Not awaited: a second signal must be able to escalate while the first stop waits.
        Task { _ = try? await self.stop(mode: mode, timeout: timeout) }
    }

    fileprivate func noteStopStep(_ step: StopStep) {
        if exit.current == nil { stopInProgress = step }
        eventLog.append(event: "STOP_STEP", data: ["step": .string(step.rawValue)], source: "igvm-mgr")
    }

    fileprivate func monitorForStop() -> QMPClient? { monitor }

    public func relaunch(_ next: QEMULaunch) async throws(LifecycleError) {
        guard let qemu else { throw .failed("no QEMU is running to relaunch") }
        guard terminationSignals == 0 else { throw .failed("the supervisor is stopping the VM (signal received)") }
        pendingRelaunch = next
        let target = ChildStopTarget(supervisor: self, qemu: qemu, exit: exit)
        _ = try await StopProcedure.run(mode: .quit, timeout: 10, target: target)
    }

    /// Waits until the current run's exit is in `state.json` (for replies that must follow it).
    public func waitForRecordedExit(timeout: Double) async -> Bool {
        await recorded.wait(timeout: timeout) ?? false
    }
}

/// The supervisor's own child as a stop target: QMP for the polite steps, signals after.
struct ChildStopTarget: StopTarget {
    let supervisor: Supervisor
    let qemu: ProcessIdentity
    let exit: OnceValue<ProcessTermination>

    func perform(_ step: StopStep) async -> String? {
        // Recorded before the step acts, so the exit it causes is attributed to it.
        await supervisor.noteStopStep(step)
        defer { FaultPoint.stopStepSent.reach() }
        switch step {
        case .acpi, .quit:
            guard let monitor = await supervisor.monitorForStop() else { return "QEMU's monitor is not connected" }
            do {
                _ = try await monitor.execute(step == .acpi ? "system_powerdown" : "quit", arguments: nil, timeout: 5)
                return nil
            } catch {
                // `quit` may lose its reply to QEMU exiting first: that is success.
                return exit.current != nil ? nil : "\(error)"
            }
        case .sigterm: return signalProcess(qemu, SIGTERM)
        case .sigkill: return signalProcess(qemu, SIGKILL)
        case .alreadyExited, .other: return nil
        }
    }

    func waitForExit(timeout: Double) async -> Bool {
        await exit.wait(timeout: timeout) != nil
    }
}
