import Foundation

/// The parts of a QEMU command line that the reset policy and the vmfwupdate flow decide; the
/// launch plan puts them into its argv.
public struct VMFWUpdateLaunchArguments: Sendable, Hashable {
    /// Every instance runs with this: a guest reset becomes SHUTDOWN {guest: true,
    /// reason: "guest-reset"} followed by a pause with memory intact (QEMU ≥ 6.0), so the
    /// supervisor decides what a reset means instead of QEMU rebooting behind its back.
    public static let resetPolicy = ["-action", "reboot=shutdown,shutdown=pause"]

    /// `-bios PATH` when the firmware is a platform ROM.
    public var bios: String?
    /// `-object igvm-cfg,…` when the firmware is an IGVM file.
    public var igvmObject: (id: String, path: String)?
    /// `-fw_cfg` name/path pairs (the interface's read-only files and the opaque blob).
    public var fwCfgFiles: [(name: String, path: String)]

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.argv == rhs.argv }
    public func hash(into hasher: inout Hasher) { hasher.combine(argv) }

    /// - Parameters:
    ///   - firmware: what this instance boots.
    ///   - providerFirmware: the config's firmware (a platform ROM path) for `.provider`.
    ///   - interfaceFiles: where the interface's read-only fw-cfg files were written (name → path);
    ///     empty when the interface is disabled in the config.
    ///   - igvmObjectID: the id for a guest-supplied IGVM's `igvm-cfg` object (fresh per launch).
    public init(firmware: FirmwareInUse, providerFirmware: String?, interfaceFiles: [(name: String, path: String)],
                igvmObjectID: String = "igvm0") {
        fwCfgFiles = interfaceFiles
        switch firmware {
        case .provider:
            bios = providerFirmware
        case .guestSupplied(let stored):
            switch stored.format {
            case .platformROM: bios = stored.imagePath
            case .igvm: igvmObject = (igvmObjectID, stored.imagePath)
            }
            if let opaque = stored.opaquePath { fwCfgFiles.append((VMFWUpdateFwCfg.opaqueName, opaque)) }
        }
    }

    /// The arguments in launch order (the machine's `igvm-cfg=` property is the plan's to add).
    public var argv: [String] {
        var argv: [String] = []
        if let bios { argv += ["-bios", bios] }
        if let igvmObject {
            argv += ["-object", "igvm-cfg,id=\(igvmObject.id),file=\(igvmObject.path.replacingOccurrences(of: ",", with: ",,"))"]
        }
        for file in fwCfgFiles { argv += VMFWUpdateFwCfg.argument(name: file.name, path: file.path) }
        return Self.resetPolicy + argv
    }
}
