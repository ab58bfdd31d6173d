import FirmwareUpdate
import Supervisor
import VMState
import Launch
import Capabilities
import FileAccess
#if canImport(Glibc)
import Glibc
#endif
import JSON
import Logging
import NIOPosix

/// How long `start` waits.
public enum StartWait: String, Sendable, CaseIterable {
    /// Until the guest runs (after `cont`; or paused, for `--paused` launches).
    case running
    /// Until QEMU's monitor answered and the control socket is up.
    case qmp
    /// Until QEMU has been spawned.
    case none
}

/// What `start` reports.
public struct StartResult: Sendable, Equatable {
    public var name: String
    public var qemuPID: Int32?
    public var supervisorPID: Int32
    /// The milestone reached.
    public var milestone: ReadinessMilestone
    /// The phase the supervisor reported with `ready`.
    public var phase: VMPhase?
    public var stateFolder: String

    public var json: JSON {
        ["name": .string(name), "pid": qemuPID.map { JSON(Int($0)) } ?? .null, "supervisor-pid": JSON(Int(supervisorPID)),
         "milestone": .string(milestone.rawValue), "phase": phase.map { .string($0.rawValue) } ?? .null, "state-folder": .string(stateFolder)]
    }
}

/// `start`: takes the VM's lock, writes the plan, spawns the supervisor detached (new session,
/// stdio to its log) handing it the lock and a readiness pipe, and waits on that pipe.
public struct StartProcedure: Sendable {
    /// How long `start` waits for the VM to reach what it waits for, unless told otherwise.
    public static let defaultTimeout: Duration = .seconds(30)
    public var stateDirectory: StateDirectory
    /// The `igvm-mgr` executable that runs `supervise`.
    public var supervisorExecutable: String
    public var host: any HostFacts = LiveHostFacts()
    /// The capability probe's logger: only real problems, not QMP connection chatter.
    public var probeLogger: Logger = {
        var logger = Logger(label: "igvm-mgr.probe")
        logger.logLevel = .error
        return logger
    }()
    /// How long the supervisor's SIGTERM-initiated stop waits after the ACPI powerdown.
    public var signalStopTimeout: Duration?
    /// `NAME=value` entries for the supervisor's environment (tests arm a `FaultPoint`).
    public var supervisorEnvironment: [String] = []

    public init(stateDirectory: StateDirectory, supervisorExecutable: String) {
        self.stateDirectory = stateDirectory
        self.supervisorExecutable = supervisorExecutable
    }

    /// Starts `launch`; `definitionText` is the resolved definition kept in the state folder.
    public func start(_ launch: QEMULaunch, definitionText: String?, wait: StartWait = .running, timeout: Duration = StartProcedure.defaultTimeout) async throws(LifecycleError) -> StartResult {
        try launch.validate()
        let paths = try stateAccess { () throws(StateError) in try stateDirectory.vm(launch.name) }
        // Refuse before anything is spawned or written: the host cannot run it.
        try HostChecks.check(launch.requirements, on: host)
        let binary = try ProcessSpawner.resolve(launch.binary)
        try await checkCapabilities(of: binary, for: launch)
        try stateAccess { () throws(StateError) in try stateDirectory.create() }
        try stateAccess { () throws(StateError) in try stateDirectory.createFolder(paths) }

        let lock: VMLock
        do {
            guard let acquired = try VMLock.tryAcquire(paths.lock) else {
                let pid = (try? VMState.read(paths.state))?.supervisor?.pid
                throw LifecycleError.busy("VM \(launch.name) is already running or starting" + (pid.map { " (supervisor pid \($0))" } ?? ""))
            }
            lock = acquired
        } catch let error as LifecycleError { throw error } catch { throw .failed("\(error)") }
        defer { lock.release() }

        if let previous = try? VMState.read(paths.state), let qemu = previous.qemu, qemu.isAlive {
            throw .busy("VM \(launch.name) has a QEMU still running without its supervisor (pid \(qemu.pid)): stop it with `igvm-mgr stop \(launch.name)` or `igvm-mgr cleanup`")
        }
        do {
            if let definitionText { try AtomicFile.write(definitionText, to: paths.definition) }
            try AtomicFile.write((try? launch.json.encoded(pretty: true)) ?? "{}", to: paths.plan)
        } catch { throw LifecycleError(error) }
        // After our plan.json is written: of two starts racing for one CID, neither misses the other.
        try checkVsockCID(of: launch)
        var initial = (try? VMState.read(paths.state)) ?? nil ?? VMState(name: launch.name, phase: .starting)
        initial.phase = .starting
        initial.error = nil
        initial.qemu = nil
        initial.supervisor = nil
        initial.definitionSource = launch.definitionSource
        initial.launchMeasurement = launch.launchMeasurement  // never a previous run's
        try stateAccess { () throws(StateError) in try initial.write(paths.state) }

        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0, fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC) == 0 else { throw LifecycleError(SystemError("cannot create a pipe", "")) }
        defer { close(pipeFDs[0]) }
        let invocation = SupervisorInvocation(name: launch.name, stateDirectory: stateDirectory.path, stopTimeout: signalStopTimeout)
        var request = SpawnRequest(executable: supervisorExecutable, arguments: invocation.arguments, logPath: paths.supervisorLog)
        request.extraEnvironment = supervisorEnvironment
        request.newSession = true
        request.inheritedDescriptors = [(lock.descriptor, SupervisorDescriptors.lock), (pipeFDs[1], ReadinessChannel.supervisorDescriptor)]
        let supervisorPID: Int32
        do {
            supervisorPID = try ProcessSpawner.spawn(request)
        } catch {
            close(pipeFDs[1])
            throw error
        }
        close(pipeFDs[1])
        lock.release()  // the supervisor holds the same lock now

