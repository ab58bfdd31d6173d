import Foundation
import IGVM
import JSON
import Measure
import QMP
import Testing
import TestSupport
@testable import Definition
@testable import Capabilities
@testable import Launch
@testable import VMState
@testable import FirmwareUpdate

/// Whether IGVM images are offered follows the binary's probe at `start` (its `igvm-cfg`), kept in
/// the plan for the supervisor, and the relaunch on a stored IGVM image uses `igvm-cfg`, no
/// `-bios`. Asserted without QEMU: Debian's QEMU 10.0 cannot load IGVM.
@Suite struct VMFWUpdateIGVMPlanTests {
    /// A probe result as `QEMUProbe` records it for q35, with or without `igvm-cfg`.
    static func capabilities(igvmCfg: Bool, version: String = "10.2.0") -> QEMUCapabilities {
        var machine = [QOMPropertyInfo(name: "memory-backend", type: "link<memory-backend>")]
        if igvmCfg { machine.append(QOMPropertyInfo(name: "igvm-cfg", type: "link<igvm-cfg>")) }
        return QEMUCapabilities(
            binary: QEMUBinaryIdentity(path: "/opt/qemu/bin/qemu-system-x86_64", size: 1, modificationTimeNanoseconds: 1),
            version: QEMUVersion(version)!, types: igvmCfg ? ["igvm-cfg"] : [], creatableTypes: igvmCfg ? ["igvm-cfg"] : [],
            objectProperties: igvmCfg ? ["igvm-cfg": [QOMPropertyInfo(name: "file", type: "str")]] : [:],
            deviceProperties: [:], machineProperties: ["q35": machine], schema: QMPSchema(entries: []))
    }

    static func probe(igvmCfg: Bool, version: String = "10.2.0") -> IGVMLoaderProbe {
        IGVMLoaderProbe(capabilities: capabilities(igvmCfg: igvmCfg, version: version), machine: "q35")
    }

    /// An ordinary q35 guest booting a 64 KiB provider ROM with the interface on; `qemu.version`
    /// as given (the fixture's "10.2.2" when nil).
    static func definition(in folder: URL, version: String? = nil) throws -> VMDefinition {
        try Data(count: 0x10000).write(to: folder.appendingPathComponent("provider.rom"))
        let path = try MeasurementFixtures.writeDefinition(
            "fw", in: folder, confidential: .none, firmware: "[firmware]\nbios = \"provider.rom\"",
            extra: "[vmfwupdate]\nenabled = true\nmailbox = \"0x9000\"")
        if let version {
            let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "version = \"10.2.2\"", with: "version = \"\(version)\"")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return try VMDefinition.load(path: path)
    }

    static func values(of option: String, in argv: [String]) -> [String] {
        zip(argv, argv.dropFirst()).filter { $0.0 == option }.map(\.1)
    }

    @Test func theProbeOfAnIGVMCfgDecidesTheOfferNotQEMUVersion() throws {
        let folder = try TestPaths.makeTemporaryDirectory("fw-igvm-offer")
        defer { try? FileManager.default.removeItem(at: folder) }
        // qemu.version says 10.2.2, the binary has no igvm-cfg: no IGVM.
        let declared = try Self.definition(in: folder)
        let without = try #require(try VMFWUpdateSetup(definition: declared, name: nil, vmFolder: folder.path, igvmLoader: Self.probe(igvmCfg: false)))
        #expect(without.offer.formats == [.platformROM])
        #expect(without.imageCheck == nil)
        #expect(!without.initialMailbox.capabilities.contains(.formatIGVM))
        // qemu.version says 10.0.2, the binary has igvm-cfg: IGVM, checked as the probed QEMU.
        let old = try Self.definition(in: folder, version: "10.0.2")
        let with = try #require(try VMFWUpdateSetup(definition: old, name: nil, vmFolder: folder.path, igvmLoader: Self.probe(igvmCfg: true)))
        #expect(with.offer.formats == [.platformROM, .igvm])
        #expect(with.initialMailbox.capabilities.contains(.formatIGVM))
        #expect(with.imageCheck?.qemuVersion == QEMUVersion("10.2.0"))
        #expect(with.imageCheck?.platform == .native)
        // No probe (validate, args): the declared qemu.version stands in.
        #expect(try VMFWUpdateSetup(definition: declared, name: nil, vmFolder: folder.path)?.offer.formats.contains(.igvm) == true)
        #expect(try VMFWUpdateSetup(definition: old, name: nil, vmFolder: folder.path)?.offer.formats.contains(.igvm) == false)
    }

