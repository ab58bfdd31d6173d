import Foundation
import JSON
import ObjectModel
import Testing
import TestSupport
@testable import Launch
@testable import Supervisor
@testable import FirmwareUpdate

/// Runs QEMU instances for the flow as the supervisor will (a stand-in until the supervisor
/// lands): the test VM is q35/TCG with 128 MiB, the test firmware as the provider's ROM, the
/// interface's fw-cfg files, and one appended debug-console log for every instance.
actor TestFirmwareUpdateHost: FirmwareUpdateHost {
    nonisolated let directory: URL
    let providerFirmware: String
    let interfaceFiles: [(name: String, path: String)]
    /// Each instance's debug console (the plan's file console truncates on open).
    nonisolated func debugLog(_ instance: Int) -> URL { directory.appendingPathComponent("debugcon-\(instance).log") }
    static let mailboxGPA: UInt64 = 0x9000
    static let offer = VMFWUpdateOffer(formats: [.platformROM], firmwareROMSize: 0x10000)

    /// Guest RAM in a file every instance maps, the mailbox owned by the manager's keeper.
    nonisolated let ram: GuestRAMFile
    let keeper: MailboxKeeper

    private(set) var instance: TestQEMUProcess?
    private(set) var instances = 0
    private(set) var log: [FirmwareUpdateEvent] = []
    private(set) var stoppedFlow: FirmwareUpdateFlow?

    init(directory: URL, providerFirmware: URL) throws {
        self.directory = directory
        self.providerFirmware = providerFirmware.path
        interfaceFiles = try VMFWUpdateFwCfg.write(
            VMFWUpdateFwCfg.files(mailboxGPA: Self.mailboxGPA, offer: Self.offer),
            into: directory.appendingPathComponent("fw-cfg").path)
        ram = GuestRAMFile(path: directory.appendingPathComponent("guest-ram").path,
                           memory: try GuestMemoryMap(machine: "q35", ramSize: 128 << 20), size: 128 << 20)
        try ram.createAfresh()
        try ram.write(VMFWUpdateMailbox().afterReset(offer: Self.offer).encoded(), at: Self.mailboxGPA)
        keeper = MailboxKeeper(ram: ram, mailboxGPA: Self.mailboxGPA, offer: Self.offer)
    }

    static func validator() throws -> FirmwareUpdateRequestValidator {
        FirmwareUpdateRequestValidator(offer: offer, memory: try GuestMemoryMap(machine: "q35", ramSize: 128 << 20))
    }

    var qmp: RawQMPConnection {
        get throws {
            guard let instance else { throw RawQMPConnection.Failure(description: "no instance running") }
            return instance.qmp
        }
    }

    func channel() async throws -> any FirmwareUpdateChannel {
        KeptMailboxChannel(keeper: keeper)
    }

    /// The QMP channel (`pmemsave`), which must read what the RAM file holds.
    func pmemsaveChannel() async throws -> any FirmwareUpdateChannel {
        let qmp = try qmp
        return GuestMemoryMailboxChannel(
            mailboxGPA: Self.mailboxGPA,
            memory: PmemsaveMemoryReader(scratchDirectory: directory.path) { command, arguments in
                try qmp.execute(command, arguments)
            })
    }

    func quitInstance(next: FirmwareInUse?) async throws {
        if next != nil { try await keeper.resetForNextRun() }
        try instance?.quit()
        instance = nil
    }

    /// The instance's argv comes from a `LaunchPlan` (the one the supervisor uses) with the
    /// flow's changes applied, so the plan's vmfwupdate arguments are what QEMU runs here.
    func launchInstance(_ firmware: FirmwareInUse) async throws -> FirmwareUpdateStepCompletion {
        instances += 1
        var plan = LaunchPlan(binary: try QEMU.binary(), machine: Machine(type: "q35"), accel: "tcg",
                              memory: 128 << 20, cpus: 1, qmpSocket: nil)
        plan.bios = providerFirmware
        plan.consoles = [FileConsole(kind: .debugcon, path: debugLog(instances).path)]
        plan = plan.forInstance(booting: firmware, interfaceFiles: interfaceFiles, launchNumber: instances)
        plan.objects.insert(ram.backendObject, at: 0)
        plan.machine.memoryBackend = GuestRAMFile.backendID
        #expect(plan.startPaused)  // -S: no guest event before QMP listens
        let process = try TestQEMUProcess(
            arguments: plan.arguments, socketPath: directory.appendingPathComponent("qmp-\(instances).sock").path,
            log: directory.appendingPathComponent("qemu-\(instances).log"))
        try process.qmp.execute("cont")
        instance = process
        return .done
    }

    /// `-action reboot=shutdown` turns QMP's `system_reset` into a shutdown as well (found on
    /// QEMU 10.0.2: SHUTDOWN {guest: false, reason: host-qmp-system-reset}, still paused), so
    /// the reboot action is switched to `reset` around it; `cont` is refused until the reset
    /// has happened (RESET event, run state prelaunch).
    func resetInstanceInPlace() async throws -> FirmwareUpdateStepCompletion {
        try await keeper.resetForNextRun()
        let qmp = try qmp
        try qmp.execute("set-action", ["reboot": "reset"])
        try qmp.execute("system_reset")
        try qmp.waitForEvent("RESET")
        try qmp.execute("set-action", ["reboot": "shutdown"])
        try qmp.execute("cont")
        return .done
    }

    func record(_ event: FirmwareUpdateEvent, flow: FirmwareUpdateFlow) async {
        log.append(event)
    }

    func finishStopped(flow: FirmwareUpdateFlow) async {
        stoppedFlow = flow
    }

    /// Waits for the running instance's next SHUTDOWN and maps it to the flow's input.
    func nextGuestStop() throws -> FirmwareUpdateFlow.Input {
        let event = try qmp.waitForEvent("SHUTDOWN")
        #expect(event["data"]?["guest"] == .bool(true), "\(event)")
        switch event["data"]?["reason"]?.stringValue {
        case "guest-reset": return .guestReset
        case "guest-shutdown": return .guestPowerOff
        default: throw RawQMPConnection.Failure(description: "unexpected SHUTDOWN \(event)")
        }
    }

    func runState() throws -> String? { try qmp.execute("query-status")["status"]?.stringValue }

    func shutDown() {
        try? instance?.quit()
        instance = nil
    }
}

