import Foundation
import IGVM
import JSON
import Measure
import Testing
import TestSupport
@testable import Definition
@testable import Launch
@testable import VMState
@testable import Supervisor
@testable import FirmwareUpdate

/// The relaunch plans of the flow for confidential configs, asserted without spawning QEMU (no
/// SEV host here): what the supervisor would exec after an update.
@Suite struct VMFWUpdatePlanTests {
    static let interfaceFiles = [
        (name: VMFWUpdateFwCfg.mailboxGPAName, path: "/state/vm/fw-cfg-mailbox-gpa"),
        (name: VMFWUpdateFwCfg.capabilitiesName, path: "/state/vm/fw-cfg-capabilities"),
        (name: VMFWUpdateFwCfg.firmwareROMSizeName, path: "/state/vm/fw-cfg-fw-rom-size"),
    ]

    static func plan(_ example: String) throws -> LaunchPlan {
        try LaunchPlan(definition: VMDefinition.load(path: ExampleConfigs.path(example)), qmpSocket: nil, searchPath: "/usr/bin")
    }

    static func values(of option: String, in argv: [String]) -> [String] {
        zip(argv, argv.dropFirst()).filter { $0.0 == option }.map(\.1)
    }

    @Test func anSNPGuestIsRelaunchedOnTheGuestsROMWithTheSameSNPObject() throws {
        let provider = try Self.plan("snp-ovmf")
        let stored = StoredFirmware(format: .platformROM, imagePath: "/state/vm/firmware/ab.rom", imageSHA256: "ab",
                                    imageSize: 0x20_0000, opaquePath: "/state/vm/firmware/cd.opaque", opaqueSHA256: "cd")
        let first = provider.forInstance(booting: .provider, interfaceFiles: Self.interfaceFiles, launchNumber: 1)
        let relaunch = provider.forInstance(booting: .guestSupplied(stored), interfaceFiles: Self.interfaceFiles, launchNumber: 2)

        #expect(Self.values(of: "-bios", in: first.arguments) == ["/usr/share/ovmf/OVMF.fd"])
        #expect(Self.values(of: "-bios", in: relaunch.arguments) == [stored.imagePath])
        // The same sev-snp-guest, property for property, and the same machine wiring.
        let snp = Self.values(of: "-object", in: provider.arguments).filter { $0.contains("sev-snp-guest") }
        #expect(snp.count == 1)
        #expect(Self.values(of: "-object", in: relaunch.arguments) == Self.values(of: "-object", in: provider.arguments))
        #expect(Self.values(of: "-machine", in: relaunch.arguments) == Self.values(of: "-machine", in: provider.arguments))
        #expect(Self.values(of: "-action", in: relaunch.arguments) == ["reboot=shutdown,shutdown=pause"])
        #expect(Self.values(of: "-fw_cfg", in: relaunch.arguments) == [
            "name=opt/org.igvm-mgr/vmfwupdate/mailbox-gpa,file=/state/vm/fw-cfg-mailbox-gpa",
            "name=etc/vmfwupdate/cap,file=/state/vm/fw-cfg-capabilities",
            "name=etc/vmfwupdate/bios-size,file=/state/vm/fw-cfg-fw-rom-size",
            "name=etc/vmfwupdate/opaque-blob,file=/state/vm/firmware/cd.opaque",
        ])
        // The first instance has no opaque file: every start boots the provider firmware.
        #expect(!Self.values(of: "-fw_cfg", in: first.arguments).contains { $0.contains("/opaque,") })
    }

    @Test func aGuestIGVMGetsAFreshIGVMObjectInPlaceOfTheConfigs() throws {
        let provider = try Self.plan("snp-igvm")
        #expect(provider.machine.igvmCfg == LaunchPlan.IDs.igvm)
        let stored = StoredFirmware(format: .igvm, imagePath: "/state/vm/firmware/ef.igvm", imageSHA256: "ef", imageSize: 8192)
        let relaunch = provider.forInstance(booting: .guestSupplied(stored), interfaceFiles: [], launchNumber: 3)
        #expect(relaunch.machine.igvmCfg == "igvm-fw3")
        #expect(!relaunch.objects.contains { $0.id == LaunchPlan.IDs.igvm })
        let igvmObjects = Self.values(of: "-object", in: relaunch.arguments).filter { $0.contains("igvm-cfg") }
        #expect(igvmObjects.count == 1)
        #expect(igvmObjects.first?.contains("/state/vm/firmware/ef.igvm") == true)
        #expect(igvmObjects.first?.contains("igvm-fw3") == true)
        #expect(Self.values(of: "-bios", in: relaunch.arguments).isEmpty)
        // The confidential object is untouched.
        #expect(relaunch.objects.filter { $0.id != "igvm-fw3" } == provider.objects.filter { $0.id != LaunchPlan.IDs.igvm })
    }

    @Test func commasInPathsAreEscapedForFwCfg() {
        let plan = LaunchPlan(binary: "/usr/bin/qemu-system-x86_64", machine: .init(type: "q35"), accel: "tcg",
                              memory: 1 << 27, cpus: 1, qmpSocket: nil)
            .forInstance(booting: .provider, interfaceFiles: [(name: "opt/x", path: "/a,b")], launchNumber: 1)
        #expect(Self.values(of: "-fw_cfg", in: plan.arguments) == ["name=opt/x,file=/a,,b"])
    }
}

