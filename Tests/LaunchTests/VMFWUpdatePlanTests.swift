import Foundation
import Testing
import TestSupport
@testable import Launch

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
            "name=opt/org.igvm-mgr/vmfwupdate/capabilities,file=/state/vm/fw-cfg-capabilities",
            "name=opt/org.igvm-mgr/vmfwupdate/fw-rom-size,file=/state/vm/fw-cfg-fw-rom-size",
            "name=opt/org.igvm-mgr/vmfwupdate/opaque,file=/state/vm/firmware/cd.opaque",
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