        // The wait blocks in poll(2): keep it off Swift's cooperative threads.
        let readFD = pipeFDs[0]
        let outcome: Result<ReadinessOutcome, LifecycleError>
        do {
            outcome = try await NIOThreadPool.singleton.runIfActive {
                Result { () throws(LifecycleError) in
                    try awaitReadiness(fd: readFD, paths: paths, supervisorPID: supervisorPID, wait: wait, timeout: timeout)
                }
            }
        } catch {
            throw .failed("cannot wait for the supervisor: \(error)")
        }
        switch try outcome.get() {
        case .reached(let result):
            return result
        case .supervisorDied:
            throw await settleAfterSupervisorDeath(paths, name: launch.name, supervisorPID: supervisorPID)
        }
    }

    /// Refuses a `[vsock]` guest CID that another running (or starting) VM of this state
    /// directory uses: vhost-vsock would refuse it only when QEMU opens the device
    /// (drivers/vhost/vsock.c, `vhost_vsock_set_cid()`: EADDRINUSE), after the VM was set up.
    func checkVsockCID(of launch: QEMULaunch) throws(LifecycleError) {
        guard let cid = launch.requirements.vsockGuestCID else { return }
        for name in stateDirectory.vmNames() where name != launch.name {
            guard let other = try? stateDirectory.vm(name), VMLock.isHeld(other.lock),
                  let plan = try? QEMULaunch.recorded(in: other),
                  plan.requirements.vsockGuestCID == cid else { continue }
            throw .busy("VM \(launch.name): vsock guest-cid \(cid) is already used by running VM \(name)")
        }
    }

    /// Refuses a launch whose objects, machine properties or devices the binary lacks, with the
    /// message `caps` gives, before the VM's QEMU exists. The probe is cached per binary in the
    /// state directory (path, size and mtime decide when it is stale).
    private func checkCapabilities(of binary: String, for launch: QEMULaunch) async throws(LifecycleError) {
        guard let plan = launch.plan else { return }
        let capabilities = try await probe(binary)
        let missing = LaunchCapabilityCheck.missing(for: plan, in: capabilities)
        guard missing.isEmpty else {
            throw .hostUnsupported("this QEMU cannot run the VM: " + missing.map(\.description).joined(separator: "; ")
                                   + " (binary \(capabilities.binary.path))")
        }
    }

    /// The probe of `binary` (resolved), from the cache in the state directory when it is fresh;
    /// without the QAPI schema, which nothing here asks.
    private func probe(_ binary: String) async throws(LifecycleError) -> QEMUCapabilities {
        do {
            return try await QEMUCapabilityCache(directory: stateDirectory.capabilityCache,
                                                 probe: QEMUProbe(logger: probeLogger)).capabilities(of: binary, includingSchema: false).0
        } catch {
            throw .hostUnsupported("cannot probe \(binary) for what it supports: \(error)")
        }
    }

    /// What the probe of `binary` (as a plan names it: a path, or a name on PATH) says about its
    /// IGVM loader for a VM on `machine`: decided here, before the plan is written, so that the
    /// vmfwupdate offer follows the binary rather than `qemu.version`. The probe is the one
    /// `start` makes anyway (cached), so this costs no second QEMU run.
    public func igvmLoader(binary: String, machine: String) async throws(LifecycleError) -> IGVMLoaderProbe {
        IGVMLoaderProbe(capabilities: try await probe(try ProcessSpawner.resolve(binary)), machine: machine)
    }

    private enum ReadinessOutcome: Sendable {
        case reached(StartResult)
        /// The pipe closed without the milestone: the supervisor died.
        case supervisorDied
    }

    /// The supervisor died before the VM was ready: a failed start leaves nothing running, so a
    /// QEMU it spawned is killed (by its recorded, start-time-checked pid) and the record
    /// settled; the error says what happened to it.
    private func settleAfterSupervisorDeath(_ paths: VMPaths, name: String, supervisorPID: Int32) async -> LifecycleError {
        let before = try? VMState.read(paths.state)
        let qemu = before?.qemu.flatMap { $0.isAlive ? $0 : nil }
        let why = before?.error ?? "its supervisor (pid \(supervisorPID)) exited before the VM was ready (see \(paths.supervisorLog))"
        var report: Lifecycle.StopReport?
        var problem: String?
        var fallback = StopFallback(lifecycle: Lifecycle(stateDirectory: stateDirectory), name: name, mode: .force, timeout: .zero)
        fallback.reason = "start-failed"
        fallback.phaseAfter = .failed
        do {
            report = try await fallback.run()
        } catch {
            problem = error.description
        }
        let what: String
        switch (qemu, report?.outcome, problem) {
        case (let qemu?, _, let problem?): what = "QEMU (pid \(qemu.pid)) may still run: \(problem)"
        case (let qemu?, _, nil): what = "the QEMU it had started (pid \(qemu.pid)) was killed"
        case (nil, _, let problem?): what = "no QEMU was running; recording it failed: \(problem)"
        case (nil, _, nil): what = "no QEMU was running"
        }
        let tail = (try? VMState.read(paths.state))?.lastExit?.outputTail ?? []
        return .startFailed("VM \(name) failed to start: \(why); \(what)", details: tail)
    }

    private func awaitReadiness(fd: Int32, paths: VMPaths, supervisorPID: Int32, wait: StartWait, timeout: Duration) throws(LifecycleError) -> ReadinessOutcome {
        var reader = ReadinessReader(fd: fd)
        let deadline = Timestamp.monotonic() + timeout.seconds
        var result = StartResult(name: paths.name, qemuPID: nil, supervisorPID: supervisorPID, milestone: .started, phase: nil, stateFolder: paths.folder)
        while true {
            switch reader.next(deadline: deadline) {
            case .record(let record):
                // A line the supervisor cannot have written (an unknown milestone) is skipped.
                guard let milestone = record["milestone"]?.stringValue.flatMap(ReadinessMilestone.init(rawValue:)) else { continue }
                if let pid = record["qemu-pid"]?.intValue { result.qemuPID = Int32(pid) }
                if let phase = record["phase"]?.stringValue.flatMap(VMPhase.init(rawValue:)) { result.phase = phase }
                result.milestone = milestone
                switch milestone {
                case .error:
                    let lines = record["qemu-output"]?.arrayValue?.compactMap(\.stringValue) ?? []
                    throw .startFailed("VM \(paths.name) failed to start: \(record["error"]?.stringValue ?? "unknown error")", details: lines)
                case .spawned where wait == .none, .qmp where wait == .qmp, .ready:
                    return .reached(result)
                case .started, .spawned, .qmp:
                    continue
                }
            case .endOfFile:
                return .supervisorDied
            case .timedOut:
                throw .timedOut(
                    "VM \(paths.name) did not reach \(wait == .qmp ? "QMP" : "running") within \(timeout.seconds) s (it may still be starting: see `igvm-mgr status \(paths.name)`)")
            }
        }
    }
}

/// Descriptor numbers `start` hands the supervisor.
public enum SupervisorDescriptors {
    /// The VM's locked lock file.
    public static let lock: Int32 = 3
    /// The write end of the readiness pipe.
    public static let readiness: Int32 = ReadinessChannel.supervisorDescriptor
}
