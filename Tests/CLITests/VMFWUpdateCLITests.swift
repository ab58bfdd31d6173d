import Foundation
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The vmfwupdate flow through the CLI and the supervisor, with real QEMU (TCG) and the test
/// firmware assembled from firmware/vmfwupdate-test: `start` boots the provider ROM (stage 1),
/// the guest asks for its own firmware and resets, the supervisor relaunches it (stage 2).
@Suite("vmfwupdate CLI (real QEMU)", .serialized)
struct VMFWUpdateCLITests {
    typealias Sandbox = LifecycleCLITests.Sandbox

    /// A config for `variant` of the test firmware: 64 MiB q35 under TCG, mailbox at 0x9000.
    func config(_ sandbox: Sandbox, _ name: String, _ variant: TestFirmware.Variant) throws -> (config: String, debugcon: URL) {
        let build = try TestFirmware.assemble(variant, into: URL(fileURLWithPath: sandbox.root))
        let config = try sandbox.config(name, extra: """
            debugcon = "\(name).debugcon.log"

            [firmware]
            bios = "\(build.stage1.path)"

            [vmfwupdate]
            enabled = true
            mailbox = "0x9000"
            """)
        return (config, URL(fileURLWithPath: "\(sandbox.root)/\(name).debugcon.log"))
    }

    /// Polls `status --json` until the VM's phase is `phase` (the supervisor writes it).
    func waitForPhase(_ sandbox: Sandbox, _ name: String, _ phase: String, timeout: Duration = .seconds(30)) async throws -> JSON {
        var status: JSON = .null
        let reached = try await eventually(timeout: timeout) {
            status = try sandbox.json(["status", name])
            return status["phase"]?.stringValue == phase
        }
        guard reached else { throw CommandFailed(description: "\(name) never reached \(phase): \(status)") }
        return status
    }

    /// The event log's names; SHUTDOWN with its reason (`SHUTDOWN:guest-reset`).
    func eventNames(_ sandbox: Sandbox, _ name: String) throws -> [String] {
        let result = try sandbox.run(["events", name, "--json"])
        return try result.stdout.split(separator: "\n").map {
            let record = try JSON.decode(String($0))
            let event = record["event"]?.stringValue ?? "?"
            return event == "SHUTDOWN" ? "SHUTDOWN:\(record["data"]?["reason"]?.stringValue ?? "?")" : event
        }
    }

    @Test("start → stage 1 → guest reset → request read, image stored, quit, launched → stage 2 → poweroff → stopped after one update")
    func update() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let (config, debugcon) = try config(sandbox, "fwu", .update)
        let started = try sandbox.run(["start", config])
        #expect(started.status == 0, "\(started.stderr)")
        try await DebugConsole.waitFor(TestFirmware.Marker.opaque(TestFirmware.opaqueText), in: debugcon)
        let status = try await waitForPhase(sandbox, "fwu", "stopped")
        #expect(status["vmfwupdate"]?["updates"] == 1)
        #expect(status["vmfwupdate"]?["relaunches"] == 1)
        #expect(status["vmfwupdate"]?["phase"] == "stopped")
        #expect(status["vmfwupdate"]?["firmware"]?["source"] == "guest")
        let sha = try #require(status["vmfwupdate"]?["firmware"]?["stored"]?["sha256"]?.stringValue)
        #expect(status["firmware"]?.stringValue?.hasSuffix("/\(sha).rom") == true)