/// The vmfwupdate flow against real QEMU (TCG) with the test firmware built from source.
@Suite(.serialized) struct VMFWUpdateQEMUTests {
    struct Run {
        var host: TestFirmwareUpdateHost
        var flow: FirmwareUpdateFlow
        var storeDirectory: URL
        /// The first instance's debug console.
        var debugLog: URL { host.debugLog(1) }
    }

    /// Assembles `variant`, boots it as the provider firmware and waits for its first reset.
    func bootUntilTheGuestResets(_ variant: TestFirmware.Variant) async throws -> Run {
        let directory = try TestPaths.makeTemporaryDirectory("vmfwupdate")
        let build = try TestFirmware.assemble(variant, into: directory)
        let host = try TestFirmwareUpdateHost(directory: directory, providerFirmware: build.stage1)
        let flow = FirmwareUpdateFlow(canResetInPlace: true, interfaceEnabled: true,
                                      validator: try TestFirmwareUpdateHost.validator())
        _ = try await host.launchInstance(.provider)
        try await DebugConsole.waitFor(TestFirmware.Marker.stage1(boot: 1), in: host.debugLog(1))
        return Run(host: host, flow: flow, storeDirectory: directory.appendingPathComponent("firmware"))
    }

    @Test func aGuestResetArrivesAsShutdownAndPausesWithMemoryIntact() async throws {
        let run = try await bootUntilTheGuestResets(.update)
        defer { Task { await run.host.shutDown() } }
        #expect(try await run.host.nextGuestStop() == .guestReset)
        #expect(try await run.host.runState() == "shutdown")
        // Memory is intact: the mailbox stage 1 wrote is still there.
        let contents = try await run.host.pmemsaveChannel().readMailbox()
        #expect(try await run.host.channel().readMailbox() == contents)  // the RAM file is the guest's memory
        guard case .mailbox(let mailbox) = contents else {
            Issue.record("no mailbox after the reset: \(contents)")
            return
        }
        #expect(mailbox.imageAddress == 0x10000)
        #expect(mailbox.capabilities == [.formatPlatformROM])  // echoed from the fw-cfg file
        #expect(mailbox.firmwareROMSize == 0x10000)
        await run.host.shutDown()
    }