/// The guest's side of one update, played without QEMU: the mailbox asks for `payload`, the
/// payload is read back as it is, and every call the executor makes is logged in order.
actor ScriptedUpdateHost: FirmwareUpdateHost {
    enum Call: Sendable {
        /// An event, its data, and the flow's `state.json` record written with it.
        case recorded(String, data: JSON, flow: JSON)
        case quit
        case launched(FirmwareInUse)
    }

    struct Channel: FirmwareUpdateChannel {
        let payload: FirmwareUpdatePayload
        func readMailbox() async throws -> VMFWUpdateMailbox.Contents {
            .mailbox(VMFWUpdateMailbox(control: payload.format.bit, imageAddress: 0x10_0000, imageSize: UInt64(payload.image.count)))
        }
        func readPayload(_ request: FirmwareUpdateRequest) async throws -> FirmwareUpdatePayload { payload }
    }

    let payload: FirmwareUpdatePayload
    private(set) var calls: [Call] = []

    init(payload: FirmwareUpdatePayload) { self.payload = payload }

    func channel() async throws -> any FirmwareUpdateChannel { Channel(payload: payload) }
    func quitInstance(next: FirmwareInUse?) async throws { calls.append(.quit) }
    func launchInstance(_ firmware: FirmwareInUse) async throws -> FirmwareUpdateStepCompletion {
        calls.append(.launched(firmware))
        return .done
    }
    func resetInstanceInPlace() async throws -> FirmwareUpdateStepCompletion { .done }
    func record(_ event: FirmwareUpdateEvent, flow: FirmwareUpdateFlow) async {
        calls.append(.recorded(event.name, data: event.data, flow: flow.record.json))
    }
    func finishStopped(flow: FirmwareUpdateFlow) async {}

    /// The `vmfwupdate-image-stored` record and whether it came before the old instance was quit.
    var imageStored: (data: JSON, flow: JSON, beforeQuit: Bool)? {
        guard let quit = calls.firstIndex(where: { if case .quit = $0 { true } else { false } }) else { return nil }
        for (index, call) in calls.enumerated() {
            if case .recorded("vmfwupdate-image-stored", let data, let flow) = call { return (data, flow, index < quit) }
        }
        return nil
    }
}

/// The expected launch digest of a relaunch on a guest-supplied image, recorded when the image
/// is stored: the flow runs through the VM's own setup and executor, with a scripted guest.
extension VMFWUpdatePlanTests {
    struct UpdateRun {
        let setup: VMFWUpdateSetup
        let flow: FirmwareUpdateFlow
        let stored: StoredFirmware
        let host: ScriptedUpdateHost
        let stateDirectory: StateDirectory
    }

