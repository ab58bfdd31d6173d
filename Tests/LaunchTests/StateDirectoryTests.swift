import FileAccess
import Foundation
import JSON
import Measure
import Testing
import TestSupport

@testable import Definition
@testable import Launch
@testable import VMState
@testable import Lifecycle

@Suite("State directory")
struct StateDirectoryTests {
    @Test("--state-dir beats the environment, which beats XDG_RUNTIME_DIR")
    func resolutionOrder() throws {
        let env = ["IGVM_MGR_STATE_DIR": "/tmp/from-env", "XDG_RUNTIME_DIR": "/run/user/1000"]
        #expect(try StateDirectory.resolve(explicit: "/tmp/explicit", environment: env).path == "/tmp/explicit")
        #expect(try StateDirectory.resolve(explicit: nil, environment: env).path == "/tmp/from-env")
        let defaultPath = try StateDirectory.resolve(explicit: nil, environment: ["XDG_RUNTIME_DIR": "/run/user/1000"]).path
        #expect(defaultPath == (geteuid() == 0 ? "/run/igvm-mgr" : "/run/user/1000/igvm-mgr"))
    }

    @Test("the state directory and VM folders are created 0700")
    func folderModes() throws {
        let scratch = try TestPaths.makeTemporaryDirectory("im-state")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let root = scratch.path + "/state/deeper"
        let directory = StateDirectory(path: root)
        try directory.create()
        let paths = try directory.vm("demo")
        try Folder.make(paths.folder, mode: 0o700)
        for folder in [root, paths.folder] {
            let mode = try FileManager.default.attributesOfItem(atPath: folder)[.posixPermissions] as? Int
            #expect(mode == 0o700, "\(folder)")
        }
    }

    @Test("bad VM names are refused with the rule", arguments: ["", "../x", "a/b", ".hidden", "-x", "sp ace", String(repeating: "a", count: 65)])
    func badNames(name: String) {
        #expect {
            try StateDirectory(path: "/tmp/im").vm(name)
        } throws: { error in
            guard case StateError.invalidInput(let message) = error else { return false }
            return message.contains(VMName.rule)
        }
    }

    @Test("a state directory too deep for Unix socket paths is refused, naming the limit")
    func socketPathLimit() {
        let deep = "/tmp/" + String(repeating: "d", count: 90)
        #expect {
            try StateDirectory(path: deep).vm("vm")
        } throws: { error in
            "\(error)".contains("107-byte limit")
        }
        #expect((try? StateDirectory(path: "/tmp/im-1234").vm("vm")) != nil)
    }

    @Test("state files are replaced whole, mode 0600, leaving no temporary file")
    func atomicWrite() throws {
        let dir = try TestPaths.makeTemporaryDirectory("im-state")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.path + "/state.json"
        try AtomicFile.write("first", to: path)
        try AtomicFile.write("second, longer", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second, longer")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["state.json"])
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("a held VM lock makes a second acquisition fail until released")
    func lock() throws {
        let scratch = try TestPaths.makeTemporaryDirectory("im-state")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.path + "/lock"
        let first = try #require(try VMLock.tryAcquire(path))
        #expect(try VMLock.tryAcquire(path) == nil)
        #expect(VMLock.isHeld(path))
        first.release()
        #expect(!VMLock.isHeld(path))
        #expect(try VMLock.tryAcquire(path) != nil)
    }

    /// A launch digest of each shape: OVMF with a CPU signature, IGVM without, and none.
    static let launchMeasurements: [ExpectedLaunchMeasurement] = [
        .measured(.init(mode: .snp, digest: LaunchDigest(bytes: Array(0..<48)), firmware: .ovmf(path: "/fw/OVMF.fd"), vcpus: 4,
                        vcpuSignature: "0x800F12", policy: 0x30000)),
        .measured(.init(mode: .snp, digest: LaunchDigest(bytes: Array(100..<148)), firmware: .igvm(path: "/fw/a.igvm"), vcpus: 2,
                        vcpuSignature: nil, policy: 0x30000)),
        .measured(.init(mode: .sevES, digest: LaunchDigest(bytes: Array(0..<32)), firmware: .ovmf(path: "/fw/OVMF.fd"), vcpus: 1,
                        vcpuSignature: "0x800F12", policy: 0x5)),
        .unavailable(reason: "/vm.toml: Can't find SEV_ES_RESET_BLOCK_GUID entry in OVMF table"),
    ]

    @Test("state.json round-trips every field", arguments: launchMeasurements)
    func stateRoundTrip(launchMeasurement: ExpectedLaunchMeasurement) throws {
        var state = VMState(name: "demo", phase: .crashed)
        state.supervisor = ProcessIdentity(pid: 10, startTicks: 99)
        state.qemu = ProcessIdentity(pid: 11, startTicks: 100)
        state.startedAt = "2026-11-23T09:44:04.000001Z"
        state.firmware = "/usr/share/OVMF/OVMF_CODE.fd"
        state.confidentialType = "sev-snp-guest"
        state.launchMeasurement = launchMeasurement
        state.qemuVersion = "10.0.2"
        state.lastExit = ExitRecord(termination: .signaled(9), reason: "unexpected", outputTail: ["a", "b"], at: "x")
        let scratch = try TestPaths.makeTemporaryDirectory("im-state")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.path + "/state.json"
        try state.write(path)
        #expect(try VMState.read(path) == state)
    }

    @Test("the event log keeps whole lines and skips a torn last line")
    func eventLog() throws {
        let scratch = try TestPaths.makeTemporaryDirectory("im-state")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.path + "/events.jsonl"
        let log = try EventLog(path: path)
        log.append(event: "ONE", source: "igvm-mgr")
        log.append(event: "TWO", data: ["x": 1], source: "qemu")
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"event\": \"TO".utf8))
        try handle.close()
        let records = EventLog.read(path)
        #expect(records.map { $0["event"]?.stringValue } == ["ONE", "TWO"])
        #expect(records[1]["data"]?["x"] == 1)
        #expect(EventLog.tail(path, count: 1).count == 1)
    }

    @Test("wait statuses decode to exit codes and signals", arguments: [
        (Int32(0), ProcessTermination.exited(0)), (Int32(1 << 8), .exited(1)), (Int32(9), .signaled(9)), (Int32(15), .signaled(15)),
    ])
    func waitStatus(status: Int32, expected: ProcessTermination) {
        #expect(ProcessTermination(waitStatus: status) == expected)
    }

    @Test("the supervisor's timestamps parse back to the same second")
    func timestamps() {
        let text = Timestamp.rfc3339(seconds: 1_795_427_092, microseconds: 42)
        #expect(text == "2026-11-23T09:44:52.000042Z")
        #expect(VMObservation.parseRFC3339(text) == 1_795_427_092)
    }
}
