import JSON

/// `-device vmfwupdate`: the guest-driven firmware update device of the qemu-devel patch
/// "[PATCH v6] hw/misc/vmfwupdate: Introduce hypervisor fw-cfg interface support" (February 2025;
/// never merged, so not in upstream QEMU). See docs/background.md, "vmfwupdate".
public struct VmfwupdateDevice: Sendable, Hashable {
    public static let driver = "vmfwupdate"
    public var id: String?
    /// `disable`: start with the interface disabled. In the v6 patch this is a uint8 property and,
    /// when set, the device adds none of its fw-cfg files (`hw/misc/vmfwupdate.c`,
    /// `vmfwupdate_realize()`), which is stronger than the guest writing `etc/vmfwupdate/disable`.
    public var disable: Bool?

    public init(id: String? = nil, disable: Bool? = nil) {
        self.id = id
        self.disable = disable
    }
}

/// A guest-facing device the launch plan builds from a definition (a disk, a NIC, vsock):
/// driver, id and properties typed as QEMU's JSON `-device` reads them (booleans as booleans,
/// OnOffAuto as `"on"`).
public struct GuestDevice: Sendable, Hashable {
    public var driver: String
    public var id: String
    public var properties: JSONObject

    public init(driver: String, id: String, properties: JSONObject = JSONObject()) {
        self.driver = driver
        self.id = id
        self.properties = properties
    }

    /// virtio-pci devices: the ones `iommu_platform` and `disable-legacy` apply to.
    public var isVirtioPCI: Bool { driver.hasPrefix("virtio-") && driver.hasSuffix("-pci") || driver.hasPrefix("vhost-") && driver.hasSuffix("-pci") }
}

/// A `-device` igvm-mgr models.
public enum Device: Sendable, Hashable {
    case vmfwupdate(VmfwupdateDevice)
    case guest(GuestDevice)

    public var driver: String {
        switch self {
        case .vmfwupdate: return VmfwupdateDevice.driver
        case .guest(let d): return d.driver
        }
    }

    public var id: String? {
        switch self {
        case .vmfwupdate(let d): return d.id
        case .guest(let d): return d.id
        }
    }

    /// The properties that are set (not `driver`, not `id`), typed.
    public var properties: JSONObject {
        switch self {
        case .vmfwupdate(let d):
            var p = JSONObject()
            p["disable"] = d.disable.map { JSON($0) }
            return p
        case .guest(let d):
            return d.properties
        }
    }

    /// The name problems are reported under: the id, else the driver.
    public var problemName: String { id ?? driver }

    /// The arguments of QMP `device_add` / the JSON form of `-device`.
    public func deviceAddArguments() -> JSONObject {
        var args: JSONObject = ["driver": .string(driver)]
        if let id { args["id"] = .string(id) }
        for (k, v) in properties.pairs { args[k] = v }
        return args
    }

    /// The value of a `-device` argument, JSON (default) or key=value.
    public func commandLineArgument(form: CommandLineForm = .json) -> String {
        switch form {
        case .json: return PropertyText.json(deviceAddArguments())
        case .keyValue:
            let idPair: [(String, String)] = id.map { [("id", $0)] } ?? []
            return KeyValueSyntax.render(implied: ("driver", driver), idPair + PropertyText.pairs(properties, hex: []))
        }
    }

    /// Reads a `-device` value in either form.
    public init(commandLine spec: String) throws(ObjectSpecError) {
        let inputs = try CommandLineSpec.inputs(spec, impliedKey: "driver", allowShortFormBooleans: true, object: "device")
        var reader = PropertyReader(object: "device", properties: inputs)
        let driver = reader.string("driver")
        let id = reader.string("id")
        guard driver == VmfwupdateDevice.driver else {
            var problems = reader.problems
            problems.append(Problem(.qemu, object: id ?? "device", property: "driver",
                driver.map { "'\($0)' is not a device igvm-mgr models (vmfwupdate)" } ?? "missing"))
            throw ObjectSpecError(problems: problems)
        }
        let device = VmfwupdateDevice(id: id, disable: reader.bool("disable"))
        let problems = reader.finish(type: VmfwupdateDevice.driver)
        guard problems.isEmpty else { throw ObjectSpecError(problems: problems) }
        self = .vmfwupdate(device)
    }

    public func validate() -> [Problem] {
        guard let id else { return [] }
        return IDRules.check(id: id, as: id)
    }
}