    /// A VM with the provider ROM made from sev-snp-measure's OvmfX64 tail, whose guest hands
    /// over `image`; runs the flow from the guest's reset until the new instance is launched.
    static func update(_ confidential: MeasurementFixtures.Confidential, format: FirmwareImageFormat, image: [UInt8],
                       in folder: URL, igvmLoader: IGVMLoaderProbe? = nil) async throws -> UpdateRun {
        let provider = folder.appendingPathComponent("provider.rom")
        try Data(try MeasurementFixtures.platformROM(MeasurementFixtures.ovmfX64)).write(to: provider)
        let config = try MeasurementFixtures.writeDefinition(
            "fw", in: folder, confidential: confidential, firmware: "[firmware]\nbios = \"provider.rom\"",
            extra: "[vmfwupdate]\nenabled = true\nmailbox = \"0x9000\"")
        let stateDirectory = StateDirectory(path: folder.appendingPathComponent("state").path)
        try stateDirectory.create()
        let setup = try #require(try VMFWUpdateSetup(definition: VMDefinition.load(path: config), name: nil, vmFolder: stateDirectory.vm("fw").folder,
                                                     igvmLoader: igvmLoader))
        let host = ScriptedUpdateHost(payload: FirmwareUpdatePayload(format: format, image: image, opaque: nil))
        var flow = setup.makeFlow()
        try await setup.makeExecutor().run(.guestReset, flow: &flow, host: host)
        var stored: StoredFirmware?
        if case .guestSupplied(let image) = flow.firmware { stored = image }
        let calls = await host.calls
        return UpdateRun(setup: setup, flow: flow, stored: try #require(stored, "no update: \(calls)"), host: host,
                         stateDirectory: stateDirectory)
    }

    /// The digest is in the `image-stored` event and in the flow's `state.json` record written
    /// with it, before the old instance is quit; the relaunch's launch carries it on.
    static func expectRecorded(_ digest: LaunchDigest, in run: UpdateRun) async throws {
        #expect(run.stored.launchMeasurement?.digest == digest)
        let recorded = try #require(await run.host.imageStored)
        #expect(recorded.beforeQuit)
        #expect(recorded.data["sha256"]?.stringValue == run.stored.imageSHA256)
        #expect(recorded.data["launch-measurement"]?["digest"]?.stringValue == digest.hex)
        #expect(recorded.flow["next-firmware"]?["stored"]?["launch-measurement"]?["digest"]?.stringValue == digest.hex)
        #expect(try run.setup.launch(booting: run.flow.firmware, number: 2).launchMeasurement == run.stored.launchMeasurement)
    }

    @Test(arguments: [(MeasurementFixtures.Confidential.snp, SEVMode.snp), (.sevES, .sevES)])
    func aConfidentialGuestsStoredROMRecordsTheDigestOfTheRelaunchOnIt(confidential: MeasurementFixtures.Confidential, mode: SEVMode) async throws {
        let folder = try TestPaths.makeTemporaryDirectory("fw-digest")
        defer { try? FileManager.default.removeItem(at: folder) }
        let image = try MeasurementFixtures.platformROM(MeasurementFixtures.amdSev)
        let run = try await Self.update(confidential, format: .platformROM, image: image, in: folder)

        // Independently: the image as OVMF at 4 GiB, the definition's 2 EPYC-v4 vCPUs (SNP: features 0x1).
        let ovmf = try OVMFImage(bytes: image)
        let parameters = OVMFLaunchParameters(vcpus: 2, signature: try #require(VCPUSignature(cpuType: "EPYC-v4")))
        let expected = mode == .snp ? try LaunchDigest.snp(ovmf: ovmf, parameters) : try LaunchDigest.sevES(ovmf: ovmf, parameters)
        try await Self.expectRecorded(expected, in: run)
        if case .measured(let m)? = run.stored.launchMeasurement { #expect(m.mode == mode) }
        // The image's digest, not the provider's.
        #expect(run.setup.definition.expectedLaunchMeasurement()?.digest != expected)
    }

    @Test func anSNPGuestsStoredIGVMImageRecordsTheDigestInQEMUsOrder() async throws {
        let folder = try TestPaths.makeTemporaryDirectory("fw-digest")
        defer { try? FileManager.default.removeItem(at: folder) }
        let image = try MeasurementFixtures.igvm(MeasurementFixtures.amdSev, vcpus: 2)
        let run = try await Self.update(.snp, format: .igvm, image: image, in: folder)
        let expected = try LaunchDigest.igvm(file: IGVMFile(bytes: image), cpus: 2).qemu
        try await Self.expectRecorded(expected, in: run)
        guard case .measured(let m)? = run.stored.launchMeasurement else { return }
        #expect(m.firmware == .igvm(path: run.stored.imagePath))
    }

    @Test func aStoredROMWithoutSEVMetadataRecordsWhyAndTheGuestIsStillRelaunched() async throws {
        let folder = try TestPaths.makeTemporaryDirectory("fw-digest")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try await Self.update(.snp, format: .platformROM, image: [UInt8](repeating: 0, count: 0x10000), in: folder)
        guard case .unavailable(let reason)? = run.stored.launchMeasurement else {
            Issue.record("expected a reason, got \(String(describing: run.stored.launchMeasurement))")
            return
        }
        #expect(reason.contains("SEV_ES_RESET_BLOCK_GUID"), "\(reason)")
        #expect(await run.host.imageStored?.data["launch-measurement"]?["error"]?.stringValue == reason)
        #expect(await run.host.calls.contains { if case .launched(.guestSupplied(run.stored)) = $0 { true } else { false } })
    }

    @Test func anOrdinaryGuestsStoredImageRecordsNoDigest() async throws {
        let folder = try TestPaths.makeTemporaryDirectory("fw-digest")
        defer { try? FileManager.default.removeItem(at: folder) }
        let image = try MeasurementFixtures.platformROM(MeasurementFixtures.amdSev)
        let run = try await Self.update(.none, format: .platformROM, image: image, in: folder)
        #expect(run.stored.launchMeasurement == nil)
        let recorded = try #require(await run.host.imageStored)
        #expect(recorded.data["sha256"]?.stringValue == run.stored.imageSHA256)
        #expect(recorded.data["launch-measurement"] == nil)
    }

    @Test func statusShowsTheRelaunchDigestNextToTheGuestFirmwaresSHA256() async throws {
        let folder = try TestPaths.makeTemporaryDirectory("fw-digest")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try await Self.update(.snp, format: .platformROM, image: try MeasurementFixtures.platformROM(MeasurementFixtures.amdSev), in: folder)
        let digest = try #require(run.stored.launchMeasurement?.digest)
        var state = VMState(name: "fw", phase: .stopped)
        state.vmfwupdate = run.flow.record
        try state.write(run.stateDirectory.vm("fw").state)
        let status = try IGVMManagerBinary.run(["status", "fw", "--state-dir", run.stateDirectory.path])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("1 update, 1 relaunch, guest firmware sha256 \(run.stored.imageSHA256), launch digest snp \(digest.hex)"),
                "\(status.stdout)")
    }
}
