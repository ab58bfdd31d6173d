import VMState
import Launch
import FileAccess
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
    let eventLog: EventLog
    private let policy: any VMEventPolicy
    private let readiness: ReadinessChannel?
    private let lock: VMLock?
    var launch: QEMULaunch
    var state: VMState

    /// The current QEMU run; each run (a relaunch too) starts from a fresh one.
    var run = QEMURun()
    var pendingRelaunch: QEMULaunch?
    private let waiterPool: NIOThreadPool
    private var controlSocket: ControlSocket?
    /// `[console]`: the guest's serial console, relayed for the supervisor's whole life (every
    /// QEMU run's console goes to the same log and attachment).
    private(set) var consoleRelay: ConsoleRelay?
    /// Whether to drop start-up's code pages from the RSS once QEMU runs (`ResidentSetTrim`).
    private let trimsResidentSet: Bool
    /// SIGTERM/SIGINT seen so far (`SignalStopPolicy`), and the ACPI wait of the stop they start.
    var terminationSignals = 0
    let signalStopTimeout: Duration
    /// The largest QMP message the control socket takes (a larger one ties QEMU's monitor up
    /// parsing it while every other client waits).
    private let controlMessageLimit: Int

    /// The default of `controlMessageLimit`: 256 KiB, far above any command QEMU's monitor needs
    /// (the largest, `object-add` with an IGVM or ID block, is a few KiB).
    public static let defaultControlMessageLimit = 256 * 1024
    /// The last `state.json` write that failed (a stop reports it instead of claiming success).
    var stateWriteFailure: String?

    /// How long the supervisor waits for QEMU's monitor greeting during start-up.
    public static let monitorTimeout: Duration = .seconds(60)
    /// How long QEMU, whose start-up just failed, gets to exit (and say why) by itself.
    static let startFailureExitWait: Duration = .seconds(5)
    /// How long `cont` may take at the end of start-up.
    static let contTimeout: Duration = .seconds(30)
    /// How long control-socket clients get to read the answer to the request that ended the VM.
    static let controlDrainTimeout: Duration = .seconds(2)

    public init(paths: VMPaths, launch: QEMULaunch, policy: any VMEventPolicy,
                lock: VMLock?, readiness: ReadinessChannel?, trimsResidentSet: Bool = true,
                signalStopTimeout: Duration = StopArguments.defaultTimeout,
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
            if let flow = previous.vmfwupdate, !flow.phase.isSettled {
                eventLog.append(event: "vmfwupdate-interrupted", data: flow.json, source: "igvm-mgr")
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
        await drainControlSocket()
        unlink(paths.controlSocket)
        await consoleRelay?.close()
        readiness?.close()
        try? await waiterPool.shutdownGracefully()
        eventLog.append(event: "SUPERVISOR_EXITED", data: ["status": JSON(Int(status))], source: "igvm-mgr")
        return status
    }

    // MARK: - One QEMU run

    private func runOnce() async -> Int32 {
        run = QEMURun()
        recordLaunchMeasurement()
        do {
            try HostChecks.check(launch.requirements)
            try launch.validate()
        } catch {
            return fail(error.description, details: [])
        }
        if terminationSignals > 0 { return fail("stopped by a signal before QEMU was spawned", details: []) }
        if launch.console, consoleRelay == nil {
            let log = eventLog
            do {
                consoleRelay = try await ConsoleRelay.open(name: launch.name, socketPath: paths.consoleSocket, logPath: paths.consoleLog) { event, data in
                    log.append(event: event, data: data, source: "igvm-mgr")
                }
            } catch {
                return fail("cannot serve the serial console: \(error)", details: [])
            }
        }
        let pid: Int32
        do {
            pid = try spawnQEMU()
        } catch {
            // A held child that never ran has exited (its gate closed): nothing to record as running.
            state.qemu = nil
            return fail(error.description, details: [])
        }
        FaultPoint.qemuReleased.reach()
        readiness?.send(.spawned, ["qemu-pid": JSON(Int(pid))])
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
            if let termination = await run.exit.wait(timeout: Self.startFailureExitWait) {
                return failStart(termination: termination, why: "QEMU exited during start-up (\(termination))")
            }
            _ = run.qemu.map { signalProcess($0, SIGKILL) }
            let termination = await run.exit.wait(timeout: StopProcedure.killWait) ?? .signaled(SIGKILL)
            return failStart(termination: termination, why: "cannot talk to QEMU's monitor: \(message)")
        }
        // Subscribe first, so that no event of the run is missed (events from before the
        // negotiation completed are kept by the client).
        let subscription = session.events(bufferSize: 4096)
        run.monitor = session
        state.qemuVersion = session.greeting.version.description
        for early in session.eventsBeforeReady { await handle(early) }
        let pump = Task { await self.pumpEvents(from: subscription) }
        if controlSocket == nil {
            do {
                let commands = ControlCommands(supervisor: self)
                controlSocket = try await ControlSocket.open(path: paths.controlSocket, greeting: session.greeting,
                                                             maximumMessageSize: controlMessageLimit) { command in
                    await commands.handle(command.name, arguments: command.arguments)
                }
            } catch {
                eventLog.append(event: "CONTROL_SOCKET_FAILED", data: ["error": .string("\(error)")], source: "igvm-mgr")
            }
        }
        readiness?.send(.qmp, ["qemu-version": .string(session.greeting.version.description)])
        FaultPoint.monitorConnected.reach()

        if launch.startPaused {
            setPhase(.paused)
        } else {
            do {
                _ = try await session.execute("cont", nil, timeout: Self.contTimeout)
                setPhase(.running)
            } catch {
                // QEMU may be dying right now; the exit below decides what is recorded.
                if let termination = await run.exit.wait(timeout: Self.startFailureExitWait) {
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
        readiness?.send(.ready, ["phase": .string(state.phase.rawValue), "qemu-pid": JSON(Int(pid))])

        let termination = await run.exit.wait() ?? .exited(-1)
        FaultPoint.qemuExited.reach()
        run.monitor = nil
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
        let exit = run.exit
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
        // [console]: QEMU's end of a socket pair whose other end the relay holds.
        var console: Int32?
        if launch.console, let consoleRelay {
            do { console = try consoleRelay.connectQEMU() } catch { throw LifecycleError(error) }
        }
        defer { if let console { close(console) } }
        let argv = launch.argv(monitor: .inheritedDescriptor, console: QEMULaunch.ConsoleEndpoint(paths))
        do {
            try AtomicFile.write((try? JSON.array(argv.map(JSON.string)).encoded(pretty: true)) ?? "[]", to: paths.argv)
        } catch { throw LifecycleError(error) }
        run.output = QEMUOutputLog(path: paths.qemuLog, binary: launch.binary)
        var request = SpawnRequest(executable: launch.binary, arguments: Array(argv.dropFirst()), logPath: paths.qemuLog)
        request.inheritedDescriptors = [(listener, QEMULaunch.monitorDescriptor)]
            + (console.map { [($0, QEMULaunch.consoleDescriptor)] } ?? [])
        FaultPoint.beforeSpawn.reach()
        let child = try ProcessSpawner.spawnGated(request)
        let pid = child.pid
        FaultPoint.gateSpawned.reach()
        run.qemu = ProcessIdentity.of(pid: pid) ?? ProcessIdentity(pid: pid, startTicks: 0)
        state.qemu = run.qemu
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
        let exit = run.exit
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
        eventLog.append(event: event.name, data: event.data.isEmpty ? .null : .object(event.data), source: "qemu",
                        qemuTimestamp: ["seconds": JSON(event.seconds), "microseconds": JSON(event.microseconds)])
        controlSocket?.emit(event)
        if let runState = event.runState {
            if runState == .shutdown { run.lastShutdown = event.data }
            if let next = RunStatePhase.phase(after: runState, in: state.phase) { setPhase(next) }
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
            termination, stepInProgress: run.stopInProgress ?? run.stopOutcome?.step,
            shutdownReason: run.lastShutdown?["reason"]?.stringValue, shutdownByGuest: run.lastShutdown?["guest"]?.boolValue == true,
            relaunching: pendingRelaunch != nil)
        state.lastExit = ExitRecord(termination: termination, reason: verdict.reason, stopStep: verdict.creditedStep?.rawValue, outputTail: run.output.tail())
        eventLog.append(event: "QEMU_EXITED", data: state.lastExit!.json, source: "igvm-mgr")
        unlink(paths.qmpSocket)
        state.qemu = nil
        setPhase(verdict.phase)
        run.recorded.set(true)
        return verdict.phase == .stopped ? 0 : 1
    }

    private func failStart(termination: ProcessTermination, why: String) -> Int32 {
        let tail = run.output.tail()
        state.lastExit = ExitRecord(termination: termination, reason: "start-failed", outputTail: tail)
        state.qemu = nil
        unlink(paths.qmpSocket)
        eventLog.append(event: "QEMU_EXITED", data: state.lastExit!.json, source: "igvm-mgr")
        defer { run.recorded.set(true) }
        return fail(why, details: run.output.errorLines(in: tail))
    }

    /// Records a failed launch and tells `start`.
    private func fail(_ message: String, details: [String]) -> Int32 {
        state.error = message
        setPhase(.failed)
        eventLog.append(event: "START_FAILED", data: ["error": .string(message), "qemu-output": .array(details.map(JSON.string))], source: "igvm-mgr")
        readiness?.send(.error, ["error": .string(message), "qemu-output": .array(details.map(JSON.string))])
        return 2
    }

    func setPhase(_ phase: VMPhase) {
        state.phase = phase
        do {
            try state.write(paths.state)
            stateWriteFailure = nil
        } catch {
            stateWriteFailure = error.description
            eventLog.append(event: "STATE_WRITE_FAILED", data: ["error": .string(error.description)], source: "igvm-mgr")
        }
    }

    // MARK: - Control socket

    /// Lets the answers to requests that ended the VM (a `stop`) reach their clients, then
    /// closes the control socket.
    private func drainControlSocket() async {
        await controlSocket?.drain(timeout: Self.controlDrainTimeout)
        controlSocket = nil
    }
}
