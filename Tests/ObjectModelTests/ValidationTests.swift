import JSON
import ObjectModel
import Testing

/// Launch-level rules, warnings and the rules that span objects.
@Suite struct ValidationTests {
    static let idAuth = Base64Table.encoded(4096)

    func snp(_ policy: UInt64? = nil, idBlock: [UInt8]? = nil, idAuth: String? = nil, authorKey: Bool? = nil,
             kernelHashes: Bool? = nil) -> SevSnpGuest {
        SevSnpGuest(id: "sev0", reducedPhysBits: 1, kernelHashes: kernelHashes, policy: policy.map(SNPPolicy.init(rawValue:)),
                    idBlock: idBlock.map(QEMUBase64.encode), idAuth: idAuth, authorKeyEnabled: authorKey)
    }

    func lines(_ problems: [Problem]) -> [String] { problems.map { "\($0.level.rawValue) \($0)" } }

    @Test func defaultsAreValid() {
        #expect(snp().validate() == [])
        #expect(SevGuest(id: "g", reducedPhysBits: 1).validate() == [])
        #expect(snp(0x30000).effectivePolicy == snp().effectivePolicy)
    }

    /// (policy, the one problem expected, level)
    static let policyRules: [(UInt64, String, Problem.Level)] = [
        (0x10000, "sev0.policy: 0x10000: bit 17 is reserved and must be 1 (SNP_LAUNCH_START fails)", .launch),
        (0x30000 | 1 << 26, "sev0.policy: 0x4030000: bits 63:26 must be zero (set: 0x4000000)", .launch),
        (0x30000 | 1 << 63, "sev0.policy: 0x8000000000030000: bits 63:26 must be zero (set: 0x8000000000000000)", .launch),
        (0x70000, "sev0.policy: 0x70000: MIGRATE_MA (bit 18) is set, which KVM rejects", .launch),
        (0xB0000, "sev0.policy: 0xb0000: DEBUG (bit 19) is set, so the host may debug (read) guest memory", .warning),
    ]

    @Test(arguments: policyRules)
    func policyRule(_ policy: UInt64, _ expected: String, _ level: Problem.Level) {
        let problems = snp(policy).validate()
        #expect(problems.map(\.description) == [expected])
        #expect(problems.first?.level == level)
    }

    @Test func everyPolicyProblemAtOnce() {
        // bit 17 clear, bit 40, MIGRATE_MA, DEBUG: four problems, one call.
        let problems = snp(1 << 40 | 1 << 18 | 1 << 19).validate()
        #expect(problems.map(\.level) == [.launch, .launch, .launch, .warning])
        #expect(!problems.isValid)
    }

    @Test func namedPolicyBits() {
        var policy = SNPPolicy.qemuDefault
        policy.insert(.singleSocket)
        policy.abiMajor = 1
        policy.abiMinor = 0x55
        #expect(policy.description == "0x130155")
        #expect(SNPPolicy(hex: "0x130155") == policy)
        #expect(SNPPolicy(hex: "130155") == policy)
        #expect(SNPPolicy(hex: "0xZZ") == nil)
        #expect(SNPPolicy(hex: "") == nil)
        #expect(policy.contains(.smt) && policy.contains(.reservedMustBeOne) && !policy.contains(.debug))
        #expect(SNPPolicy.namedFlags.map(\.flag.rawValue) == (16...25).map { UInt64(1) << $0 })
        var legacy = SEVPolicy(rawValue: 0x5)
        #expect(SevGuest(id: "g", reducedPhysBits: 1, policy: legacy).isSevES)
        #expect(!SevGuest(id: "g", reducedPhysBits: 1).isSevES)
        legacy.apiMajor = 2
        #expect(legacy.description == "0x20005")
        #expect(SEVPolicy(hex: "0x100000000") == nil)
    }

    @Test func idBlockFieldsAreChecked() {
        let good = SevObjectTable.idBlock(version: 1, policy: 0x30000)
        #expect(snp(idBlock: good, idAuth: Self.idAuth).validate() == [])
        let badVersion = snp(idBlock: SevObjectTable.idBlock(version: 2, policy: 0x30000), idAuth: Self.idAuth).validate()
        #expect(lines(badVersion) == ["launch sev0.id-block: VERSION (offset 0x50) is 2, the firmware accepts only 1"])
        // The ID block's POLICY must equal the launch policy (default 0x30000 when unset).
        let badPolicy = snp(0x30000 | 1 << 20, idBlock: good, idAuth: Self.idAuth).validate()
        #expect(lines(badPolicy) == ["launch sev0.id-block: POLICY (offset 0x58) is 0x30000 but the guest policy is 0x130000: the firmware rejects the launch"])
    }

