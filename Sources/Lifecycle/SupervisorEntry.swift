import FirmwareUpdate
import Supervisor
import VMState
import Launch
import FileAccess
#if canImport(Glibc)
import Glibc
#endif

/// `igvm-mgr supervise NAME`: the supervisor process's entry point. Normally started by `start`
/// with the VM's locked lock file and the readiness pipe on descriptors it names
/// (`--lock-fd 3 --readiness-fd 4`); run by hand it takes the lock itself. The launch plan
/// (`plan.json`, written by `start`) is its only input: the event policy too comes from it.
public enum SupervisorEntry {
    public static func run(name: String, stateDirectory: StateDirectory, lockDescriptor: Int32? = nil, readinessDescriptor: Int32? = nil,
                           signalStopTimeout: Duration = StopArguments.defaultTimeout,
                           controlMessageLimit: Int = Supervisor.defaultControlMessageLimit) async -> Int32 {
        umask(0o077)  // every file and socket the supervisor makes is private to the owner
        signal(SIGPIPE, SIG_IGN)
        let signals = TerminationSignalSource()
        let paths: VMPaths
        do { paths = try stateDirectory.vm(name) } catch {
            report("\(error)")
            return 2
        }
        let lock: VMLock
        if let lockDescriptor, fcntl(lockDescriptor, F_GETFD) >= 0 {
            lock = VMLock.adopt(descriptor: lockDescriptor)
        } else {
            guard let acquired = try? VMLock.tryAcquire(paths.lock) else {
                report("VM \(name) is locked by another supervisor or start")
                return 2
            }
            lock = acquired
        }
        let readiness = readinessDescriptor.flatMap { fcntl($0, F_GETFD) >= 0 ? ReadinessChannel(descriptor: $0) : nil }
        let launch: QEMULaunch
        let policy: any VMEventPolicy
        do {
            guard let recorded = try QEMULaunch.recorded(in: paths) else {
                throw LifecycleError.notFound("no launch plan at \(paths.plan)")
            }
            launch = recorded
            // The reset/vmfwupdate policy when the plan asks for it; a plan without one runs
            // with QEMU's own reset behaviour, by the plan's choice, never as a fallback.
            policy = try VMFWUpdateSetup.forPlan(launch, vmFolder: paths.folder).map(FirmwareUpdateEventPolicy.init) ?? PlainEventPolicy()
        } catch {
            readiness?.send(.error, ["error": .string("cannot use the launch plan: \(error)")])
            report("cannot use the launch plan: \(error)")
            return 2
        }
        do {
            // IGVM_MGR_KEEP_RESIDENT_SET=1 keeps start-up's pages mapped (to measure the trim).
            let supervisor = try Supervisor(paths: paths, launch: launch, policy: policy, lock: lock, readiness: readiness,
                                            trimsResidentSet: getenv("IGVM_MGR_KEEP_RESIDENT_SET") == nil,
                                            signalStopTimeout: signalStopTimeout, controlMessageLimit: controlMessageLimit)
            signals.deliver { number in Task { await supervisor.terminationSignal(number) } }
            return await supervisor.run()
        } catch {
            readiness?.send(.error, ["error": .string(error.description)])
            report(error.description)
            return 2
        }
    }

    private static func report(_ message: String) {
        let line = "igvm-mgr supervise: \(message)\n"
        try? FileDescriptorIO.writeAll(2, Array(line.utf8), subject: "stderr")
    }
}
