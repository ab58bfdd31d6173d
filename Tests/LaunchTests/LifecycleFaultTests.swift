import FileAccess
import Foundation
import JSON
import QMP
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@testable import Launch
@testable import VMState
@testable import Supervisor
@testable import FirmwareUpdate
@testable import Lifecycle

/// The lifecycle under faults, with real QEMU (TCG): the supervisor killed (`kill -9`) at each
/// named point of `start` and `stop` (`FaultPoint`, armed through the supervisor's environment,
/// so the point is reached deterministically), SIGTERM to it, its control socket deleted, the
/// supervisor stopped with SIGSTOP. After each, `stop --force` and `list` must leave no QEMU and
/// a record that says what happened.
@Suite("Lifecycle under faults (real QEMU)")
struct LifecycleFaultTests {
    /// `stop --force`, then: nothing of the VM runs (no process writes its logs), the record is
    /// final (no active phase), and `list` agrees with it.
    func forceStopLeavesNothing(_ sandbox: LifecycleSandbox, _ name: String) async throws -> VMObservation {
        _ = try await sandbox.lifecycle.stop(name, mode: .force, timeout: .seconds(0))
        let paths = try sandbox.paths(name)
        #expect(sandbox.processes(writingTo: paths.qemuLog).isEmpty, "a QEMU of \(name) still runs")
        #expect(try await sandbox.waitForSupervisorExit(name))
        let listed = try #require(VMObservation.observeAll(in: sandbox.directory).first { $0.name == name })
        #expect(![.orphaned, .lost, .starting, .running, .paused, .stopping].contains(listed.phase), "\(name): \(listed.phase)")
        #expect(listed.state?.qemu == nil)
        return listed
    }