    @Test func idBlockAndIdAuthGoTogether() {
        let block = SevObjectTable.idBlock(version: 1, policy: 0x30000)
        #expect(lines(snp(idBlock: block).validate()) == [
            "launch sev0.id-block: set without id-auth: the firmware needs the ID authentication structure that signs the ID block"])
        #expect(lines(snp(idAuth: Self.idAuth).validate()) == [
            "launch sev0.id-auth: set without id-block: there is no ID block for it to authenticate"])
        #expect(lines(snp(authorKey: true).validate()) == [
            "launch sev0.author-key-enabled: on without id-auth: the author key lives in the ID authentication structure"])
        #expect(snp(idBlock: block, idAuth: Self.idAuth, authorKey: true).validate() == [])
    }

    @Test func shortIdAuthIsALaunchError() {
        let problems = snp(idBlock: SevObjectTable.idBlock(version: 1, policy: 0x30000), idAuth: Base64Table.encoded(4095)).validate()
        #expect(lines(problems) == [
            "launch sev0.id-auth: decodes to 4095 bytes: QEMU accepts up to 4096, but the firmware reads a full 4096-byte ID authentication structure"])
    }

    @Test func kernelHashesWithoutKernel() {
        #expect(lines(snp(kernelHashes: true).validate(facts: FirmwareFacts(directKernel: false))) == [
            "warning sev0.kernel-hashes: on, but no kernel is booted directly (-kernel): there is nothing to hash"])
        #expect(snp(kernelHashes: true).validate(facts: FirmwareFacts(directKernel: true)) == [])
        // Unknown: no warning.
        #expect(snp(kernelHashes: true).validate() == [])
    }

    @Test func sevDebugPolicyWarns() {
        let problems = SevGuest(id: "g", reducedPhysBits: 1, policy: SEVPolicy(rawValue: 0x4)).validate()
        #expect(lines(problems) == ["warning g.policy: 0x4: NODBG (bit 0) is clear, so the host may debug (read) guest memory"])
        #expect(problems.isValid)
    }

    @Test func singleSpecValidationReportsEverything() {
        let problems = ObjectSpec.validate("sev-snp-guest,id=9x,cbitpos=-1,policy=0x10000,host-data=abc,nosuch=1")
        #expect(lines(problems) == [
            "qemu 9x.cbitpos: expected an unsigned integer (decimal, 0x hex or 0 octal), got '-1'",
            "qemu 9x.nosuch: sev-snp-guest has no property 'nosuch'",
            "qemu 9x.id: '9x' is not a valid QEMU id (a letter first, then letters, digits, '-', '.', '_')",
            "qemu 9x.reduced-phys-bits: missing: QEMU requires it (mandatory in QAPI SevCommonProperties)",
            "qemu 9x.host-data: decodes to 0 bytes, must be 32",
            "launch 9x.policy: 0x10000: bit 17 is reserved and must be 1 (SNP_LAUNCH_START fails)",
        ])
        #expect(lines(ObjectSpec.validate("nosuch-type,id=a")) == [
            "qemu a.qom-type: 'nosuch-type' is not a type igvm-mgr models (sev-snp-guest, sev-guest, igvm-cfg, nocc, memory-backend-ram, memory-backend-memfd, memory-backend-file)"])
        #expect(lines(ObjectSpec.validate("{\"qom-type\": 1")).count == 1)
        #expect(ObjectSpec.validate(#"{"qom-type":"sev-guest","id":"g0","reduced-phys-bits":1}"#) == [])
    }

    // MARK: cross-object rules

    static let sev = QOMObject.sevSnpGuest(SevSnpGuest(id: "sev0", reducedPhysBits: 1))
    static let igvm = QOMObject.igvmCfg(IgvmCfg(id: "igvm0", file: "/tmp/guest.igvm"))
    static let ram = QOMObject.memoryBackendMemfd(MemoryBackendMemfd(id: "ram0", backend: .init(size: 1 << 30)))

    @Test func goodGraph() {
        let graph = ObjectGraph(machine: Machine(type: "q35", confidentialGuestSupport: "sev0", igvmCfg: "igvm0", memoryBackend: "ram0"),
                                objects: [Self.sev, Self.igvm, Self.ram], devices: [.vmfwupdate(VmfwupdateDevice(id: "fw0"))])
        #expect(graph.validate() == [])
    }

    @Test func referencesMustExistAndHaveTheRightType() {
        let graph = ObjectGraph(machine: Machine(type: "q35", confidentialGuestSupport: "ram0", igvmCfg: "nothere", memoryBackend: "sev0"),
                                objects: [Self.sev, Self.ram])
        #expect(lines(graph.validate()) == [
            "qemu machine.confidential-guest-support: 'ram0' is a memory-backend-memfd, expected sev-guest, sev-snp-guest or nocc",
            "qemu machine.igvm-cfg: no object with id 'nothere'",
            "qemu machine.memory-backend: 'sev0' is a sev-snp-guest, expected a memory-backend-*",
            "warning sev0: sev-snp-guest is not used: -machine confidential-guest-support does not name it",
        ])
    }

    @Test func igvmWithBiosOrPflash() {
        let machine = Machine(type: "q35", confidentialGuestSupport: "sev0", igvmCfg: "igvm0")
        let withBios = ObjectGraph(machine: machine, objects: [Self.sev, Self.igvm], firmware: FirmwareFacts(bios: "/usr/share/OVMF/OVMF.fd"))
        #expect(lines(withBios.validate()) == [
            "qemu machine.igvm-cfg: set together with -bios '/usr/share/OVMF/OVMF.fd': QEMU 10.2.2 silently ignores -bios when booting IGVM (its documentation calls this an error); remove one"])
        var viaMachine = machine
        viaMachine.pflash0 = "code"
        let withPflash = ObjectGraph(machine: viaMachine, objects: [Self.sev, Self.igvm])
        #expect(lines(withPflash.validate()) == [
            "qemu machine.igvm-cfg: set together with 1 pflash drive: IGVM replaces the firmware, pflash is an error"])
        // Without IGVM, -bios is fine.
        #expect(ObjectGraph(machine: Machine(type: "q35", confidentialGuestSupport: "sev0"), objects: [Self.sev],
                            firmware: FirmwareFacts(bios: "/x.fd")).validate() == [])
    }

    @Test func idsAreUniqueAndWellFormed() {
        let a = QOMObject.nocc(NoCC(id: "dup")), b = QOMObject.igvmCfg(IgvmCfg(id: "dup", file: "f"))
        let graph = ObjectGraph(machine: Machine(type: "q35"), objects: [a, b, .nocc(NoCC(id: "_x"))],
                                devices: [.vmfwupdate(VmfwupdateDevice(id: "d")), .vmfwupdate(VmfwupdateDevice(id: "d"))])
        #expect(lines(graph.validate()) == [
            "qemu _x.id: '_x' is not a valid QEMU id (a letter first, then letters, digits, '-', '.', '_')",
            "qemu dup.id: more than one object has this id (QEMU: duplicate ID)",
            "qemu d.id: more than one device has this id (QEMU: duplicate ID)",
            "warning dup: nocc is not used: -machine confidential-guest-support does not name it",
            "warning _x: nocc is not used: -machine confidential-guest-support does not name it",
        ])
        for (id, ok) in [("a", true), ("a1.b-c_d", true), ("1a", false), ("", false), ("é", false), ("a b", false), ("A", true)] {
            #expect(IDRules.isWellFormed(id) == ok, "\(id)")
        }
    }

    @Test func igvmCfgOnlyOnPCMachines() {
        let graph = ObjectGraph(machine: Machine(type: "microvm", igvmCfg: "igvm0"), objects: [Self.igvm])
        #expect(lines(graph.validate()) == [
            "qemu machine.igvm-cfg: machine type 'microvm' has no igvm-cfg property (only the PC machines pc and q35 do)"])
    }

    @Test func memoryBackendsNeedSizeAndPath() throws {
        #expect(lines(QOMObject.memoryBackendFile(MemoryBackendFile(id: "m")).validate()) == [
            "qemu m.size: missing: a memory backend needs a size",
            "qemu m.mem-path: missing: memory-backend-file needs a path"])
        var ram = MemoryBackendRam(id: "r")
        ram.size = 0
        #expect(lines(QOMObject.memoryBackendRam(ram).validate()) == ["qemu r.size: 0: QEMU cannot create a backend of size 0"])
        #expect(try QOMObject(commandLine: "memory-backend-ram,id=r,size=2G") == .memoryBackendRam(MemoryBackendRam(id: "r", backend: .init(size: 2 << 30))))
    }

    @Test func problemsAreOneLine() {
        let p = Problem(.qemu, object: "o", property: "p", "a\nb")
        #expect(p.description == "o.p: a b")
        #expect(p.jsonValue == ["level": "qemu", "object": "o", "property": "p", "message": "a b"])
        #expect(Problem(.warning, object: "o", property: nil, "m").jsonValue["property"] == .null)
    }
}

@Suite struct UnmodelledPropertyTests {
    @Test func realButUnmodelledPropertyIsNamedAsSuch() {
        let problems = ObjectSpec.validate("memory-backend-ram,id=r,size=1M,host-nodes=0,bogus=1")
        #expect(problems.map(\.description) == [
            "r.host-nodes: QEMU's memory-backend-ram has this property, but igvm-mgr does not model it",
            "r.bogus: memory-backend-ram has no property 'bogus'",
        ])
    }
}
