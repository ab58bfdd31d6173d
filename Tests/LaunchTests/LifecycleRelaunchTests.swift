import Foundation
import JSON
import QMP
import Testing
import TestSupport

@testable import Launch

/// An event policy that relaunches QEMU once, with another launch, on the first RESUME
/// (what the reset flows do on a guest reset).
actor RelaunchOncePolicy: VMEventPolicy {
    let next: QEMULaunch
    private var done = false
    private(set) var failure: String?

    init(next: QEMULaunch) { self.next = next }

    func handle(event: QMPEvent, supervisor: any SupervisorControl) async {
        guard event.name == "RESUME", !done else { return }
        done = true
        do { try await supervisor.relaunch(next) } catch { failure = "\(error)" }
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
        try StateDirectory.makeFolder(paths.folder, mode: 0o700)
        var first = try sandbox.launch("rl")
        // Each run records its own launch's expected measurement (labels: no SEV under TCG).
        first.launchMeasurement = .unavailable(reason: "first run")
        var second = first
        second.startPaused = true
        second.firmware = "second-run"
        second.launchMeasurement = .unavailable(reason: "second run")
        let policy = RelaunchOncePolicy(next: second)
        // In-process (no lock, no readiness pipe): QEMU is this test's grandchild-free child.
        let supervisor = try Supervisor(paths: paths, launch: first, policy: policy, lock: nil, readiness: nil)
        let run = Task { await supervisor.run() }

        // Wait for the second run: paused, with the second launch's firmware on record.
        let deadline = Date().addingTimeInterval(30)
        var state = await supervisor.currentState()
        while !(state.phase == .paused && state.firmware == "second-run" && state.qemu != nil) && Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
            state = await supervisor.currentState()
        }
        #expect(state.phase == .paused)
        #expect(state.lastExit?.reason == "relaunch")
        #expect(state.launchMeasurement == second.launchMeasurement)
        #expect(await policy.failure == nil)

        let outcome = try await supervisor.stop(mode: .quit, timeout: 5)
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
