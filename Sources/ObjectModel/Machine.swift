import JSON

/// `kernel-irqchip` of `-machine`: on, off or split.
public enum KernelIrqchip: String, Sendable, Hashable, CaseIterable {
    case on, off, split
}

/// `-machine TYPE,…`: the machine type and the properties a confidential VM uses.
///
/// QEMU's `-machine` has no JSON form (QEMU 10.0 reads `-machine {"type":…}` as keyval and fails),
/// so it renders as key=value only, with `,,` escaping; parsing accepts the JSON form too, as a
/// convenience for configuration files.
public struct Machine: Sendable, Hashable {
    /// The machine type (`q35`, `pc`, `pc-q35-10.0`, `none`, …): the implied first word.
    public var type: String
    /// `accel` (`kvm`, `tcg`, `kvm:tcg`).
    public var accel: String?
    /// `confidential-guest-support`: the id of a `sev-guest`, `sev-snp-guest` or `nocc` object.
    public var confidentialGuestSupport: String?
    /// `igvm-cfg`: the id of an `igvm-cfg` object (PC machines, QEMU ≥ 10.1).
    public var igvmCfg: String?
    /// `memory-backend`: the id of the memory backend for guest RAM.
    public var memoryBackend: String?
    /// `kernel-irqchip`.
    public var kernelIrqchip: KernelIrqchip?
    /// `smm`.
    public var smm: OnOffAuto?
    /// `vmport`.
    public var vmport: OnOffAuto?
    /// `hpet`.
    public var hpet: Bool?
    /// `dump-guest-core`.
    public var dumpGuestCore: Bool?
    /// `mem-merge`.
    public var memMerge: Bool?
    /// `usb`.
    public var usb: Bool?
    /// `graphics`.
    public var graphics: Bool?
    /// `firmware`: what `-bios FILE` sets.
    public var firmware: String?
    /// `pflash0`, `pflash1`: block node names of the flash drives.
    public var pflash0: String?
    public var pflash1: String?
    /// `kernel`, `initrd`, `append`: what `-kernel`, `-initrd`, `-append` set.
    public var kernel: String?
    public var initrd: String?
    public var append: String?

    public init(type: String, accel: String? = nil, confidentialGuestSupport: String? = nil, igvmCfg: String? = nil,
                memoryBackend: String? = nil, kernelIrqchip: KernelIrqchip? = nil, smm: OnOffAuto? = nil,
                vmport: OnOffAuto? = nil, hpet: Bool? = nil, dumpGuestCore: Bool? = nil, memMerge: Bool? = nil,
                usb: Bool? = nil, graphics: Bool? = nil, firmware: String? = nil, pflash0: String? = nil,
                pflash1: String? = nil, kernel: String? = nil, initrd: String? = nil, append: String? = nil) {
        self.type = type
        self.accel = accel
        self.confidentialGuestSupport = confidentialGuestSupport
        self.igvmCfg = igvmCfg
        self.memoryBackend = memoryBackend
        self.kernelIrqchip = kernelIrqchip
        self.smm = smm
        self.vmport = vmport
        self.hpet = hpet
        self.dumpGuestCore = dumpGuestCore
        self.memMerge = memMerge
        self.usb = usb
        self.graphics = graphics
        self.firmware = firmware
        self.pflash0 = pflash0
        self.pflash1 = pflash1
        self.kernel = kernel
        self.initrd = initrd
        self.append = append
    }

    /// The name problems are reported under.
    public static let problemName = "machine"

    /// The properties that are set (not `type`), typed.
    public var properties: JSONObject {
        var p = JSONObject()
        p["accel"] = accel.map { JSON($0) }
        p["confidential-guest-support"] = confidentialGuestSupport.map { JSON($0) }
        p["igvm-cfg"] = igvmCfg.map { JSON($0) }
        p["memory-backend"] = memoryBackend.map { JSON($0) }
        p["kernel-irqchip"] = kernelIrqchip.map { JSON($0.rawValue) }
        p["smm"] = smm.map { JSON($0.rawValue) }
        p["vmport"] = vmport.map { JSON($0.rawValue) }
        p["hpet"] = hpet.map { JSON($0) }
        p["dump-guest-core"] = dumpGuestCore.map { JSON($0) }
        p["mem-merge"] = memMerge.map { JSON($0) }
        p["usb"] = usb.map { JSON($0) }
        p["graphics"] = graphics.map { JSON($0) }
        p["firmware"] = firmware.map { JSON($0) }
        p["pflash0"] = pflash0.map { JSON($0) }
        p["pflash1"] = pflash1.map { JSON($0) }
        p["kernel"] = kernel.map { JSON($0) }
        p["initrd"] = initrd.map { JSON($0) }
        p["append"] = append.map { JSON($0) }
        return p
    }

    init(type: String, reading r: inout PropertyReader) {
        self.init(type: type)
        accel = r.string("accel")
        confidentialGuestSupport = r.string("confidential-guest-support")
        igvmCfg = r.string("igvm-cfg")
        memoryBackend = r.string("memory-backend")
        kernelIrqchip = r.enumeration("kernel-irqchip", as: KernelIrqchip.self)
        smm = r.enumeration("smm", as: OnOffAuto.self)
        vmport = r.enumeration("vmport", as: OnOffAuto.self)
        hpet = r.bool("hpet")
        dumpGuestCore = r.bool("dump-guest-core")
        memMerge = r.bool("mem-merge")
        usb = r.bool("usb")
        graphics = r.bool("graphics")
        firmware = r.string("firmware")
        pflash0 = r.string("pflash0")
        pflash1 = r.string("pflash1")
        kernel = r.string("kernel")
        initrd = r.string("initrd")
        append = r.string("append")
    }

    /// The value of the `-machine` argument: `q35,confidential-guest-support=sev0,…`.
    public func commandLineArgument() -> String {
        KeyValueSyntax.render(implied: ("type", type), PropertyText.pairs(properties, hex: []))
    }

    /// Reads a `-machine` value (key=value as QEMU's keyval parser, or the JSON form).
    public init(commandLine spec: String) throws(ObjectSpecError) {
        let inputs = try CommandLineSpec.inputs(spec, impliedKey: "type", allowShortFormBooleans: false, object: Self.problemName)
        var reader = PropertyReader(object: Self.problemName, properties: inputs)
        guard let type = reader.string("type") else {
            let problems = reader.problems.isEmpty
                ? [Problem(.qemu, object: Self.problemName, property: "type", "missing")] : reader.problems
            throw ObjectSpecError(problems: problems)
        }
        self.init(type: type, reading: &reader)
        let problems = reader.finish(type: "the machine")
        guard problems.isEmpty else { throw ObjectSpecError(problems: problems) }
    }

    /// The machine's own problems (references are checked by `ObjectGraph`).
    public func validate() -> [Problem] {
        var problems: [Problem] = []
        if type.isEmpty {
            problems.append(Problem(.qemu, object: Self.problemName, property: "type", "empty machine type"))
        }
        if igvmCfg != nil, !isPC {
            problems.append(Problem(.qemu, object: Self.problemName, property: "igvm-cfg",
                "machine type '\(type)' has no igvm-cfg property (only the PC machines pc and q35 do)"))
        }
        return problems
    }

    /// Whether the type is an x86 PC machine (`pc`, `q35`, `pc-i440fx-*`, `pc-q35-*`).
    public var isPC: Bool { type == "pc" || type == "q35" || type.hasPrefix("pc-") }
}
