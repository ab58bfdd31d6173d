import Foundation
import JSON
import TestSupport
import Testing

/// IGVM images through the CLI and the supervisor. Whether `FORMAT_IGVM` is offered follows the
/// probe of the VM's binary at `start` (its `igvm-cfg`), which `start` keeps in `plan.json` for the
/// supervisor; the configs here name no `qemu.version`, so nothing else could decide it.
extension VMFWUpdateCLITests {
    /// A config for a VM on `binary` with the interface on and `firmware` (a `[firmware]` or
    /// `[igvm]` table) as the provider's: 64 MiB q35 under TCG, mailbox at 0x9000.
    static func igvmConfig(_ sandbox: Sandbox, _ name: String, binary: String, firmware: String) throws -> (config: String, debugcon: URL) {
        let path = "\(sandbox.root)/\(name).toml"
        try """
            name = "\(name)"

            [qemu]
            binary = "\(binary)"
            machine = "q35"
            accel = "tcg"
            memory = "64M"
            debugcon = "\(name).debugcon.log"

            \(firmware)

            [vmfwupdate]
            enabled = true
            mailbox = "0x9000"
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, URL(fileURLWithPath: "\(sandbox.root)/\(name).debugcon.log"))
    }

    /// The `argv` of every QEMU_SPAWNED record of `name`, in order.
    static func spawnedArgv(_ sandbox: Sandbox, _ name: String) throws -> [[String]] {
        try sandbox.run(["events", name, "--json"]).stdout.split(separator: "\n")
            .map { try JSON.decode(String($0)) }
            .filter { $0["event"] == "QEMU_SPAWNED" }
            .map { $0["data"]?["argv"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    }

    static func values(of option: String, in argv: [String]) -> [String] {
        zip(argv, argv.dropFirst()).filter { $0.0 == option }.map(\.1)
    }

    @Test("a binary without igvm-cfg: start records no IGVM loader in the plan, an IGVM request is refused as not offered, stage 1 boots again")
    func igvmNotOfferedWithoutIGVMCfg() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let build = try TestFirmware.assemble(.igvm, into: URL(fileURLWithPath: sandbox.root))
        // Debian's QEMU 10.0 has no igvm-cfg; a qemu.version of 10.2 must not change the offer.
        let (config, debugcon) = try Self.igvmConfig(sandbox, "fwn", binary: try QEMU.binary(),
                                                    firmware: "[firmware]\nbios = \"\(build.stage1.path)\"")
        let text = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "memory = \"64M\"", with: "memory = \"64M\"\nversion = \"10.2.0\"")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let capabilities = try sandbox.json(["caps", try QEMU.binary()])
        try #require(capabilities["confidential"]?["igvm-cfg"] == .bool(false), "the installed QEMU has igvm-cfg: this test needs one without")

        let started = try sandbox.run(["start", config])
        #expect(started.status == 0, "\(started.stderr)")
        let plan = try JSON.decode(String(contentsOfFile: "\(sandbox.stateDir)/fwn/plan.json", encoding: .utf8))
        #expect(plan["reset-flow"]?["igvm-loader"]?["igvm-cfg"] == .bool(false), "\(plan)")
        try await DebugConsole.waitFor(TestFirmware.Marker.stage1(boot: 2), in: debugcon)
        _ = try await waitForPhase(sandbox, "fwn", "stopped")
        let log = try sandbox.run(["events", "fwn", "--json"]).stdout
        let rejection = try log.split(separator: "\n").map { try JSON.decode(String($0)) }
            .first { $0["event"] == "vmfwupdate-request-rejected" }
        #expect(rejection?["data"]?["reason"]?.stringValue == "image format igvm is not offered in capabilities", "\(log)")
        #expect(try Self.spawnedArgv(sandbox, "fwn").count == 1)
    }
}

/// The update to an IGVM image, run for real: against the QEMU named by
/// `IGVM_MGR_TEST_QEMU_IGVM` (QEMU 10.2 or newer built with IGVM support: the test firmware is a
/// native guest, which QEMU 10.1's loader does not run without a confidential-guest object), and
/// skipped, naming the variable, without it.
@Suite("vmfwupdate to IGVM images (QEMU with igvm-cfg)", .serialized,
       .enabled(if: QEMUWithIGVM.binary != nil, Comment(rawValue: QEMUWithIGVM.skipReason)))
struct VMFWUpdateIGVMQEMUTests {
    typealias Sandbox = LifecycleCLITests.Sandbox

    /// Starts `config`, waits for stage 2 after the update and for the VM to stop, and checks
    /// what both instances ran and what was stored: the relaunch boots the guest's IGVM file
    /// through a fresh igvm-cfg object, with no -bios.
    func runUpdate(_ sandbox: Sandbox, _ name: String, config: String, debugcon: URL, stage2IGVM: URL) async throws {
        let started = try sandbox.run(["start", config])
        #expect(started.status == 0, "\(started.stderr)")
        let plan = try JSON.decode(String(contentsOfFile: "\(sandbox.stateDir)/\(name)/plan.json", encoding: .utf8))
        #expect(plan["reset-flow"]?["igvm-loader"]?["igvm-cfg"] == .bool(true), "\(plan)")
        try await DebugConsole.waitFor(TestFirmware.Marker.opaque(TestFirmware.opaqueText), in: debugcon, timeout: .seconds(60))
        let status = try await VMFWUpdateCLITests().waitForPhase(sandbox, name, "stopped", timeout: .seconds(60))

        let record = try #require(status["vmfwupdate"])
        #expect(record["updates"] == 1)
        #expect(record["relaunches"] == 1)
        #expect(record["firmware"]?["source"] == "guest")
        let stored = try #require(record["firmware"]?["stored"])
        #expect(stored["format"] == "igvm")
        let image = try [UInt8](Data(contentsOf: stage2IGVM))
        #expect(stored["size"]?.intValue == image.count)
        let sha = try #require(stored["sha256"]?.stringValue)
        let storedPath = try #require(stored["image"]?.stringValue)
        #expect(storedPath.hasSuffix("/\(sha).igvm"))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: storedPath))) == image)
        #expect(stored["launch-measurement"] == nil)  // an ordinary guest: no digest
        #expect(status["firmware"]?.stringValue == storedPath)

        let spawned = try VMFWUpdateCLITests.spawnedArgv(sandbox, name)
        try #require(spawned.count == 2, "\(spawned)")
        let relaunch = spawned[1]
        #expect(VMFWUpdateCLITests.values(of: "-bios", in: relaunch).isEmpty, "\(relaunch)")
        let igvmObjects = VMFWUpdateCLITests.values(of: "-object", in: relaunch).filter { $0.contains("igvm-cfg") }
        #expect(igvmObjects.count == 1 && igvmObjects[0].contains("igvm-fw2") && igvmObjects[0].contains(storedPath), "\(relaunch)")
        #expect(VMFWUpdateCLITests.values(of: "-machine", in: relaunch).contains { $0.contains("igvm-fw2") }, "\(relaunch)")

        // Stage 2 ran from the IGVM file and found guest RAM as stage 1 left it.
        let log = try String(contentsOf: debugcon, encoding: .utf8)
        #expect(log == TestFirmware.Marker.logOfOneUpdate)
    }

    @Test("the provider ROM hands over stage 2 as an IGVM file: relaunched with igvm-cfg, no -bios; then first boot from an IGVM file and an update to another")
    func updateToIGVM() async throws {
        let binary = try #require(QEMUWithIGVM.binary)
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let build = try TestFirmware.assemble(.igvm, into: URL(fileURLWithPath: sandbox.root))
        let stage2IGVM = try #require(build.stage2IGVM)

        // -bios stage 1 → stage 2 as IGVM.
        let rom = try VMFWUpdateCLITests.igvmConfig(sandbox, "fwi", binary: binary, firmware: "[firmware]\nbios = \"\(build.stage1.path)\"")
        try await runUpdate(sandbox, "fwi", config: rom.config, debugcon: rom.debugcon, stage2IGVM: stage2IGVM)

        // Stage 1 itself as an IGVM file (igvm-cfg from the first launch) → stage 2 as another.
        let stage1IGVM = URL(fileURLWithPath: sandbox.root).appendingPathComponent("stage1.igvm")
        try TestFirmware.buildIGVM(from: build.stage1, to: stage1IGVM)
        let igvm = try VMFWUpdateCLITests.igvmConfig(sandbox, "fwii", binary: binary, firmware: "[igvm]\nfile = \"\(stage1IGVM.path)\"")
        try await runUpdate(sandbox, "fwii", config: igvm.config, debugcon: igvm.debugcon, stage2IGVM: stage2IGVM)
        let first = try #require(try VMFWUpdateCLITests.spawnedArgv(sandbox, "fwii").first)
        #expect(VMFWUpdateCLITests.values(of: "-bios", in: first).isEmpty)
        #expect(VMFWUpdateCLITests.values(of: "-object", in: first).contains { $0.contains("igvm-cfg") && $0.contains(stage1IGVM.path) }, "\(first)")
    }
}