    @Test func igvmCfgWithoutTheMachineLinkIsNoLoader() {
        var caps = Self.capabilities(igvmCfg: true)
        caps.machineProperties["q35"] = [QOMPropertyInfo(name: "memory-backend", type: "link<memory-backend>")]
        #expect(!IGVMLoaderProbe(capabilities: caps, machine: "q35").hasIGVMCfg)
        // A machine the probe did not record is left to QEMU, like LaunchCapabilityCheck does.
        #expect(IGVMLoaderProbe(capabilities: caps, machine: "pc-q35-10.2").hasIGVMCfg)
        // A development build reporting the previous release still has the loader it probed.
        #expect(Self.probe(igvmCfg: true, version: "10.0.50").checkedVersion == QEMUVersion.igvmSupport)
    }

    /// What `start` decided travels in plan.json: the supervisor's setup, built from the plan
    /// alone, offers exactly that, whatever `qemu.version` says.
    @Test(arguments: [true, false])
    func theSupervisorOffersWhatStartDecided(igvmCfg: Bool) throws {
        let folder = try TestPaths.makeTemporaryDirectory("fw-igvm-plan")
        defer { try? FileManager.default.removeItem(at: folder) }
        let definition = try Self.definition(in: folder, version: igvmCfg ? "10.0.2" : "10.2.2")
        let launch = try QEMULaunch.forStart(definition: definition, name: nil, vmFolder: { _ in folder.path }, writeFiles: false,
                                             igvmLoader: Self.probe(igvmCfg: igvmCfg))
        let planJSON = try JSON.decode(try launch.json.encoded(pretty: true))
        #expect(planJSON["reset-flow"]?["igvm-loader"] == ["igvm-cfg": .bool(igvmCfg), "qemu-version": "10.2.0"])
        let setup = try #require(try VMFWUpdateSetup.forPlan(try QEMULaunch(json: planJSON), vmFolder: folder.path))
        #expect(setup.offer.formats.contains(.igvm) == igvmCfg)
        #expect(setup.igvmLoader == Self.probe(igvmCfg: igvmCfg))
        // Every later instance of the supervisor's carries it on.
        #expect(try setup.launch(booting: .provider, number: 2, writeFiles: false).resetFlow?.igvmLoader == Self.probe(igvmCfg: igvmCfg))
    }