    @Test func theGuestsFirmwareBootsAfterAnUpdate() async throws {
        var run = try await bootUntilTheGuestResets(.update)
        let executor = FirmwareUpdateExecutor(store: FirmwareImageStore(directory: run.storeDirectory.path))
        let reset = try await run.host.nextGuestStop()
        try await executor.run(reset, flow: &run.flow, host: run.host)
        // The second instance boots the guest's image: stage 2 finds the 1 MiB pattern and the
        // opaque blob where stage 1 left them in RAM, and the opaque blob's fw-cfg copy.
        let text = try await DebugConsole.waitFor(TestFirmware.Marker.opaque(TestFirmware.opaqueText), in: run.host.debugLog(2))
        #expect(text == TestFirmware.Marker.stage2AfterUpdate)
        #expect(await run.host.instances == 2)
        #expect(try await run.host.nextGuestStop() == .guestPowerOff)
        try await executor.run(.guestPowerOff, flow: &run.flow, host: run.host)

        #expect(run.flow.phase == .stopped)
        #expect((run.flow.updates, run.flow.relaunches) == (1, 1))
        let log = await run.host.log
        #expect(log.map(\.name) == [
            "vmfwupdate-guest-reset", "vmfwupdate-request-read", "vmfwupdate-image-stored",
            "vmfwupdate-instance-quit", "vmfwupdate-instance-launched",
            "vmfwupdate-guest-poweroff", "vmfwupdate-instance-quit",
        ])
        // The stored image is the full 64 KiB ROM stage 1 built: zeros, then stage 2's top.
        guard case .guestSupplied(let stored) = run.flow.firmware else {
            Issue.record("still on \(run.flow.firmware)")
            return
        }
        let image = try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored.imagePath)))
        let stage2Top = try [UInt8](Data(contentsOf: run.storeDirectory.deletingLastPathComponent().appendingPathComponent("stage2.bin")))
        #expect(image.count == 0x10000)
        #expect(Array(image.suffix(stage2Top.count)) == stage2Top)
        #expect(image.prefix(0x10000 - stage2Top.count).allSatisfy { $0 == 0 })
        #expect(stored.imageSHA256 == FirmwareImageStore.sha256Hex(image))
        let opaque = try String(contentsOfFile: stored.opaquePath ?? "", encoding: .utf8)
        #expect(opaque == TestFirmware.opaqueText)
        #expect(await run.host.stoppedFlow != nil)
    }

    @Test(arguments: [TestFirmware.Variant.disabled, .noRequest])
    func withoutAnUpdateTheGuestRebootsInPlace(variant: TestFirmware.Variant) async throws {
        var run = try await bootUntilTheGuestResets(variant)
        let executor = FirmwareUpdateExecutor(store: FirmwareImageStore(directory: run.storeDirectory.path))
        try await executor.run(try await run.host.nextGuestStop(), flow: &run.flow, host: run.host)
        // Stage 1 again, in the same QEMU with RAM kept (its boot counter says 2).
        let text = try await DebugConsole.waitFor(TestFirmware.Marker.requestCleared, in: run.debugLog)
        #expect(text.contains(TestFirmware.Marker.stage1(boot: 2)))
        #expect(!text.contains(TestFirmware.Marker.stage2))
        #expect(try await run.host.nextGuestStop() == .guestPowerOff)
        try await executor.run(.guestPowerOff, flow: &run.flow, host: run.host)
        #expect((run.flow.updates, run.flow.relaunches, await run.host.instances) == (0, 0, 1))
        let expectedReason: NoUpdateReason = variant == .disabled ? .disabled : .noImage
        #expect(await run.host.log.contains(.noUpdate(expectedReason)))
        #expect(!FileManager.default.fileExists(atPath: run.storeDirectory.path))
    }

    /// The guest sets DISABLE, the manager looks (the firmware waits for it to restore the
    /// `capabilities` it zeroed), the guest clears DISABLE and requests an update: refused at
    /// the reset, reboot in place, and the request fields read zero in the next boot.
    @Test func disableLatchesUntilTheNextReset() async throws {
        var run = try await bootUntilTheGuestResets(.latch)
        let keeper = run.host.keeper
        let latched = try await eventually(timeout: .seconds(30)) {
            let newlyLatched = try await keeper.watch()
            let latchedBefore = await keeper.disableLatched
            return newlyLatched || latchedBefore
        }
        #expect(latched)
        // Keep looking until the guest has seen its capabilities restored and cleared DISABLE.
        let cleared = try await eventually(timeout: .seconds(30)) {
            _ = try await keeper.watch()
            return (try? String(contentsOf: run.debugLog, encoding: .utf8))?.contains(TestFirmware.Marker.latchCleared) == true
        }
        #expect(cleared)
        let executor = FirmwareUpdateExecutor(store: FirmwareImageStore(directory: run.storeDirectory.path))
        try await executor.run(try await run.host.nextGuestStop(), flow: &run.flow, host: run.host)
        #expect(await run.host.log.contains(.noUpdate(.disabled)))
        let text = try await DebugConsole.waitFor(TestFirmware.Marker.requestCleared, in: run.debugLog)
        #expect(text.contains(TestFirmware.Marker.stage1(boot: 2)))
        #expect(!text.contains(TestFirmware.Marker.stage2))
        #expect(try await run.host.nextGuestStop() == .guestPowerOff)
        try await executor.run(.guestPowerOff, flow: &run.flow, host: run.host)
        #expect((run.flow.updates, await run.host.instances) == (0, 1))
    }

    @Test(arguments: [
        (TestFirmware.Variant.badSize, "fw_image_size 0xc000 is not a multiple of 64 KiB"),
        (.badAddress, "fw_image_addr 0x80000000 + fw_image_size 0x10000 is not inside guest RAM"),
    ])
    func aBadRequestIsRejectedAndTheProviderFirmwareBootsAgain(variant: TestFirmware.Variant, reason: String) async throws {
        var run = try await bootUntilTheGuestResets(variant)
        let executor = FirmwareUpdateExecutor(store: FirmwareImageStore(directory: run.storeDirectory.path))
        try await executor.run(try await run.host.nextGuestStop(), flow: &run.flow, host: run.host)
        #expect(await run.host.log.contains(.requestRejected(reason: reason)))
        let text = try await DebugConsole.waitFor(TestFirmware.Marker.stage1(boot: 2), in: run.debugLog)
        #expect(!text.contains(TestFirmware.Marker.stage2))
        #expect(try await run.host.nextGuestStop() == .guestPowerOff)
        try await executor.run(.guestPowerOff, flow: &run.flow, host: run.host)
        #expect(run.flow.firmware == .provider)
        #expect(run.flow.updates == 0)
    }
}

