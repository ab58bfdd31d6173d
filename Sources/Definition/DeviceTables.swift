import Foundation

/// Reading `[[disk]]`, `[[nic]]`, `[vsock]` and `[console]` (the schema is in docs/config.md).
extension DefinitionReader {
    static let diskKeys = ["file", "format", "interface", "readonly", "cache", "discard", "serial", "bootindex",
                           "iommu_platform", "disable-legacy"]
    static let nicKeys = ["type", "hostfwd", "ifname", "mac", "model", "iommu_platform", "disable-legacy"]
    static let vsockKeys = ["guest-cid", "iommu_platform", "disable-legacy"]

    func readDevices(into d: inout VMDefinition) {
        d.disks = root.tables("disk").compactMap(readDisk)
        d.nics = root.tables("nic").compactMap(readNIC)
        d.vsock = root.table("vsock").flatMap(readVsock)
        if let console = root.table("console") {
            console.finish(allowed: [])
            d.console = ConsoleSettings()
            if d.qemu.serial != nil {
                root.problem("console", "not allowed together with qemu.serial: both take the first serial port")
            }
        }
    }

    func readDisk(_ t: TableReader) -> DiskSettings? {
        let file = t.path("file")
        if file == nil && !t.has("file") { t.problem("file", "missing: expected the disk image's path") }
        let format = t.choice("format", as: DiskFormat.self)
        if format == nil && !t.has("format") {
            t.problem("format", "missing: expected \"raw\" or \"qcow2\" (QEMU must never guess an image's format)")
        }
        var disk = DiskSettings(file: file ?? "", format: format ?? .raw)
        if let i = t.choice("interface", as: DiskInterface.self) { disk.interface = i }
        if let r = t.bool("readonly") { disk.readonly = r }
        disk.cache = t.choice("cache", as: DiskCache.self)
        disk.discard = t.choice("discard", as: DiskDiscard.self)
        if let serial = t.string("serial", expected: "a serial number (string)") {
            // virtio-blk's serial is at most 20 bytes (VIRTIO_BLK_ID_BYTES), as is NVMe's (the
            // Identify Controller data's SN field); QEMU truncates longer ones.
            if serial.isEmpty || serial.utf8.count > 20 || !serial.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
                t.problem("serial", "expected 1 to 20 of A-Z a-z 0-9 - _ . (virtio-blk's limit, VIRTIO_BLK_ID_BYTES; NVMe's serial field is 20 bytes too), got \(JSONQuoted(serial))")
            } else {
                disk.serial = serial
            }
        }
        if disk.interface == .nvme && !t.has("serial") {
            // QEMU's nvme device refuses to start without one (hw/nvme/ctrl.c, "serial property
            // not set"). No default: the serial is how the guest names the disk
            // (/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_SERIAL), and one derived from the disk's
            // position would change when disks are reordered.
            t.problem("serial", "missing: interface = \"nvme\" needs a serial number (QEMU's nvme device has no default), 1 to 20 of A-Z a-z 0-9 - _ .")
        }
        if let b = t.integer("bootindex", in: 0...1023) { disk.bootindex = Int(b) }
        disk.virtio = readVirtio(t)
        if !disk.interface.isVirtio {
            for key in ["iommu_platform", "disable-legacy"] where t.has(key) {
                t.problem(key, "only for virtio interfaces: interface = \"\(disk.interface.rawValue)\" is not a virtio device")
            }
        }
        t.finish(allowed: Self.diskKeys)
        guard file != nil, format != nil else { return nil }
        return disk
    }

    func readNIC(_ t: TableReader) -> NICSettings? {
        let type = t.string("type", expected: "\"user\" or \"tap\"")
        if type == nil && !t.has("type") { t.problem("type", "missing: expected \"user\" or \"tap\"") }
        let hostfwd = t.strings("hostfwd", expected: "an array of strings like [\"tcp::2222-:22\"]")
        let ifname = t.string("ifname", expected: "a tap interface name (string)")
        var backend: NICSettings.Backend?
        switch type {
        case "user"?:
            if t.has("ifname") { t.problem("ifname", "only for type = \"tap\"") }
            for (i, rule) in (hostfwd ?? []).enumerated() {
                do { _ = try HostForward(rule) } catch {
                    t.problem("hostfwd[\(i)]", "\(error) in \(JSONQuoted(rule)) (QEMU's form \(HostForward.form), like \"tcp:127.0.0.1:2222-:22\")")
                }
            }
            backend = .user(hostfwd: hostfwd ?? [])
        case "tap"?:
            if t.has("hostfwd") { t.problem("hostfwd", "only for type = \"user\" (a tap interface forwards nothing)") }
            if let ifname, TapName.isValid(ifname) {
                backend = .tap(ifname: ifname)
            } else if let ifname {
                t.problem("ifname", "expected an interface name (1 to 15 of A-Z a-z 0-9 - _ .), got \(JSONQuoted(ifname))")
            } else if !t.has("ifname") {
                t.problem("ifname", "missing: type = \"tap\" needs an existing tap interface")
            }
        case let other?:
            t.problem("type", "expected \"user\" or \"tap\", got \(JSONQuoted(other))")
        case nil:
            break
        }
        var mac: String?
        if let m = t.string("mac", expected: "a MAC address like \"52:54:00:12:34:56\"") {
            if let parsed = MACAddress(m), parsed.isUnicast { mac = parsed.description } else {
                t.problem("mac", "expected a unicast MAC address like \"52:54:00:12:34:56\" (six hex pairs, the first one even), got \(JSONQuoted(m))")
            }
        }
        var model = NICSettings.defaultModel
        if let m = t.string("model", expected: "a NIC model like \"virtio-net-pci\"") {
            if NICSettings.models.contains(m) { model = m }
            else { t.problem("model", "expected one of \(NICSettings.models.map(JSONQuoted).joined(separator: ", ")), got \(JSONQuoted(m))") }
        }
        let virtio = readVirtio(t)
        t.finish(allowed: Self.nicKeys)
        guard let backend else { return nil }
        var nic = NICSettings(backend: backend, mac: mac)
        nic.model = model
        nic.virtio = virtio
        return nic
    }

    func readVsock(_ t: TableReader) -> VsockSettings? {
        let cid = t.integer("guest-cid", in: 3...0xFFFF_FFFE)
        if cid == nil && !t.has("guest-cid") { t.problem("guest-cid", "missing: expected the guest's context id (3 to 4294967294)") }
        let virtio = readVirtio(t)
        t.finish(allowed: Self.vsockKeys)
        guard let cid else { return nil }
        var vsock = VsockSettings(guestCID: UInt32(cid))
        vsock.virtio = virtio
        return vsock
    }

    /// `iommu_platform` (boolean) and `disable-legacy` (`"on"`, `"off"`, `"auto"`): QEMU's names and types.
    func readVirtio(_ t: TableReader) -> VirtioTransport {
        var v = VirtioTransport()
        v.iommuPlatform = t.bool("iommu_platform")
        if let s = t.string("disable-legacy", expected: "\"on\", \"off\" or \"auto\"") {
            if ["on", "off", "auto"].contains(s) { v.disableLegacy = s }
            else { t.problem("disable-legacy", "expected \"on\", \"off\" or \"auto\", got \(JSONQuoted(s))") }
        }
        return v
    }
}

/// Linux interface names: at most 15 bytes (IFNAMSIZ - 1, include/uapi/linux/if.h); kept to a
/// safe alphabet.
enum TapName {
    static func isValid(_ s: String) -> Bool {
        // The same alphabet as CPU model names.
        s.utf8.count <= 15 && CPUModelName.isValid(s)
    }
}

/// A 48-bit Ethernet address.
public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for p in parts {
            guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
            bytes.append(b)
        }
        self.bytes = bytes
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Bit 0 of the first byte clear: not a group address.
    public var isUnicast: Bool { bytes[0] & 1 == 0 }

    public var description: String { bytes.map { String(format: "%02x", $0) }.joined(separator: ":") }

    /// The stable address of NIC `index` of VM `name`: FNV-1a 64 of `name/index`, with the first
    /// byte's locally-administered bit (0x02) set and group bit (0x01) clear (IEEE 802, the U/L and
    /// I/G bits), so it never collides with a vendor-assigned address.
    public static func derived(vmName: String, index: Int) -> MACAddress {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(vmName)/\(index)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        var bytes = (0..<6).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) }
        bytes[0] = (bytes[0] & 0xfc) | 0x02
        return MACAddress(bytes: bytes)
    }
}