    @Test func theRelaunchOnAStoredIGVMImageUsesIgvmCfgAndNoBios() throws {
        let folder = try TestPaths.makeTemporaryDirectory("fw-igvm-argv")
        defer { try? FileManager.default.removeItem(at: folder) }
        let setup = try #require(try VMFWUpdateSetup(definition: try Self.definition(in: folder), name: nil, vmFolder: folder.path,
                                                     igvmLoader: Self.probe(igvmCfg: true)))
        let stored = StoredFirmware(format: .igvm, imagePath: folder.path + "/vmfwupdate/images/ef.igvm", imageSHA256: "ef", imageSize: 8776,
                                    opaquePath: folder.path + "/vmfwupdate/images/cd.opaque", opaqueSHA256: "cd")
        let first = try setup.launch(booting: .provider, number: 1, writeFiles: false, objectForm: .keyValue)
        let relaunch = try setup.launch(booting: .guestSupplied(stored), number: 2, writeFiles: false, objectForm: .keyValue)
        #expect(Self.values(of: "-bios", in: first.arguments) == [folder.path + "/provider.rom"])
        #expect(Self.values(of: "-bios", in: relaunch.arguments).isEmpty)
        #expect(Self.values(of: "-object", in: relaunch.arguments).contains("igvm-cfg,id=igvm-fw2,file=\(stored.imagePath)"),
                "\(relaunch.arguments)")
        let machine = Self.values(of: "-machine", in: relaunch.arguments)
        #expect(machine.count == 1 && machine[0].contains("igvm-cfg=igvm-fw2") && machine[0].contains("memory-backend=igvm-mgr-ram"), "\(machine)")
        // Guest RAM stays the file the first instance mapped; the opaque blob is the fw-cfg file.
        #expect(Self.values(of: "-object", in: relaunch.arguments).contains { $0.hasPrefix("memory-backend-file,") && $0.contains("share=on") })
        #expect(Self.values(of: "-fw_cfg", in: relaunch.arguments).contains("name=etc/vmfwupdate/opaque-blob,file=\(stored.opaquePath!)"))
        #expect(relaunch.firmware == stored.imagePath)
        #expect(relaunch.launchMeasurement == nil)  // an ordinary guest
    }

    /// An SNP guest's IGVM update as `start` would set it up (the probe's igvm-cfg, its config
    /// naming no qemu.version): what the flow stores and records in `state.json`, and the digest
    /// of the relaunch, which QEMU and KVM measure from the IGVM file.
    @Test func theStoredStateOfAnSNPGuestsIGVMUpdate() async throws {
        let folder = try TestPaths.makeTemporaryDirectory("fw-igvm-state")
        defer { try? FileManager.default.removeItem(at: folder) }
        let image = try MeasurementFixtures.igvm(MeasurementFixtures.amdSev, vcpus: 2)
        let run = try await VMFWUpdatePlanTests.update(.snp, format: .igvm, image: image, in: folder, igvmLoader: Self.probe(igvmCfg: true))
        #expect(run.setup.offer.formats.contains(.igvm))
        #expect(run.stored.format == .igvm)
        #expect(run.stored.imagePath.hasSuffix("/\(run.stored.imageSHA256).igvm"))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: run.stored.imagePath))) == image)
        let expected = try LaunchDigest.igvm(file: IGVMFile(bytes: image), cpus: 2).qemu
        try await VMFWUpdatePlanTests.expectRecorded(expected, in: run)

        // state.json: the record as written and read back by `status`.
        var state = VMState(name: "fw", phase: .running)
        state.vmfwupdate = run.flow.record
        try state.write(run.stateDirectory.vm("fw").state)
        let read = try #require(try VMState.read(run.stateDirectory.vm("fw").state))
        #expect(read.vmfwupdate == run.flow.record)
        guard case .guestSupplied(let recorded)? = read.vmfwupdate?.nextFirmware ?? read.vmfwupdate?.firmware else {
            Issue.record("no guest firmware in \(String(describing: read.vmfwupdate))")
            return
        }
        #expect(recorded.format == .igvm)
        #expect(recorded.bootSource == .igvm(file: run.stored.imagePath))
        #expect(recorded.launchMeasurement?.digest == expected)

        // The relaunch: the same sev-snp-guest, the image through igvm-cfg, no -bios.
        let relaunch = try run.setup.launch(booting: run.flow.firmware, number: 2, writeFiles: false, objectForm: .keyValue)
        #expect(Self.values(of: "-bios", in: relaunch.arguments).isEmpty)
        #expect(Self.values(of: "-object", in: relaunch.arguments).contains("igvm-cfg,id=igvm-fw2,file=\(run.stored.imagePath)"))
        #expect(Self.values(of: "-object", in: relaunch.arguments).contains { $0.hasPrefix("sev-snp-guest,") })
        #expect(relaunch.launchMeasurement?.digest == expected)
    }
}