    @Test("kill -9 of the supervisor at each point of start: start fails saying what became of QEMU, nothing runs, the record is final",
          arguments: FaultPoint.startPoints)
    func supervisorKilledDuringStart(point: FaultPoint) async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let name = "s-\(point.rawValue.prefix(6))"
        await #expect {
            try await sandbox.start(try sandbox.launch(name), fault: point)
        } throws: { error in
            guard case LifecycleError.startFailed(let message, _) = error else { return false }
            // Points after QEMU runs leave a QEMU, which start kills; before, none ran.
            let ran = point == .qemuReleased || point == .monitorConnected
            return message.contains("exited before the VM was ready") && message.contains(ran ? "was killed" : "no QEMU was running")
        }
        let listed = try await forceStopLeavesNothing(sandbox, name)
        #expect([.failed, .crashed].contains(listed.phase), "\(listed.phase)")
    }

    @Test("start --wait none, then the supervisor dies before QEMU's monitor is up: the orphaned QEMU is on record, a new start is refused, stop --force ends it")
    func orphanFromTheStartWindow() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("win"), wait: .none, fault: .monitorConnected)
        #expect(try await sandbox.waitForSupervisorExit("win"))
        let qemuPID = try #require(result.qemuPID)
        #expect(sandbox.processes(writingTo: try sandbox.paths("win").qemuLog) == [qemuPID])
        #expect(try await sandbox.lifecycle.status("win").observation.phase == .orphaned)
        await #expect {
            try await sandbox.start(try sandbox.launch("win"))
        } throws: { error in
            guard case LifecycleError.busy(let message) = error else { return false }
            return message.contains("QEMU still running") && message.contains("\(qemuPID)")
        }
        #expect(sandbox.processes(writingTo: try sandbox.paths("win").qemuLog) == [qemuPID])
        let listed = try await forceStopLeavesNothing(sandbox, "win")
        #expect(listed.phase == .stopped)
        #expect(listed.state?.lastExit?.stopStep == "sigkill")
    }

    @Test("kill -9 of the supervisor at each point of stop: stop --force ends QEMU and the record is final", arguments: FaultPoint.stopPoints)
    func supervisorKilledDuringStop(point: FaultPoint) async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let name = "t-\(point.rawValue.prefix(6))"
        _ = try await sandbox.start(try sandbox.launch(name), fault: point)
        // The stop the supervisor dies in: whatever it reports, the next one must finish the job.
        _ = try? await sandbox.lifecycle.stop(name, mode: .quit, timeout: .seconds(2))
        let listed = try await forceStopLeavesNothing(sandbox, name)
        #expect([.stopped, .crashed].contains(listed.phase), "\(listed.phase)")
    }

    @Test("SIGTERM to the supervisor stops the VM with the usual escalation (acpi → quit here) and records it; the supervisor exits 0")
    func sigtermStopsGracefully() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("term"), signalStopTimeout: .seconds(1))
        kill(result.supervisorPID, SIGTERM)
        #expect(try await sandbox.waitForSupervisorExit("term"))
        let state = try #require(try sandbox.state("term"))
        #expect(state.phase == .stopped)
        #expect(state.lastExit?.reason == "stop")
        #expect(state.lastExit?.stopStep == "quit")  // SeaBIOS with nothing to boot ignores ACPI
        let signal = try await sandbox.waitForEvent("term", "SIGNAL_RECEIVED", timeout: 1)
        #expect(signal?["data"]?["stop-mode"]?.stringValue == "acpi")
        #expect(try await sandbox.waitForEvent("term", "SUPERVISOR_EXITED", timeout: 5)?["data"]?["status"]?.intValue == 0)
        _ = try await forceStopLeavesNothing(sandbox, "term")
    }

    @Test("a second SIGTERM during the graceful stop's ACPI wait forces it: QEMU is killed and the stop recorded as sigkill")
    func secondSigtermForces() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("term2"))  // ACPI wait: the default 30 s
        kill(result.supervisorPID, SIGTERM)
        _ = try #require(try await sandbox.waitForEvent("term2", "STOP_STEP") { $0["data"]?["step"]?.stringValue == "acpi" })
        kill(result.supervisorPID, SIGTERM)
        #expect(try await sandbox.waitForSupervisorExit("term2"))
        let state = try #require(try sandbox.state("term2"))
        #expect(state.phase == .stopped)
        #expect(state.lastExit?.stopStep == "sigkill")
        #expect(state.lastExit?.termination == .signaled(SIGKILL))
        _ = try await forceStopLeavesNothing(sandbox, "term2")
    }

    @Test("control socket deleted: stop --force kills QEMU by its recorded pid and the record says stopped by sigkill")
    func controlSocketDeleted() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        _ = try await sandbox.start(try sandbox.launch("nosock"))
        unlink(try sandbox.paths("nosock").controlSocket)
        let listed = try await forceStopLeavesNothing(sandbox, "nosock")
        #expect(listed.phase == .stopped)
        #expect(listed.state?.lastExit?.reason == "stop")
        #expect(listed.state?.lastExit?.stopStep == "sigkill")
    }

    @Test("supervisor stopped with SIGSTOP: stop --force kills QEMU, retires the unresponsive supervisor and records the stop")
    func supervisorStopped() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("frozen"))
        kill(result.supervisorPID, SIGSTOP)
        let listed = try await forceStopLeavesNothing(sandbox, "frozen")
        #expect(listed.phase == .stopped)
        #expect(listed.state?.lastExit?.stopStep == "sigkill")
        #expect(ProcessIdentity.of(pid: result.supervisorPID)?.isAlive != true)  // a zombie of this test process at most
    }

    @Test("kill -9 of QEMU from outside during stop's ACPI wait is recorded as unexpected, not as ended by acpi")
    func externalKillDuringAcpiWait() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("ext"))
        let lifecycle = sandbox.lifecycle
        let stop = Task { try await lifecycle.stop("ext", mode: .acpi, timeout: .seconds(60)) }
        _ = try #require(try await sandbox.waitForEvent("ext", "STOP_STEP") { $0["data"]?["step"]?.stringValue == "acpi" })
        kill(try #require(result.qemuPID), SIGKILL)
        let report = try await stop.value
        #expect(report.outcome?.step == .other)
        let state = try #require(try sandbox.state("ext"))
        #expect(state.phase == .crashed)
        #expect(state.lastExit?.reason == "unexpected")
        #expect(state.lastExit?.stopStep == nil)
        #expect(state.lastExit?.termination == .signaled(SIGKILL))
    }

    @Test("a stop whose state cannot be written fails with that error instead of exiting as if recorded")
    func unwritableStateIsAnError() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("ro"))
        let paths = try sandbox.paths("ro")
        // A folder where the supervisor's temporary state file goes: every state write fails
        // (as root, a read-only mode would not stop it).
        let blocker = "\(paths.state).tmp.\(result.supervisorPID)"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        await #expect {
            try await sandbox.lifecycle.stop("ro", mode: .quit, timeout: .seconds(5))
        } throws: { error in
            guard case LifecycleError.failed(let message) = error else { return false }
            return message.contains("could not be recorded") && message.contains("state.json")
        }
        try FileManager.default.removeItem(atPath: blocker)
        _ = try await forceStopLeavesNothing(sandbox, "ro")
    }

    @Test("x-igvm-mgr-stop with a timeout of 1e11 s is a GenericError and the supervisor and VM live on")
    func hugeStopTimeoutRefused() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        _ = try await sandbox.start(try sandbox.launch("big"))
        await #expect {
            try await sandbox.lifecycle.qmp("big", command: "x-igvm-mgr-stop", arguments: ["mode": "acpi", "timeout": 1e11])
        } throws: { error in
            (error as? QMPCommandError)?.errorClass == "GenericError" && "\(error)".contains("'timeout' must be between 0 and 86400")
        }
        await #expect {
            try await sandbox.lifecycle.qmp("big", command: "x-igvm-mgr-stop", arguments: ["timeout": "soon"])
        } throws: { error in
            "\(error)".contains("Invalid parameter type for 'timeout'")
        }
        #expect(try await sandbox.lifecycle.status("big").observation.phase == .running)
        _ = try await forceStopLeavesNothing(sandbox, "big")
    }

    @Test("a control-socket message over the limit gets a GenericError naming the limit; the manager's commands still answer")
    func controlSocketMessageLimit() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        _ = try await sandbox.start(try sandbox.launch("lim"))
        let socket = try sandbox.paths("lim").controlSocket
        let huge = String(repeating: "x", count: Supervisor.defaultControlMessageLimit + 1024)
        await #expect {
            try await sandbox.lifecycle.qmp("lim", command: "qom-get", arguments: ["path": .string(huge), "property": "type"])
        } throws: { _ in true }
        // The wire: the error reply before the connection ends.
        let raw = try RawQMPConnection(socketPath: socket)
        #expect {
            try raw.execute("qom-get", ["path": .string(huge), "property": "type"])
        } throws: { error in
            "\(error)".contains("GenericError") && "\(error)".contains("larger than \(Supervisor.defaultControlMessageLimit) bytes")
        }
        let ours = try await sandbox.lifecycle.qmp("lim", command: "x-igvm-mgr-status", arguments: nil)
        #expect(ours["phase"]?.stringValue == "running")
        _ = try await forceStopLeavesNothing(sandbox, "lim")
    }

    @Test("while a pass-through command waits on a frozen QEMU monitor, the manager's own commands answer, and the pass-through completes once QEMU runs again")
    func managerCommandsAnswerWhilePassThroughIsSlow() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("slow"))
        let qemuPID = try #require(result.qemuPID)
        // A QEMU stopped by SIGSTOP reads nothing from its monitor: a command sent to it now
        // stays unanswered until SIGCONT, like one a busy monitor is still parsing.
        kill(qemuPID, SIGSTOP)
        var resumed = false
        defer { if !resumed { kill(qemuPID, SIGCONT) } }
        let passThroughDone = Flag()
        let passThrough = Task {
            defer { passThroughDone.set() }
            return try await sandbox.lifecycle.qmp("slow", command: "query-status", arguments: nil, timeout: .seconds(120))
        }
        // The manager's own commands, on their own connections, answer meanwhile: the event tail
        // at once, the status with its monitor probe cut short (QEMU is frozen, so no qmp-status).
        let events = try await sandbox.lifecycle.qmp("slow", command: "x-igvm-mgr-events", arguments: ["tail": 5], timeout: .seconds(20))
        #expect(events.arrayValue?.isEmpty == false)
        let status = try await sandbox.lifecycle.qmp("slow", command: "x-igvm-mgr-status", arguments: nil, timeout: .seconds(20))
        #expect(status["phase"]?.stringValue == "running")
        #expect(status["qmp-status"] == .null)
        #expect(!passThroughDone.isSet, "QEMU answered while stopped by SIGSTOP?")
        kill(qemuPID, SIGCONT)
        resumed = true
        let answer = try await passThrough.value
        #expect(answer["status"]?.stringValue == "running")
        _ = try await forceStopLeavesNothing(sandbox, "slow")
    }

    @Test("a plan whose reset flow the supervisor cannot set up fails start with that reason; no QEMU runs",
          arguments: ["name = \"flow\"\n[qemu\n", "name = \"flow\"\n[qemu]\naccel = \"tcg\"\n"])
    func unusableResetFlowFailsStart(definitionText: String) async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        var launch = try sandbox.launch("flow")
        // Not TOML; or a definition that needs no reset flow although the plan asks for one.
        launch.resetFlow = ResetFlowSource(definitionFile: "/nonexistent/flow.toml", definitionText: definitionText)
        await #expect {
            try await sandbox.start(launch)
        } throws: { error in
            guard case LifecycleError.startFailed(let message, _) = error else { return false }
            return message.contains("cannot use the launch plan") && message.contains("reset flow")
        }
        #expect(sandbox.processes(writingTo: try sandbox.paths("flow").qemuLog).isEmpty)
    }

    @Test("a stopped VM's folder has no pid files, sockets or temporary files left")
    func noLeftovers() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        _ = try await sandbox.start(try sandbox.launch("tidy"))
        _ = try await sandbox.lifecycle.stop("tidy", mode: .quit, timeout: .seconds(5))
        #expect(try await sandbox.waitForSupervisorExit("tidy"))
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: try sandbox.paths("tidy").folder))
        #expect(files.isDisjoint(with: ["supervisor.pid", "qemu.pid", "qmp.sock", "control.sock"]), "\(files.sorted())")
        #expect(!files.contains { $0.contains(".tmp.") }, "\(files.sorted())")
    }

    @Test("state directory trust: writable by others or owned by another user is refused; a symlinked VM folder or event log is refused")
    func stateDirectoryTrust() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        try FileManager.default.createDirectory(atPath: sandbox.directory.path, withIntermediateDirectories: true)
        chmod(sandbox.directory.path, 0o777)
        await #expect {
            try await sandbox.start(try sandbox.launch("tr"))
        } throws: { error in
            guard case LifecycleError.invalidInput(let message) = error else { return false }
            return message.contains("writable by others")
        }
        chmod(sandbox.directory.path, 0o700)
        chown(sandbox.directory.path, 65534, 65534)
        await #expect {
            try await sandbox.start(try sandbox.launch("tr"))
        } throws: { error in
            "\(error)".contains("owned by uid 65534")
        }
        chown(sandbox.directory.path, geteuid(), getegid())

        let elsewhere = sandbox.directory.path + "-elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        symlink(elsewhere, sandbox.directory.path + "/ln")
        await #expect {
            try await sandbox.start(try sandbox.launch("ln"))
        } throws: { error in
            "\(error)".contains("symbolic link")
        }
        #expect(!VMObservation.observeAll(in: sandbox.directory).map(\.name).contains("ln"))
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/state.json"))

        let folder = sandbox.directory.path + "/ev"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        symlink(elsewhere + "/target", folder + "/events.jsonl")
        #expect(throws: SystemError.self) { try EventLog(path: folder + "/events.jsonl") }
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/target"))
    }
}
