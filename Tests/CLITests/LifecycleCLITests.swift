import Foundation
import Synchronization
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The lifecycle commands as a user runs them: `igvm-mgr start CONFIG` with a real QEMU (TCG),
/// then status, qmp, stop, list, destroy — all against a private, short state directory.
@Suite("Lifecycle CLI (real QEMU)")
struct LifecycleCLITests {
    /// A state directory and a config folder under /tmp with short paths (socket paths ≤ 107 bytes).
    struct Sandbox {
        let root: String
        var stateDir: String { root + "/s" }

        init() throws {
            root = "/tmp/im-" + UUID().uuidString.prefix(8).lowercased()
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        }

        /// Writes a TCG config (64 MiB, SeaBIOS, no disk) named `name`, plus `extra` TOML.
        func config(_ name: String, extra: String = "") throws -> String {
            let path = "\(root)/\(name).toml"
            let text = """
                name = "\(name)"

                [qemu]
                binary = "\(try QEMU.binary())"
                machine = "q35"
                accel = "tcg"
                memory = "64M"

                \(extra)
                """
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        @discardableResult
        func run(_ arguments: [String]) throws -> ProcessResult {
            try IGVMManagerBinary.run(arguments + ["--state-dir", stateDir])
        }

        func json(_ arguments: [String]) throws -> JSON {
            let result = try run(arguments + ["--json"])
            guard result.status == 0 else { throw CommandFailed(description: "igvm-mgr \(arguments) failed: \(result.stderr)") }
            return try JSON.decode(result.stdout)
        }

        func tearDown() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: stateDir)) ?? [] {
                _ = try? run(["destroy", name])
            }
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    @Test("start → status running → qmp query-status → stop (which step) → list stopped → destroy")
    func mainJob() throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let config = try sandbox.config("cli1")

        let started = try sandbox.json(["start", config])
        #expect(started["name"]?.stringValue == "cli1")
        #expect(started["phase"]?.stringValue == "running")
        let pid = try #require(started["pid"]?.intValue)

        let status = try sandbox.json(["status", "cli1"])
        #expect(status["phase"]?.stringValue == "running")
        #expect(status["pid"]?.intValue == pid)
        #expect(status["qmp-status"]?["status"]?.stringValue == "running")

        let qmp = try sandbox.run(["qmp", "cli1", "query-status"])
        #expect(qmp.status == 0, "\(qmp.stderr)")
        #expect(try JSON.decode(qmp.stdout)["status"]?.stringValue == "running")
        let ours = try sandbox.run(["qmp", "cli1", "x-igvm-mgr-events", #"{"tail": 2}"#])
        #expect(try JSON.decode(ours.stdout).arrayValue?.count == 2)

        let stop = try sandbox.run(["stop", "cli1", "--timeout", "1"])
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(stop.stdout.contains("ended by quit (tried acpi, quit)"))

        let list = try sandbox.json(["list"])
        #expect(list.arrayValue?.count == 1)
        #expect(list[0]?["phase"]?.stringValue == "stopped")
        let human = try sandbox.run(["list"])
        #expect(human.stdout.split(separator: "\n").last?.contains("cli1") == true)
        #expect(human.stdout.contains("stopped"))

        let destroy = try sandbox.run(["destroy", "cli1"])
        #expect(destroy.status == 0)
        #expect(try sandbox.json(["list"]) == [])
    }

    @Test("a second start of a running VM exits 1 with one clear line")
    func secondStart() throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let config = try sandbox.config("dup")
        #expect(try sandbox.run(["start", config]).status == 0)
        let second = try sandbox.run(["start", config])
        #expect(second.status == 1)
        #expect(second.stderr.hasPrefix("igvm-mgr: error: VM dup is already running"))
        #expect(second.stderr.split(separator: "\n").count == 1)
    }

