/// A whole VM's machine, objects and devices, with the firmware facts from the rest of its
/// definition: validation adds the rules that span objects.
public struct ObjectGraph: Sendable, Hashable {
    public var machine: Machine?
    public var objects: [QOMObject]
    public var devices: [Device]
    public var firmware: FirmwareFacts

    public init(machine: Machine?, objects: [QOMObject], devices: [Device] = [], firmware: FirmwareFacts = FirmwareFacts()) {
        self.machine = machine
        self.objects = objects
        self.devices = devices
        self.firmware = firmware
    }

    /// Every problem: each object's own, the machine's, then the cross-object rules (unique ids,
    /// references that exist and have the right type, IGVM versus -bios/pflash, unused
    /// confidential objects).
    public func validate() -> [Problem] {
        let facts = effectiveFirmware
        var problems: [Problem] = []
        for object in objects { problems += object.validate(facts: facts) }
        for device in devices { problems += device.validate() }
        problems += duplicateIDs(objects.map(\.id), namespace: "object")
        problems += duplicateIDs(devices.compactMap(\.id), namespace: "device")
        if let machine {
            problems += machine.validate()
            problems += references(of: machine)
            problems += igvmConflicts(machine, facts)
        }
        problems += unusedConfidentialObjects()
        return problems
    }

    /// `firmware` completed with what the machine itself says (`firmware=` is `-bios`,
    /// `pflash0/1`, `kernel`).
    var effectiveFirmware: FirmwareFacts {
        var facts = firmware
        if let machine {
            if facts.bios == nil { facts.bios = machine.firmware }
            facts.pflashDrives += [machine.pflash0, machine.pflash1].compactMap { $0 }.count
            if machine.kernel != nil { facts.directKernel = true }
        }
        return facts
    }

    func duplicateIDs(_ ids: [String], namespace: String) -> [Problem] {
        var seen: Set<String> = []
        var reported: Set<String> = []
        var problems: [Problem] = []
        for id in ids where !seen.insert(id).inserted && reported.insert(id).inserted {
            problems.append(Problem(.qemu, object: id, property: "id",
                "more than one \(namespace) has this id (QEMU: duplicate ID)"))
        }
        return problems
    }

    func object(_ id: String) -> QOMObject? { objects.first { $0.id == id } }

    func references(of machine: Machine) -> [Problem] {
        var problems: [Problem] = []
        func check(_ property: String, _ id: String?, expected: String, _ accepts: (QOMObject) -> Bool) {
            guard let id else { return }
            guard let target = object(id) else {
                problems.append(Problem(.qemu, object: Machine.problemName, property: property,
                    "no object with id '\(id)'"))
                return
            }
            if !accepts(target) {
                problems.append(Problem(.qemu, object: Machine.problemName, property: property,
                    "'\(id)' is a \(target.qomType), expected \(expected)"))
            }
        }
        check("confidential-guest-support", machine.confidentialGuestSupport,
              expected: "sev-guest, sev-snp-guest or nocc", \.isConfidentialGuestSupport)
        check("igvm-cfg", machine.igvmCfg, expected: "an igvm-cfg") {
            if case .igvmCfg = $0 { return true } else { return false }
        }
        check("memory-backend", machine.memoryBackend, expected: "a memory-backend-*", \.isMemoryBackend)
        return problems
    }

    func igvmConflicts(_ machine: Machine, _ facts: FirmwareFacts) -> [Problem] {
        guard machine.igvmCfg != nil else { return [] }
        var problems: [Problem] = []
        if let bios = facts.bios {
            // QEMU's IGVM documentation calls this an error, but QEMU 10.2.2 accepts it and
            // boots the IGVM file: the BIOS would be silently ignored.
            problems.append(Problem(.qemu, object: Machine.problemName, property: "igvm-cfg",
                "set together with -bios '\(bios)': QEMU 10.2.2 silently ignores -bios when booting IGVM (its documentation calls this an error); remove one"))
        }
        if facts.pflashDrives > 0 {
            problems.append(Problem(.qemu, object: Machine.problemName, property: "igvm-cfg",
                "set together with \(facts.pflashDrives) pflash drive\(facts.pflashDrives == 1 ? "" : "s"): IGVM replaces the firmware, pflash is an error"))
        }
        return problems
    }

    func unusedConfidentialObjects() -> [Problem] {
        let used = machine?.confidentialGuestSupport
        return objects.filter { $0.isConfidentialGuestSupport && $0.id != used }.map {
            Problem(.warning, object: $0.id, property: nil,
                "\($0.qomType) is not used: -machine confidential-guest-support does not name it")
        }
    }
}
