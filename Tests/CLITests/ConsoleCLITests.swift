import Foundation
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `igvm-mgr console` and `status` with an attached console, and the console when the supervisor
/// dies under it (real QEMU, the serial echo guest of
/// TestSupport booted by `[kernel]`): the attached console says its supervisor is gone and exits
/// 1, instead of claiming a takeover; a new attachment is refused naming the cause.
@Suite("Console command faults (real QEMU)")
struct ConsoleCLITests {
    /// A VM named `ec` running the echo guest with `[console]`, in a state directory of its own.
    struct EchoVM {
        let root = "/tmp/im-cc" + UUID().uuidString.prefix(6).lowercased()
        var state: String { root + "/s" }

        func start() throws {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let kernel = try SerialEchoGuest.arguments(in: root)[1]
            let config = root + "/ec.toml"
            try """
                name = "ec"
                [qemu]
                binary = \(JSON.string(try QEMU.binary()))
                accel = "tcg"
                memory = "64M"
                [kernel]
                kernel = \(JSON.string(kernel))
                [console]
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let started = try IGVMManagerBinary.run(["start", config, "--state-dir", state])
            #expect(started.status == 0, "\(started.stderr)")
        }

        /// `igvm-mgr console ec` attached through a pipe (stdin not a terminal: bytes pass
        /// through while it is open), once the relay has recorded the attachment.
        func attachConsole(errors: Pipe = Pipe()) async throws -> Process {
            let console = Process()
            console.executableURL = URL(fileURLWithPath: try IGVMManagerBinary.path())
            console.arguments = ["console", "ec", "--state-dir", state]
            console.standardInput = Pipe()
            console.standardOutput = FileHandle.nullDevice
            console.standardError = errors
            try console.run()
            let events = "\(state)/ec/events.jsonl"
            let attached = await eventually(timeout: .seconds(60)) {
                ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").contains("CONSOLE_ATTACHED")
            }
            #expect(attached)
            return console
        }

        func tearDown() {
            _ = try? IGVMManagerBinary.run(["stop", "ec", "--mode", "force", "--state-dir", state])
            _ = try? IGVMManagerBinary.run(["destroy", "ec", "--state-dir", state])
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    @Test func supervisorKilledUnderAnAttachedConsole() async throws {
        let vm = EchoVM()
        defer { vm.tearDown() }
        try vm.start()
        let state = vm.state
        let errors = Pipe()
        let console = try await vm.attachConsole(errors: errors)
        defer { if console.isRunning { console.terminate() } }

        let record = try JSON.decode(try String(contentsOfFile: "\(state)/ec/state.json", encoding: .utf8))
        let supervisor = try #require(record["supervisor"]?["pid"]?.intValue)
        #expect(kill(Int32(supervisor), SIGKILL) == 0)
        #expect(await eventually(timeout: .seconds(60)) { !console.isRunning }, "the console ends with its supervisor")
        #expect(console.terminationStatus == 1)
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(said.contains("its supervisor is gone"), "\(said)")

        let again = try IGVMManagerBinary.run(["console", "ec", "--state-dir", state])
        #expect(again.status == 1)
        #expect(again.stderr.contains("is not served: its supervisor is not running"), "\(again.stderr)")
    }

    @Test("status shows who holds the console: not attached, then the attached console's pid, then not attached again")
    func statusShowsTheAttachment() async throws {
        let vm = EchoVM()
        defer { vm.tearDown() }
        try vm.start()
        func console() throws -> JSON? {
            let status = try IGVMManagerBinary.run(["status", "ec", "--json", "--state-dir", vm.state])
            return try JSON.decode(status.stdout)["devices"]?["console"]
        }
        #expect(try console()?["attached"] == false)
        #expect(try console()?["attached-pid"] == .null)

        let attached = try await vm.attachConsole()
        defer { if attached.isRunning { attached.terminate() } }
        #expect(try console()?["attached"] == true)
        #expect(try console()?["attached-pid"]?.intValue == Int(attached.processIdentifier))
        let text = try IGVMManagerBinary.run(["status", "ec", "--state-dir", vm.state])
        #expect(text.stdout.contains("; attached (pid \(attached.processIdentifier))"), "\(text.stdout)")

        // A Foundation `Process` inherits the test thread's signal mask, which blocks SIGTERM:
        // igvm-mgr unblocks it at start, so that `kill PID` ends it whoever started it.
        attached.terminate()
        #expect(await eventually(timeout: .seconds(60)) { !attached.isRunning }, "SIGTERM did not end igvm-mgr console")
        #expect(attached.terminationReason == .uncaughtSignal && attached.terminationStatus == SIGTERM)
        #expect(await eventually(timeout: .seconds(60)) { (try? console()?["attached"]) == false })
        #expect(try IGVMManagerBinary.run(["status", "ec", "--state-dir", vm.state]).stdout.contains("; not attached"))
    }
}
