import Supervisor
import Launch
import Foundation
import JSON
import QMP

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's event policy for VMs in the reset/vmfwupdate flow: maps QEMU's events to
/// `FirmwareUpdateFlow` inputs and carries out its steps through `SupervisorControl`.
///
/// Events arrive one at a time from the supervisor's event pump, but a step (a relaunch) lets
/// the next instance's events in before it returns; events that arrive while a run is in
/// progress are queued and read afterwards, in order, against the phase the run left.
public actor FirmwareUpdateEventPolicy: VMEventPolicy {
    let setup: VMFWUpdateSetup
    let executor: FirmwareUpdateExecutor
    private var flow: FirmwareUpdateFlow
    private var launchNumber = 1
    private var busy = false
    private var queued: [QMPEvent] = []

    /// The environment variable that makes the supervisor kill itself (SIGKILL) right after
    /// recording the named flow event — a test hook for recovery (`vmfwupdate-image-stored`).
    public static let crashHookVariable = "IGVM_MGR_TEST_CRASH_AFTER"

    /// The mailbox's owner when guest RAM is a file (the interface is on).
    let keeper: MailboxKeeper?
    private var watcher: Task<Void, Never>?

    public init(setup: VMFWUpdateSetup) {
        self.setup = setup
        executor = setup.makeExecutor()
        flow = setup.makeFlow()
        keeper = setup.ramFile.flatMap { ram in
            setup.mailboxGPA.map { MailboxKeeper(ram: ram, mailboxGPA: $0, offer: setup.offer) }
        }
    }

    /// Looks at the mailbox while the VM lives, so that DISABLE latches (`MailboxKeeper`).
    private func startWatching(_ supervisor: any SupervisorControl) {
        guard watcher == nil, let keeper else { return }
        watcher = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: MailboxKeeper.watchInterval)
                guard let self, await self.keepsWatching else { return }
                do {
                    if try await keeper.watch() {
                        await supervisor.record(event: "vmfwupdate-disable-latched", data: [:])
                    }
                } catch {
                    // The file is the VM's own; a failing read is logged once per reset at most
                    // by the reset's own read, which fails the same way.
                }
            }
        }
    }

    private var keepsWatching: Bool { flow.phase != .stopped && !flow.phase.isFailed }

    public func handle(event: QMPEvent, supervisor: any SupervisorControl) async {
        startWatching(supervisor)
        // An event that arrives while a run is in progress is read against the phase that run
        // leaves, not the one it started from.
        queued.append(event)
        guard !busy else { return }
        busy = true
        defer { busy = false }
        while !queued.isEmpty {
            let next = queued.removeFirst()
            guard let input = await input(for: next, supervisor: supervisor) else { continue }
            var working = flow
            let host = SupervisorFirmwareUpdateHost(supervisor: supervisor, setup: setup, keeper: keeper,
                                                    nextLaunchNumber: launchNumber + 1)
            do {
                let timings = try await executor.run(input, flow: &working, host: host)
                if !timings.isEmpty {
                    // For the benchmark's split (bench/vmfwupdate_bench.py).
                    await supervisor.record(event: "vmfwupdate-step-timings", data: .object(JSONObject(
                        timings.map { ($0.step, JSON($0.seconds)) })))
                }
            } catch {
                await supervisor.record(event: "vmfwupdate-error", data: ["error": .string("\(error)")])
            }
            // Entering `launching` used the next launch number for the new instance's plan.
            if working.phase.isLaunching, !flow.phase.isLaunching { launchNumber += 1 }
            flow = working
        }
    }

    /// The flow input an event stands for in the current phase, if any.
    private func input(for event: QMPEvent, supervisor: any SupervisorControl) async -> FirmwareUpdateFlow.Input? {
        switch (event.runState, flow.phase) {
        case (.shutdown?, .running) where event.data["guest"]?.boolValue == true:
            switch event.data["reason"]?.stringValue {
            case "guest-reset": return .guestReset
            case "guest-shutdown": return .guestPowerOff
            default: return nil
            }
        case (.shutdown?, .running) where event.data["reason"]?.stringValue == "host-qmp-system-reset":
            return .hostReset
        case (.reset?, .resettingInPlace):
            // The reset happened (run state prelaunch): restore the reset policy, then run.
            do {
                _ = try await supervisor.execute("set-action", arguments: ["reboot": "shutdown"])
                _ = try await supervisor.execute("cont", arguments: nil)
                return .resetCompleted
            } catch {
                return .stepFailed(reason: "\(error)")
            }
        case (.resume?, .launching):
            return .instanceLaunched
        default:
            return nil
        }
    }
}

/// `FirmwareUpdateHost` over the supervisor: QMP through its monitor, relaunch through its run
/// loop (which is why launch and reset-in-place complete later, on QEMU's events).
struct SupervisorFirmwareUpdateHost: FirmwareUpdateHost {
    let supervisor: any SupervisorControl
    let setup: VMFWUpdateSetup
    let keeper: MailboxKeeper?
    let nextLaunchNumber: Int

    func channel() async throws -> any FirmwareUpdateChannel {
        guard let mailboxGPA = setup.mailboxGPA else { throw LifecycleError.failed("the vmfwupdate interface is off") }
        if let keeper { return KeptMailboxChannel(keeper: keeper) }
        let supervisor = self.supervisor
        return GuestMemoryMailboxChannel(
            mailboxGPA: mailboxGPA,
            memory: PmemsaveMemoryReader(scratchDirectory: setup.folder) { command, arguments in
                try await supervisor.execute(command, arguments: arguments)
            })
    }

    func quitInstance(next: FirmwareInUse?) async throws {
        if let next {
            try await keeper?.resetForNextRun()
            try await supervisor.relaunch(setup.launch(booting: next, number: nextLaunchNumber))
        } else {
            // `quit` may lose its reply to QEMU exiting: the supervisor records the exit.
            _ = try? await supervisor.execute("quit", arguments: nil)
        }
    }

    func launchInstance(_ firmware: FirmwareInUse) async throws -> FirmwareUpdateStepCompletion {
        .pending  // the supervisor's next run launches it; its RESUME completes the step
    }

    /// Under `-action reboot=shutdown` QMP's `system_reset` would become a shutdown too, so the
    /// reboot action is switched to `reset` for it; `cont` waits for the RESET event.
    func resetInstanceInPlace() async throws -> FirmwareUpdateStepCompletion {
        try await keeper?.resetForNextRun()
        _ = try await supervisor.execute("set-action", arguments: ["reboot": "reset"])
        _ = try await supervisor.execute("system_reset", arguments: nil)
        return .pending
    }

    func record(_ event: FirmwareUpdateEvent, flow: FirmwareUpdateFlow) async {
        await supervisor.record(event: event.name, data: event.data)
        await supervisor.updateState { $0.vmfwupdate = flow.record }
        if ProcessInfo.processInfo.environment[FirmwareUpdateEventPolicy.crashHookVariable] == event.name {
            kill(getpid(), SIGKILL)
        }
    }

    func finishStopped(flow: FirmwareUpdateFlow) async {
        await supervisor.updateState { $0.vmfwupdate = flow.record }
    }
}
