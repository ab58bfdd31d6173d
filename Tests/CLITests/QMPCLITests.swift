import Foundation
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `igvm-mgr qmp` and `igvm-mgr caps` as a user runs them, against Debian's QEMU 10.0.
@Suite struct QMPCLITests {
    @Test func commandPrintsTheReturnValueAndErrorsExitOneWithClassAndDesc() throws {
        let qemu = try QEMUUnderTest()
        // --timeout also bounds the wait for QEMU's socket to accept the connection.
        let status = try IGVMManagerBinary.run(["qmp", "--socket", qemu.qmpSocket, "--timeout", "30", "query-status"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(try JSON.decode(status.stdout) == ["status": "prelaunch", "running": false])

        let compact = try IGVMManagerBinary.run([
            "qmp", "--socket", qemu.qmpSocket, "--compact", "qom-get", #"{"path": "/machine", "property": "type"}"#,
        ])
        #expect(compact.stdout == "\"none-machine\"\n")

        let failed = try IGVMManagerBinary.run(["qmp", "--socket", qemu.qmpSocket, "device_del", #"{"id": "nope"}"#])
        #expect(failed.status == 1)
        #expect(failed.stderr == "igvm-mgr: error: DeviceNotFound: Device 'nope' not found\n")
        #expect(failed.stdout.isEmpty)

        let badArgs = try IGVMManagerBinary.run(["qmp", "--socket", qemu.qmpSocket, "device_del", "[1]"])
        #expect(badArgs.status == 2)
        #expect(badArgs.stderr.contains("ARGS-JSON must be a JSON object"))

        let noSocket = try IGVMManagerBinary.run(["qmp", "--socket", qemu.directory.path + "/missing.sock", "query-status"])
        #expect(noSocket.status == 1)
        #expect(noSocket.stderr.contains("cannot connect to QMP socket"))
    }

    /// The CLI streams events from one monitor while the test drives QEMU through a second.
    @Test func eventsArePrintedAsJSONLines() throws {
        let qemu = try QEMUUnderTest(secondMonitor: true)
        let control = try #require(qemu.secondQMPSocket)
        let cli = Process()
        cli.executableURL = URL(fileURLWithPath: try IGVMManagerBinary.path())
        cli.arguments = ["qmp", "--socket", qemu.qmpSocket, "--timeout", "60", "--events", "--name", "STOP", "--count", "1"]
        let out = Pipe()
        cli.standardOutput = out
        try cli.run()
        // RESUME and STOP until the CLI has seen a STOP (it may connect after the first ones).
        let deadline = Date(timeIntervalSinceNow: 60)
        while cli.isRunning && Date() < deadline {
            #expect(try IGVMManagerBinary.run(["qmp", "--socket", control, "--timeout", "30", "cont"]).status == 0)
            #expect(try IGVMManagerBinary.run(["qmp", "--socket", control, "stop"]).status == 0)
        }
        cli.waitUntilExit()
        #expect(cli.terminationStatus == 0)
        let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n")
        #expect(lines.count == 1)
        let event = try JSON.decode(String(lines.first ?? ""))
        #expect(event["event"] == "STOP")
        #expect(event["timestamp"]?["seconds"]?.int64Value ?? 0 > 1_600_000_000)
    }

    @Test func capsReportsDebianQEMUsConfidentialObjects() throws {
        let stateDir = try TestPaths.makeTemporaryDirectory("caps-cli")
        defer { try? FileManager.default.removeItem(at: stateDir) }
        let binary = try QEMU.binary()
        let first = try IGVMManagerBinary.run(["caps", binary, "--json", "--state-dir", stateDir.path])
        #expect(first.status == 0, "\(first.stderr)")
        let json = try JSON.decode(first.stdout)
        #expect(json["confidential"] == ["sev-guest": true, "sev-snp-guest": true, "igvm-cfg": false, "nocc": false])
        #expect(json["source"] == "probe")
        #expect(json["schema"] == nil)
        let second = try IGVMManagerBinary.run(["caps", binary, "--json", "--state-dir", stateDir.path])
        #expect(try JSON.decode(second.stdout)["source"] == "cache")

        let text = try IGVMManagerBinary.run(["caps", binary])
        #expect(text.status == 0)
        #expect(text.stdout.contains("igvm-cfg: no (needs QEMU 10.1 or newer, built with IGVM support)"))
        #expect(text.stdout.contains("sev-snp-guest: yes"))

        let missing = try IGVMManagerBinary.run(["caps", "/nonexistent/qemu"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "igvm-mgr: error: cannot probe /nonexistent/qemu: No such file or directory\n")
    }
}
