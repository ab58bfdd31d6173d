import JSON
import ObjectModel
import TestSupport
import Testing

/// The rendered `-machine` and memory backend start a real (TCG) q35 machine, and QEMU reads
/// back the values the model set.
@Suite struct MachineQEMUTests {
    @Test func renderedMachineStartsAndReadsBack() throws {
        let ram = QOMObject.memoryBackendRam(MemoryBackendRam(id: "ram0", backend: .init(size: 64 << 20, prealloc: false)))
        let machine = Machine(type: "q35", accel: "tcg", memoryBackend: "ram0", smm: .off, vmport: .off,
                              dumpGuestCore: false, memMerge: false, usb: false, graphics: false)
        let graph = ObjectGraph(machine: machine, objects: [ram])
        #expect(graph.validate() == [])
        var batch = QMPStdioBatch(machine: machine.commandLineArgument(),
                                  extraArguments: ["-m", "64M", "-object", ram.commandLineArgument()])
        let checks: [(String, JSON)] = [
            // A link property reads back as the object path: QEMU resolved the reference.
            ("memory-backend", "/objects/ram0"), ("smm", "off"), ("vmport", "off"), ("dump-guest-core", false), ("mem-merge", false),
        ]
        let ids = checks.map { batch.add("qom-get", ["path": "/machine", "property": .string($0.0)]) }
        let size = batch.add("qom-get", ["path": "/objects/ram0", "property": "size"])
        let result = try batch.run()
        try #require(result.greeting != nil, "QEMU refused -machine \(machine.commandLineArgument()): \(result.stderr)")
        for ((property, value), id) in zip(checks, ids) {
            #expect(try result.reply(id) == .success(value), "\(property)")
        }
        #expect(try result.reply(size) == .success(.integer(64 << 20)))
    }

    @Test func machineKeyValueRules() throws {
        let parsed = try Machine(commandLine: "q35,confidential-guest-support=sev0,igvm-cfg=igvm0,kernel-irqchip=split,hpet=no")
        #expect(parsed == Machine(type: "q35", confidentialGuestSupport: "sev0", igvmCfg: "igvm0", kernelIrqchip: .split, hpet: false))
        #expect(parsed.commandLineArgument() == "q35,confidential-guest-support=sev0,igvm-cfg=igvm0,kernel-irqchip=split,hpet=off")
        // keyval (-machine) has no short-form booleans, unlike QemuOpts (-object).
        #expect(throws: ObjectSpecError.self) { try Machine(commandLine: "q35,usb") }
        #expect(throws: ObjectSpecError.self) { try Machine(commandLine: "q35,nosuch=1") }
        #expect(try Machine(commandLine: "type=pc,accel=kvm") == Machine(type: "pc", accel: "kvm"))
        #expect(try Machine(commandLine: "q35,usb=on,usb=off").usb == false)
        #expect(try QOMObject(commandLine: "sev-snp-guest,id=s,reduced-phys-bits=1,kernel-hashes") ==
            .sevSnpGuest(SevSnpGuest(id: "s", reducedPhysBits: 1, kernelHashes: true)))
        #expect(try QOMObject(commandLine: "sev-snp-guest,id=s,reduced-phys-bits=1,nokernel-hashes") ==
            .sevSnpGuest(SevSnpGuest(id: "s", reducedPhysBits: 1, kernelHashes: false)))
        #expect(ObjectSpec.validate("sev-snp-guest,id=s,reduced-phys-bits=1,nokernel-hashes").map(\.description) ==
            ["s.kernel-hashes: short-form boolean 'nokernel-hashes' is deprecated in QEMU; write kernel-hashes=off"])
    }

    @Test func deviceForms() throws {
        let device = Device.vmfwupdate(VmfwupdateDevice(id: "fw0", disable: true))
        #expect(device.commandLineArgument() == #"{"driver":"vmfwupdate","id":"fw0","disable":true}"#)
        #expect(device.commandLineArgument(form: .keyValue) == "vmfwupdate,id=fw0,disable=on")
        #expect(try Device(commandLine: "vmfwupdate,disable=off") == .vmfwupdate(VmfwupdateDevice(disable: false)))
        #expect(throws: ObjectSpecError.self) { try Device(commandLine: "virtio-net-pci,id=n0") }
    }
}