        // The flow's steps in order, between the guest's own SHUTDOWNs. (QEMU's spawn/exit
        // records and the quit's SHUTDOWN come from the supervisor's run loop, concurrently
        // with the flow's records, so only their count is fixed.)
        let all = try eventNames(sandbox, "fwu")
        // Step timings (for the benchmark) close each executor run; they are checked apart.
        // (The poweroff's record may be cut off by the supervisor's exit: it is only for timing.)
        #expect(all.contains("vmfwupdate-step-timings"))
        let flow = all.filter { $0 != "vmfwupdate-step-timings" }
        #expect(flow.filter { $0.hasPrefix("vmfwupdate-") || $0 == "SHUTDOWN:guest-reset" || $0 == "SHUTDOWN:guest-shutdown" } == [
            "SHUTDOWN:guest-reset", "vmfwupdate-guest-reset", "vmfwupdate-request-read", "vmfwupdate-image-stored",
            "vmfwupdate-instance-quit", "vmfwupdate-instance-launched",
            "SHUTDOWN:guest-shutdown", "vmfwupdate-guest-poweroff", "vmfwupdate-instance-quit",
        ])
        #expect(all.filter { $0 == "QEMU_SPAWNED" }.count == 2)
        #expect(all.firstIndex(of: "vmfwupdate-image-stored")! < all.firstIndex(of: "SHUTDOWN:host-qmp-quit")!)
        let human = try sandbox.run(["status", "fwu"])
        #expect(human.stdout.contains("1 update, 1 relaunch, guest firmware sha256 \(sha)"), "\(human.stdout)")

        // One log across both instances, a marker before each; stage 2 found guest RAM as
        // stage 1 left it (the 1 MiB pattern, the opaque blob at opaque_addr).
        let log = try String(contentsOf: debugcon, encoding: .utf8)
        #expect(log == TestFirmware.Marker.logOfOneUpdate)
    }

    @Test("DISABLE set, seen, cleared, then a request: refused at the reset (latched, logged), reboot in place, request fields zero")
    func disableLatch() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let (config, debugcon) = try config(sandbox, "fwl", .latch)
        #expect(try sandbox.run(["start", config]).status == 0)
        let text = try await DebugConsole.waitFor(TestFirmware.Marker.requestCleared, in: debugcon)
        #expect(text.contains(TestFirmware.Marker.latchCleared))
        #expect(!text.contains(TestFirmware.Marker.stage2))
        let status = try await waitForPhase(sandbox, "fwl", "stopped")
        #expect(status["vmfwupdate"]?["updates"] == 0)
        let events = try eventNames(sandbox, "fwl")
        #expect(events.contains("vmfwupdate-disable-latched"))
        #expect(events.contains("vmfwupdate-no-update"))
        #expect(events.filter { $0 == "QEMU_SPAWNED" }.count == 1)
    }

    @Test("the guest disables the interface → ordinary reboot in place → stage 1 again → stopped, no update")
    func disabled() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let (config, debugcon) = try config(sandbox, "fwd", .disabled)
        #expect(try sandbox.run(["start", config]).status == 0)
        // The stale request was cleared by the manager at the reset.
        let text = try await DebugConsole.waitFor(TestFirmware.Marker.requestCleared, in: debugcon)
        #expect(text.contains(TestFirmware.Marker.stage1(boot: 2)))
        let status = try await waitForPhase(sandbox, "fwd", "stopped")
        #expect(status["vmfwupdate"]?["updates"] == 0)
        #expect(status["vmfwupdate"]?["resets"] == 1)
        let events = try eventNames(sandbox, "fwd")
        #expect(events.contains("vmfwupdate-no-update"))
        #expect(events.contains("vmfwupdate-reset-in-place"))
        #expect(events.filter { $0 == "QEMU_SPAWNED" }.count == 1)
    }

    @Test("a host system_reset under the reset policy reboots an ordinary guest in place: resumed, not left in shutdown, recorded")
    func hostSystemReset() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        // SeaBIOS with nothing to boot; the interface on puts the VM under -action reboot=shutdown.
        let config = try sandbox.config("hr", extra: "[vmfwupdate]\nenabled = true\nmailbox = \"0x9000\"\n")
        #expect(try sandbox.run(["start", config]).status == 0)
        let reset = try sandbox.run(["qmp", "hr", "system_reset"])
        #expect(reset.status == 0, "\(reset.stderr)")
        let resetInPlace = try await eventually(timeout: .seconds(30)) {
            try eventNames(sandbox, "hr").contains("vmfwupdate-reset-in-place")
        }
        guard resetInPlace else { throw CommandFailed(description: "no in-place reset: \(try eventNames(sandbox, "hr"))") }
        // The record comes just before the supervisor's `cont`, and SeaBIOS may reset once more
        // while it boots (another pause until the supervisor resumes it): the VM must reach
        // running, not stay in shutdown, within the deadline.
        var status: JSON = .null
        let running = try await eventually(timeout: .seconds(30)) {
            status = try JSON.decode(try sandbox.run(["qmp", "hr", "query-status"]).stdout)
            return status["status"]?.stringValue == "running"
        }
        #expect(running, "\(status)")
        let events = try eventNames(sandbox, "hr")
        #expect(events.contains("SHUTDOWN:host-qmp-system-reset"))
        #expect(events.contains("vmfwupdate-host-reset"))
        #expect(events.filter { $0 == "QEMU_SPAWNED" }.count == 1)
        // SeaBIOS may reset the machine once more itself while it boots (a guest reset, counted too).
        #expect((try sandbox.json(["status", "hr"])["vmfwupdate"]?["resets"]?.intValue ?? 0) >= 1)
    }

    @Test("a request with a bad size is rejected with its reason; the provider firmware boots again",
          arguments: [(TestFirmware.Variant.badSize, "not a multiple of 64 KiB"), (.badAddress, "is not inside guest RAM")])
    func rejected(variant: TestFirmware.Variant, reason: String) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let (config, debugcon) = try config(sandbox, "fwb", variant)
        #expect(try sandbox.run(["start", config]).status == 0)
        try await DebugConsole.waitFor(TestFirmware.Marker.stage1(boot: 2), in: debugcon)
        _ = try await waitForPhase(sandbox, "fwb", "stopped")
        let log = try sandbox.run(["events", "fwb", "--json"]).stdout
        let rejection = try log.split(separator: "\n").map { try JSON.decode(String($0)) }
            .first { $0["event"] == "vmfwupdate-request-rejected" }
        #expect(rejection?["data"]?["reason"]?.stringValue?.contains(reason) == true, "\(log)")
    }

    @Test("kill -9 of the supervisor right after the image is stored: status reports the interrupted update; start again boots cleanly")
    func crashAfterImageStored() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let (config, debugcon) = try config(sandbox, "fwk", .update)
        let started = try IGVMManagerBinary.run(
            ["start", config, "--state-dir", sandbox.stateDir],
            environment: ProcessInfo.processInfo.environment.merging(["IGVM_MGR_TEST_CRASH_AFTER": "vmfwupdate-image-stored"]) { $1 })
        #expect(started.status == 0, "\(started.stderr)")
        // The supervisor dies; the state it left must name the step and the stored image.
        var status: JSON = .null
        let interrupted = try await eventually(timeout: .seconds(30)) {
            status = try sandbox.json(["status", "fwk"])
            return status["supervisor-pid"] == .null && status["vmfwupdate"]?["phase"] == "image-stored"
        }
        guard interrupted else { throw CommandFailed(description: "no interrupted update: \(status)") }
        let stored = try #require(status["vmfwupdate"]?["next-firmware"]?["stored"])
        let image = try Data(contentsOf: URL(fileURLWithPath: try #require(stored["image"]?.stringValue)))
        #expect(image.count == 0x10000)  // whole, never torn
        let human = try sandbox.run(["status", "fwk"])
        #expect(human.stdout.contains("update interrupted at image-stored"), "\(human.stdout)")

        // QEMU was left paused without its supervisor: stop it, then start afresh.
        #expect(try sandbox.run(["stop", "fwk", "--mode", "quit"]).status == 0)
        try? FileManager.default.removeItem(at: debugcon)
        let again = try sandbox.run(["start", config])
        #expect(again.status == 0, "\(again.stderr)")
        try await DebugConsole.waitFor(TestFirmware.Marker.stage2, in: debugcon)
        let final = try await waitForPhase(sandbox, "fwk", "stopped")
        #expect(final["vmfwupdate"]?["updates"] == 1)
        #expect(try eventNames(sandbox, "fwk").contains("vmfwupdate-interrupted"))
    }
}
