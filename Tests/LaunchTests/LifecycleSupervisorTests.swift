import FileAccess
import Foundation
import JSON
import QMP
import Testing
import TestSupport

@testable import Definition
@testable import Launch
@testable import VMState
@testable import Supervisor
@testable import Lifecycle

/// End to end with real QEMU under TCG: `StartProcedure` spawns `igvm-mgr supervise`, which
/// launches QEMU; `Lifecycle` talks to it through the control socket.
@Suite("Lifecycle supervisor (real QEMU)")
struct LifecycleSupervisorTests {
    @Test("start → running → query-status through the control socket → stop (quit after a refused ACPI) → stopped")
    func startStatusStop() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("vm1"))
        #expect(result.phase == .running)
        let qemuPID = try #require(result.qemuPID)
        #expect(kill(qemuPID, 0) == 0)

        let status = try await sandbox.lifecycle.status("vm1")
        #expect(status.observation.phase == .running)
        #expect(status.qmpStatus?["status"]?.stringValue == "running")
        #expect(status.observation.state?.qemuVersion?.hasPrefix("10.") == true)

        let reply = try await sandbox.lifecycle.qmp("vm1", command: "query-status", arguments: nil)
        #expect(reply["running"] == true)
        let ours = try await sandbox.lifecycle.qmp("vm1", command: "x-igvm-mgr-status", arguments: nil)
        #expect(ours["phase"]?.stringValue == "running")
        #expect(ours["qemu"]?["pid"]?.intValue == Int(qemuPID))

        await #expect {
            try await sandbox.lifecycle.qmp("vm1", command: "x-igvm-mgr-stop", arguments: ["mode": "gently"])
        } throws: { error in
            (error as? QMPCommandError)?.errorClass == "GenericError" && "\(error)".contains("'mode' must be one of acpi, quit, force")
        }
        await #expect {
            try await sandbox.lifecycle.qmp("vm1", command: "no-such-command", arguments: nil)
        } throws: { error in
            (error as? QMPCommandError)?.errorClass == "CommandNotFound"
        }

        // SeaBIOS with nothing to boot has no OS to honour ACPI: the escalation must go on to quit.
        let stop = try await sandbox.lifecycle.stop("vm1", mode: .acpi, timeout: .seconds(1))
        #expect(stop.outcome?.step == .quit)
        #expect(stop.outcome?.attempted == ["acpi", "quit"])
        #expect(stop.exit?.termination == .exited(0))
        #expect(stop.exit?.stopStep == "quit")

        let listed = VMObservation.observeAll(in: sandbox.directory)
        #expect(listed.map(\.name) == ["vm1"])
        #expect(listed.first?.phase == .stopped)
        #expect(try await sandbox.waitForSupervisorExit("vm1"))
        #expect(kill(qemuPID, 0) != 0)
        let events = EventLog.read(try sandbox.paths("vm1").eventLog).compactMap { $0["event"]?.stringValue }
        #expect(events.contains("SHUTDOWN"))
        #expect(events.contains("STOP_STEP"))
    }

    @Test("stop --mode quit ends with quit; a paused (-S) guest stays paused until then")
    func stopQuitPaused() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("p1", paused: true))
        #expect(result.phase == .paused)
        let status = try await sandbox.lifecycle.qmp("p1", command: "query-status", arguments: nil)
        #expect(status["status"]?.stringValue == "prelaunch")
        let stop = try await sandbox.lifecycle.stop("p1", mode: .quit, timeout: .seconds(5))
        #expect(stop.outcome?.step == .quit)
        #expect(try sandbox.state("p1")?.phase == .stopped)
    }

    @Test("a second start of a running VM fails cleanly, naming the supervisor")
    func secondStart() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let first = try await sandbox.start(try sandbox.launch("twice"))
        await #expect {
            try await sandbox.start(try sandbox.launch("twice"))
        } throws: { error in
            guard case LifecycleError.busy(let message) = error else { return false }
            return message.contains("already running") && message.contains("\(first.supervisorPID)")
        }
        // The first one is untouched.
        #expect(try await sandbox.lifecycle.status("twice").observation.phase == .running)
    }

    @Test("kill -9 of QEMU is noticed and recorded with its exit status")
    func qemuKilled() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("k9"))
        kill(try #require(result.qemuPID), SIGKILL)
        #expect(try await sandbox.waitForSupervisorExit("k9"))
        let state = try #require(try sandbox.state("k9"))
        #expect(state.phase == .crashed)
        #expect(state.lastExit?.termination == .signaled(9))
        #expect(state.lastExit?.reason == "unexpected")
        let status = try await sandbox.lifecycle.status("k9")
        #expect(status.observation.phase == .crashed)
        #expect(status.observation.explanation?.contains("signal 9") == true)
    }

    @Test("kill -9 of the supervisor leaves an orphaned QEMU that status explains and cleanup stops")
    func supervisorKilled() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("orph"))
        kill(result.supervisorPID, SIGKILL)
        #expect(try await sandbox.waitForSupervisorExit("orph"))

        let status = try await sandbox.lifecycle.status("orph")
        #expect(status.observation.phase == .orphaned)
        #expect(status.observation.explanation?.contains("still runs") == true)
        // QEMU's own monitor is reachable once the dead supervisor's connection is gone.
        #expect(status.qmpStatus?["status"]?.stringValue == "running")

        let actions = await sandbox.lifecycle.cleanup()
        #expect(actions.map(\.name) == ["orph"])
        let qemuPID = try #require(result.qemuPID)
        #expect(kill(qemuPID, 0) != 0 || ProcessIdentity.of(pid: qemuPID)?.isAlive == false)
        let after = try await sandbox.lifecycle.status("orph")
        #expect(after.observation.phase == .stopped)
        #expect(after.observation.state?.lastExit?.reason == "cleanup-supervisor-lost")
        #expect(after.observation.state?.lastExit?.stopStep == "quit")
        #expect(await sandbox.lifecycle.cleanup().isEmpty)
    }

    @Test("with its supervisor gone, stop reaches QEMU through its own monitor and records the step")
    func stopOrphan() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("os"))
        kill(result.supervisorPID, SIGKILL)
        #expect(try await sandbox.waitForSupervisorExit("os"))
        let stop = try await sandbox.lifecycle.stop("os", mode: .quit, timeout: .seconds(5))
        #expect(stop.outcome?.step == .quit)
        #expect(stop.exit?.reason == "stop")
        #expect(stop.exit?.termination == .unknown)
        #expect(try await sandbox.lifecycle.status("os").observation.phase == .stopped)
    }

    @Test("supervisor and QEMU both killed: list says lost, cleanup records it")
    func bothKilled() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let result = try await sandbox.start(try sandbox.launch("lost"))
        kill(result.supervisorPID, SIGKILL)
        #expect(try await sandbox.waitForSupervisorExit("lost"))
        let qemu = try #require(try sandbox.state("lost")?.qemu)
        kill(qemu.pid, SIGKILL)
        // SIGKILL ends a process promptly, but the kernel reaps it asynchronously; without a
        // deadline a QEMU stuck in uninterruptible sleep would hang the suite.
        try #require(await eventually(timeout: .seconds(10)) { !qemu.isAlive }, "QEMU \(qemu.pid) outlived SIGKILL")
        let listed = VMObservation.observeAll(in: sandbox.directory)
        #expect(listed.first?.phase == .lost)
        #expect(listed.first?.explanation?.contains("both gone") == true)
        let actions = await sandbox.lifecycle.cleanup()
        #expect(actions.first?.action.contains("were both gone") == true)
        let state = try #require(try sandbox.state("lost"))
        #expect(state.phase == .crashed)
        #expect(state.lastExit?.reason == "supervisor-lost")
        #expect(!FileManager.default.fileExists(atPath: try sandbox.paths("lost").controlSocket))
    }

    @Test("a QEMU that rejects its options fails start with QEMU's own message")
    func qemuRejects() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        // Failing with startFailed (QEMU's own lines) rather than timedOut shows that start
        // ended when QEMU exited, within the timeout; a wall-clock bound would measure the load.
        await #expect {
            try await sandbox.start(try sandbox.launch("bad", extra: ["-object", "memory-backend-ram,id=m0,size=64M,bogus-property=1"]), timeout: .seconds(20))
        } throws: { error in
            guard case LifecycleError.startFailed(let message, let details) = error else { return false }
            return message.contains("exited during start-up") && details.contains { $0.contains("bogus-property") && $0.contains("qemu-system") }
        }
        let state = try #require(try sandbox.state("bad"))
        #expect(state.phase == .failed)
        #expect(state.lastExit?.reason == "start-failed")
    }

    @Test("an SEV-SNP launch on a host without /dev/sev fails before QEMU is spawned, naming what is missing")
    func snpRefusedEarly() async throws {
        let missing = HostChecks.problems(for: .init(accelerator: "kvm", confidentialType: "sev-snp-guest"))
        try #require(!missing.isEmpty, "this host can run SEV-SNP; the refusal cannot be shown here")
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        var launch = try sandbox.launch("snp", confidentialType: "sev-snp-guest")
        launch.requirements.accelerator = "kvm"
        await #expect {
            try await sandbox.start(launch)
        } throws: { error in
            guard case LifecycleError.hostUnsupported(let message) = error else { return false }
            return missing.allSatisfy { message.contains($0) } && message.contains("/dev/sev")
        }
        #expect(!FileManager.default.fileExists(atPath: try sandbox.paths("snp").qemuLog))
    }

    @Test("state directory and VM folder are 0700, sockets 0600; destroy removes the VM")
    func permissionsAndDestroy() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        _ = try await sandbox.start(try sandbox.launch("perm"))
        let paths = try sandbox.paths("perm")
        func mode(_ path: String) throws -> Int { try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int }
        #expect(try mode(sandbox.directory.path) == 0o700)
        #expect(try mode(paths.folder) == 0o700)
        #expect(try mode(paths.qmpSocket) == 0o600)
        #expect(try mode(paths.controlSocket) == 0o600)
        #expect(try mode(paths.state) == 0o600)
        let destroyed = try await sandbox.lifecycle.destroy("perm")
        #expect(destroyed.outcome?.step == .sigkill)
        #expect(destroyed.removed)
        #expect(!FileManager.default.fileExists(atPath: paths.folder))
        #expect(VMObservation.observeAll(in: sandbox.directory).isEmpty)
    }

    @Test("no shell in the spawn path: QEMU is the supervisor's own child with exactly the recorded argv, metacharacters inert")
    func noShellInTheSpawnPath() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        // A shell would expand this (and create the marker file); an argv array passes it as is.
        let marker = sandbox.directory.path + "/shell-ran"
        let guestName = "x;touch \(marker)|$(touch \(marker))`touch \(marker)` 'q\" *"
        let result = try await sandbox.start(try sandbox.launch("nosh", extra: ["-name", guestName]))
        let qemuPID = try #require(result.qemuPID)

        func arguments(of pid: Int32) throws -> [String] {
            let bytes = try #require(try FileDescriptorIO.readFile("/proc/\(pid)/cmdline"))
            return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
        }
        func parent(of pid: Int32) throws -> Int32? {
            let status = String(decoding: try #require(try FileDescriptorIO.readFile("/proc/\(pid)/status")), as: UTF8.self)
            return status.split(separator: "\n").first { $0.hasPrefix("PPid:") }.flatMap { Int32($0.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
        }
        let argvPath = try sandbox.paths("nosh").argv
        let recorded = try JSON.decode(bytes: try #require(try FileDescriptorIO.readFile(argvPath)))
        let recordedItems = try #require(recorded.arrayValue)
        let recordedArgv = recordedItems.compactMap(\.stringValue)
        #expect(try arguments(of: qemuPID) == recordedArgv)
        #expect(recordedArgv.contains(guestName))
        #expect(try parent(of: qemuPID) == result.supervisorPID)
        // The supervisor itself is this project's binary in `supervise` mode, not a shell.
        let supervisorArgv = try arguments(of: result.supervisorPID)
        #expect(supervisorArgv.first == (try IGVMManagerBinary.path()))
        #expect(supervisorArgv.dropFirst().first == "supervise")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("Python qemu.qmp negotiates on the control socket and runs query-status and x-igvm-mgr-status")
    func pythonClient() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        _ = try await sandbox.start(try sandbox.launch("py"))
        let script = """
            import asyncio, json, sys
            from qemu.qmp import QMPClient
            async def main():
                qmp = QMPClient('igvm-mgr-test')
                await qmp.connect(sys.argv[1])
                status = await qmp.execute('query-status')
                ours = await qmp.execute('x-igvm-mgr-status')
                events = await qmp.execute('x-igvm-mgr-events', {'tail': 3})
                await qmp.disconnect()
                print(json.dumps({'status': status, 'phase': ours['phase'], 'events': len(events)}))
            asyncio.run(main())
            """
        // python3 from PATH: the one `scripts/setup` pip-installed qemu.qmp into.
        let run = try TestProcess.run(try ProcessSpawner.resolve("python3"), ["-c", script, try sandbox.paths("py").controlSocket])
        #expect(run.status == 0, "\(run.stderr)")
        let reply = try JSON.decode(run.stdout)
        #expect(reply["status"]?["status"]?.stringValue == "running")
        #expect(reply["phase"]?.stringValue == "running")
        #expect(reply["events"]?.intValue == 3)
    }
}
