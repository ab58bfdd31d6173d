import Foundation
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `igvm-mgr console` when the supervisor dies under it (real QEMU, the serial echo guest of
/// TestSupport booted by `[kernel]`): the attached console says its supervisor is gone and exits
/// 1, instead of claiming a takeover; a new attachment is refused naming the cause.
@Suite("Console command faults (real QEMU)")
struct ConsoleCLITests {
    @Test func supervisorKilledUnderAnAttachedConsole() async throws {
        let root = "/tmp/im-cc" + UUID().uuidString.prefix(6).lowercased()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let state = root + "/s"
        defer {
            _ = try? IGVMManagerBinary.run(["stop", "ec", "--mode", "force", "--state-dir", state])
            _ = try? IGVMManagerBinary.run(["destroy", "ec", "--state-dir", state])
            try? FileManager.default.removeItem(atPath: root)
        }
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

        // Attached through a pipe (stdin not a terminal: bytes pass through while it is open).
        let console = Process()
        console.executableURL = URL(fileURLWithPath: try IGVMManagerBinary.path())
        console.arguments = ["console", "ec", "--state-dir", state]
        let input = Pipe(), errors = Pipe()
        console.standardInput = input
        console.standardOutput = FileHandle.nullDevice
        console.standardError = errors
        try console.run()
        defer { if console.isRunning { console.terminate() } }
        let events = "\(state)/ec/events.jsonl"
        let attached = await eventually(timeout: .seconds(60)) {
            ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").contains("CONSOLE_ATTACHED")
        }
        #expect(attached)

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
}
