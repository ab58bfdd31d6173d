import FileAccess
import Foundation
import JSON
import QMP
import Testing
import TestSupport

@testable import Launch
@testable import VMState
@testable import Supervisor
@testable import FirmwareUpdate
@testable import Lifecycle

/// An event policy that relaunches QEMU once, with another launch, on the first RESUME
/// (what the reset flows do on a guest reset), and reports the second run's RESUME: by then
/// the supervisor has recorded the new run (the phase is set before the policy is called).
actor RelaunchOncePolicy: VMEventPolicy {
    let next: QEMULaunch
    private var resumes = 0
    private(set) var failure: String?
    let secondRunResumed: AsyncStream<Void>
    private let resumed: AsyncStream<Void>.Continuation

    init(next: QEMULaunch) {
        self.next = next
        (secondRunResumed, resumed) = AsyncStream.makeStream()
    }

    func handle(event: QMPEvent, supervisor: any SupervisorControl) async {
        guard event.name == "RESUME" else { return }
        resumes += 1
        if resumes == 1 {
            do { try await supervisor.relaunch(next) } catch { failure = "\(error)" }
        } else if resumes == 2 {
            resumed.yield()
        }
    }

    /// True once the second run resumed; false if `seconds` pass first (then the test fails
    /// instead of hanging: both waits end on cancellation).
    nonisolated func waitForSecondRun(seconds: Int) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { for await _ in self.secondRunResumed { return true }; return false }
            group.addTask { try? await Task.sleep(for: .seconds(seconds)); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}

@Suite("Lifecycle relaunch (real QEMU)")
struct LifecycleRelaunchTests {
    @Test("an event policy relaunches QEMU under the same supervisor and control socket")
    func relaunchFromPolicy() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let paths = try sandbox.paths("rl")
        try sandbox.directory.create()
        try Folder.make(paths.folder, mode: 0o700)
        var first = try sandbox.launch("rl")
        // Each run records its own launch's expected measurement (labels: no SEV under TCG).
        first.launchMeasurement = .unavailable(reason: "first run")
        var second = first
        second.firmware = "second-run"
        second.launchMeasurement = .unavailable(reason: "second run")
        let policy = RelaunchOncePolicy(next: second)
        // In-process (no lock, no readiness pipe): QEMU is this test's grandchild-free child.
        let supervisor = try Supervisor(paths: paths, launch: first, policy: policy, lock: nil, readiness: nil)
        let run = Task { await supervisor.run() }

        // The second run's RESUME (an event, not a poll): it runs, with its launch on record.
        let resumed = await policy.waitForSecondRun(seconds: 60)
        let state = await supervisor.currentState()
        guard resumed else {
            // Fail without racing a stop against a relaunch still under way: end QEMU outright.
            Issue.record("the relaunched QEMU never resumed (phase \(state.phase))")
            if let qemu = state.qemu { kill(qemu.pid, SIGKILL) }
            return
        }
        #expect(state.phase == .running)
        #expect(state.firmware == "second-run")
        #expect(state.qemu != nil)
        #expect(state.lastExit?.reason == "relaunch")
        #expect(state.launchMeasurement == second.launchMeasurement)
        #expect(await policy.failure == nil)

        let outcome = try await supervisor.stop(mode: .quit, timeout: .seconds(5))
        #expect(outcome.step == .quit)
        #expect(await run.value == 0)
        let records = EventLog.read(paths.eventLog)
        let events = records.compactMap { $0["event"]?.stringValue }
        #expect(events.filter { $0 == "QEMU_SPAWNED" }.count == 2)
        #expect(events.contains("RELAUNCH"))
        #expect(events.last == "SUPERVISOR_EXITED")
        // Before each spawn, that run's measurement: the first, then after RELAUNCH the second.
        let spawnsAndMeasurements = records.compactMap { record -> String? in
            switch record["event"]?.stringValue {
            case "QEMU_SPAWNED", "RELAUNCH": record["event"]?.stringValue
            case "LAUNCH_MEASUREMENT": record["data"]?["error"]?.stringValue
            default: nil
            }
        }
        #expect(spawnsAndMeasurements == ["first run", "QEMU_SPAWNED", "RELAUNCH", "second run", "QEMU_SPAWNED"])
    }
}