    @Test("two concurrent starts of one VM: exactly one wins, the other is refused by the lock")
    func concurrentStarts() throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let config = try sandbox.config("race")
        let results = Mutex<[ProcessResult]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            if let result = try? sandbox.run(["start", config]) { results.withLock { $0.append(result) } }
        }
        let statuses = results.withLock { $0.map(\.status) }.sorted()
        #expect(statuses == [0, 1])
        let loser = results.withLock { $0.first { $0.status == 1 } }
        #expect(loser?.stderr.contains("VM race is already running or starting") == true, "\(loser?.stderr ?? "")")
    }

    @Test("a config QEMU rejects at start fails within the timeout and prints QEMU's own message")
    func qemuRejectsConfig() throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        // The object model accepts this memory backend; QEMU cannot open its backing file.
        let config = try sandbox.config("rej", extra: """
            [memory-backend]
            type = "memory-backend-file"
            mem-path = "/nonexistent-igvm-mgr/ram"
            """)
        // Within the timeout: a timeout would end with "timed out", not with QEMU's lines. (No
        // wall-clock bound here: on a loaded two-core machine it measures the load, not us.)
        let result = try sandbox.run(["start", config, "--timeout", "20"])
        #expect(!result.stderr.contains("timed out"), "\(result.stderr)")
        #expect(result.status == 1)
        #expect(result.stderr.contains("failed to start: QEMU exited during start-up"))
        #expect(result.stderr.contains("qemu: qemu-system-x86_64:"), "\(result.stderr)")
        #expect(result.stderr.contains("/nonexistent-igvm-mgr/ram"))
        let status = try sandbox.json(["status", "rej"])
        #expect(status["phase"]?.stringValue == "failed")
        let logs = try sandbox.run(["logs", "rej"])
        #expect(logs.stdout.contains("/nonexistent-igvm-mgr/ram"))
    }

    @Test("the SEV-SNP example fails before QEMU is spawned, naming /dev/sev")
    func snpHostCheck() throws {
        try #require(!FileManager.default.fileExists(atPath: "/dev/sev"), "this host has /dev/sev")
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let result = try sandbox.run(["start", TestPaths.packageRoot.path + "/configs/snp-ovmf.toml"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("sev-snp-guest needs /dev/sev"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.stateDir + "/snp-ovmf/qemu.log"))
    }

    @Test("events --follow prints the run's events and ends when the supervisor exits")
    func eventsFollow() throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let config = try sandbox.config("ev")
        #expect(try sandbox.run(["start", config, "--paused"]).status == 0)
        #expect(try sandbox.run(["stop", "ev", "--mode", "quit"]).status == 0)
        let events = try sandbox.run(["events", "ev", "--follow", "--json"])
        let names = events.stdout.split(separator: "\n").compactMap { try? JSON.decode(String($0))["event"]?.stringValue }
        #expect(names.first == "SUPERVISOR_STARTED")
        #expect(names.contains("SHUTDOWN"))
        #expect(names.last == "SUPERVISOR_EXITED")
    }

    @Test("unknown VMs and bad names exit 2")
    func badInput() throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let missing = try sandbox.run(["status", "nope"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no VM named nope"))
        let bad = try sandbox.run(["stop", "../etc"])
        #expect(bad.status == 2)
    }

    @Test("start, stop and destroy of several VMs: all at once, reported in the order named, one failure named on stderr, the highest status")
    func severalAtOnce() throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let names = ["multi1", "multi2", "multi3"]
        let configs = try names.map { try sandbox.config($0) }

        // One unusable definition among them starts none; so does a name two of them share.
        let broken = try sandbox.config("broken", extra: "[vsock]\nguest-cid = 1")
        let refused = try sandbox.run(["start", configs[0], broken, configs[1]])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("broken.toml"), "\(refused.stderr)")
        #expect(try sandbox.run(["start", configs[0], configs[0]]).stderr.contains("multi1 is the name of more than one"))
        #expect(try sandbox.run(["start", configs[0], configs[1], "--name", "x"]).status == 2)
        for name in names { #expect(try sandbox.run(["status", name]).status == 2, "\(name) was started") }

        let start = try sandbox.run(["start", configs[2], configs[0], configs[1], "--paused"])
        #expect(start.status == 0, "\(start.stderr)")
        let lines = start.stdout.split(separator: "\n")
        #expect(lines.map { String($0.prefix { $0 != " " }) } == ["multi3", "multi1", "multi2"])
        var pids: [Int] = []
        for name in names {
            let status = try sandbox.json(["status", name])
            #expect(status["phase"]?.stringValue == "paused")
            pids.append(try #require(status["pid"]?.intValue))
        }
        #expect(lines[1].hasPrefix("multi1 paused pid \(pids[0]) "))
        let again = try sandbox.run(["start", configs[1]])
        #expect(again.status == 1)

        // A twice-named VM and an empty list are usage errors, and nothing is stopped.
        let twice = try sandbox.run(["stop", "multi1", "multi2", "multi1"])
        #expect(twice.status == 2)
        #expect(twice.stderr.contains("multi1 is named twice"))
        #expect(try sandbox.run(["stop"]).status == 2)
        for name in names { #expect(try sandbox.json(["status", name])["phase"]?.stringValue == "paused") }

        let stop = try sandbox.run(["stop", "multi3", "nope", "multi1", "multi2", "--mode", "quit"])
        #expect(stop.status == 2, "an unknown VM is exit 2 even when the others stopped")
        #expect(stop.stdout.split(separator: "\n").map { String($0.prefix { $0 != ":" }) }
            == ["multi3 stopped", "multi1 stopped", "multi2 stopped"])
        #expect(stop.stdout.split(separator: "\n").allSatisfy { $0.contains("ended by quit") })
        #expect(stop.stderr == "igvm-mgr: error: nope: no VM named nope in \(sandbox.stateDir)\n")
        for (name, pid) in zip(names, pids) {
            #expect(try sandbox.json(["status", name])["phase"]?.stringValue == "stopped")
            #expect(kill(pid_t(pid), 0) != 0, "QEMU of \(name) still runs")
        }

        // A stopped VM stopped again is reported, not an error; destroy takes several too.
        let stopAgain = try sandbox.run(["stop", "multi2", "multi1"])
        #expect(stopAgain.status == 0)
        #expect(stopAgain.stdout == "multi2 was not running\nmulti1 was not running\n")
        let destroy = try sandbox.run(["destroy", "multi1", "multi2", "multi3"])
        #expect(destroy.status == 0, "\(destroy.stderr)")
        #expect(destroy.stdout == "multi1 was not running; state removed\nmulti2 was not running; state removed\nmulti3 was not running; state removed\n")
        #expect(try sandbox.run(["status", "multi2"]).status == 2)
    }
}

struct CommandFailed: Error, CustomStringConvertible {
    var description: String
}