@Suite struct TestFirmwareTests {
    /// Both stages are real platform ROMs: 64 KiB with a near jump at the reset vector.
    @Test(arguments: TestFirmware.Variant.allCases)
    func everyVariantAssemblesToA64KiBROM(variant: TestFirmware.Variant) throws {
        let directory = try TestPaths.makeTemporaryDirectory("fw-asm")
        let build = try TestFirmware.assemble(variant, into: directory)
        let rom = try [UInt8](Data(contentsOf: build.stage1))
        #expect(rom.count == 0x10000)
        #expect(rom[0xFFF0] == 0xE9)
        let top = try [UInt8](Data(contentsOf: build.stage2Top))
        #expect(top.count == 0x800)
        #expect(top[0x800 - 16] == 0xE9)
    }
}

@Suite struct FirmwareImageStoreTests {
    @Test func storesWholeFilesNamedByTheirHash() throws {
        let directory = try TestPaths.makeTemporaryDirectory("fw-store")
        let store = FirmwareImageStore(directory: directory.appendingPathComponent("firmware").path)
        let stored = try store.store(FirmwareUpdatePayload(format: .platformROM, image: Array("abc".utf8), opaque: nil))
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        #expect(stored.imageSHA256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(stored.imagePath.hasSuffix("/\(stored.imageSHA256).rom"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: stored.imagePath)) == Data("abc".utf8))
        #expect(stored.opaquePath == nil)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.directory).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }
}
