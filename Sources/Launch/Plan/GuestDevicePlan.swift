import Definition
import JSON
import ObjectModel

/// The guest's disks, NICs and vsock as `-blockdev`, `-netdev` and `-device` JSON, with the
/// confidential-guest device rules applied (docs/config.md, "Devices of confidential guests").
struct GuestDevicePlan {
    var blockdevs: [JSONObject] = []
    var netdevs: [JSONObject] = []
    var devices: [Device] = []
    var problems: [ConfigProblem] = []

    /// The ids the plan gives what a definition's device tables imply.
    enum IDs {
        static func disk(_ i: Int) -> String { "disk\(i)" }
        static func nic(_ i: Int) -> String { "net\(i)" }
        static let scsiController = "scsi0"
        static let vsock = "vsock0"
    }

    /// Whether `d` is a guest whose memory is encrypted: SEV, SEV-ES, SEV-SNP (not `nocc`).
    static func isEncrypted(_ d: VMDefinition) -> Bool {
        d.confidential.map { $0.type == .sevGuest || $0.type == .sevSNPGuest } ?? false
    }

    init(_ d: VMDefinition) {
        let encrypted = Self.isEncrypted(d)
        var scsiDisks = false
        for (i, disk) in d.disks.enumerated() {
            let key = "disk[\(i)]"
            let nodes = Self.diskNodes(disk, name: IDs.disk(i))
            blockdevs += nodes
            var p: JSONObject = ["drive": .string(IDs.disk(i))]
            if let serial = disk.serial { p["serial"] = .string(serial) }
            if let bootindex = disk.bootindex { p["bootindex"] = JSON(bootindex) }
            if let cache = disk.cache { p["write-cache"] = .string(cache.writeCache ? "on" : "off") }
            switch disk.interface {
            case .virtioBlk:
                add(GuestDevice(driver: "virtio-blk-pci", id: IDs.disk(i), properties: p), virtio: disk.virtio,
                    key: key, encrypted: encrypted, file: d.file)
            case .virtioSCSI:
                if !scsiDisks {
                    scsiDisks = true
                    // One controller for every virtio-scsi disk; the transport rule is the controller's.
                    add(GuestDevice(driver: "virtio-scsi-pci", id: IDs.scsiController), virtio: disk.virtio,
                        key: key, encrypted: encrypted, file: d.file)
                } else {
                    checkTransport(disk.virtio, key: key, encrypted: encrypted, file: d.file)
                }
                p["bus"] = .string("\(IDs.scsiController).0")
                devices.append(.guest(GuestDevice(driver: "scsi-hd", id: IDs.disk(i), properties: p)))
            case .nvme:
                // One controller per disk, its only namespace. Not virtio: an encrypted guest's
                // NVMe driver maps every buffer through the DMA API, which bounces it through
                // shared memory already (docs/config.md, "Devices of confidential guests").
                devices.append(.guest(GuestDevice(driver: "nvme", id: IDs.disk(i), properties: p)))
            }
        }
        for (i, nic) in d.nics.enumerated() {
            var netdev: JSONObject = ["type": .string(nic.backend.type), "id": .string(IDs.nic(i))]
            switch nic.backend {
            case .user(let hostfwd):
                // QAPI NetdevUserOptions: hostfwd is ['String'], each {"str": rule} (qapi/net.json).
                if !hostfwd.isEmpty { netdev["hostfwd"] = .array(hostfwd.map { .object(["str": .string($0)]) }) }
            case .tap(let ifname):
                netdev["ifname"] = .string(ifname)
                netdev["script"] = .string("no")
                netdev["downscript"] = .string("no")
            }
            netdevs.append(netdev)
            let mac = nic.mac ?? MACAddress.derived(vmName: d.name, index: i).description
            var p: JSONObject = ["netdev": .string(IDs.nic(i)), "mac": .string(mac)]
            if encrypted {
                // No option ROM: iPXE would be host-supplied code the firmware runs inside the
                // guest, outside the launch measurement. An empty romfile loads none
                // (hw/pci/pci.c, pci_add_option_rom()).
                p["romfile"] = .string("")
            }
            add(GuestDevice(driver: nic.model, id: IDs.nic(i), properties: p), virtio: nic.virtio,
                key: "nic[\(i)]", encrypted: encrypted, file: d.file)
        }
        if let vsock = d.vsock {
            add(GuestDevice(driver: "vhost-vsock-pci", id: IDs.vsock, properties: ["guest-cid": JSON(Int(vsock.guestCID))]),
                virtio: vsock.virtio, key: "vsock", encrypted: encrypted, file: d.file)
        }
    }

    /// What `status` lists: disks (file, format, interface), NICs (type, MAC, forwarded ports or
    /// tap interface) and the vsock CID, as `plan.json` keeps them.
    static func summary(_ d: VMDefinition) -> JSON {
        let disks: [JSON] = d.disks.map { disk in
            ["file": .string(disk.file), "format": .string(disk.format.rawValue), "interface": .string(disk.interface.rawValue),
             "readonly": .bool(disk.readonly)]
        }
        let nics: [JSON] = d.nics.enumerated().map { i, nic in
            var o: JSONObject = ["type": .string(nic.backend.type), "model": .string(nic.model),
                                 "mac": .string(nic.mac ?? MACAddress.derived(vmName: d.name, index: i).description)]
            switch nic.backend {
            case .user(let hostfwd): o["hostfwd"] = .array(hostfwd.map(JSON.string))
            case .tap(let ifname): o["ifname"] = .string(ifname)
            }
            return .object(o)
        }
        return ["disks": .array(disks), "nics": .array(nics),
                "vsock-guest-cid": d.vsock.map { JSON(Int($0.guestCID)) } ?? .null]
    }

    /// A disk as two `-blockdev` nodes, protocol (`file`) and format, as libvirt does; the format
    /// is always named, so QEMU never probes an image the guest can write.
    static func diskNodes(_ disk: DiskSettings, name: String) -> [JSONObject] {
        var file: JSONObject = ["driver": "file", "filename": .string(disk.file), "node-name": .string("\(name)-file"),
                                "read-only": .bool(disk.readonly)]
        var format: JSONObject = ["driver": .string(disk.format.rawValue), "file": .string("\(name)-file"),
                                  "node-name": .string(name), "read-only": .bool(disk.readonly)]
        if let cache = disk.cache {
            // -drive cache=MODE spelt out (QEMU docs/system/invocation, "-drive"; libvirt does the same).
            let c: JSONObject = ["direct": .bool(cache.direct), "no-flush": .bool(cache.noFlush)]
            file["cache"] = .object(c)
            format["cache"] = .object(c)
        }
        if let discard = disk.discard {
            file["discard"] = .string(discard.rawValue)
            format["discard"] = .string(discard.rawValue)
        }
        return [file, format]
    }

    /// Adds `device`; a virtio-pci device of an encrypted guest gets `iommu_platform=on` and
    /// `disable-legacy=on`, otherwise what the definition set.
    mutating func add(_ device: GuestDevice, virtio: VirtioTransport, key: String, encrypted: Bool, file: String) {
        var device = device
        if device.isVirtioPCI {
            checkTransport(virtio, key: key, encrypted: encrypted, file: file)
            if encrypted {
                device.properties["iommu_platform"] = .bool(true)
                device.properties["disable-legacy"] = .string("on")
            } else {
                if let iommu = virtio.iommuPlatform { device.properties["iommu_platform"] = .bool(iommu) }
                if let legacy = virtio.disableLegacy { device.properties["disable-legacy"] = .string(legacy) }
            }
        }
        devices.append(.guest(device))
    }

    /// An encrypted guest's virtio devices must DMA through the DMA API (its swiotlb bounce
    /// buffers in shared memory): without VIRTIO_F_ACCESS_PLATFORM, which `iommu_platform=on`
    /// offers, the guest's virtio driver uses physical addresses of encrypted pages the host
    /// cannot read; that feature bit exists only in modern (virtio 1.0) devices, hence
    /// `disable-legacy=on`. A definition that says otherwise is refused.
    mutating func checkTransport(_ virtio: VirtioTransport, key: String, encrypted: Bool, file: String) {
        guard encrypted else { return }
        if virtio.iommuPlatform == false {
            problems.append(ConfigProblem(file: file, key: "\(key).iommu_platform",
                message: "must be true for an SEV/SEV-ES/SEV-SNP guest: its virtio devices DMA through bounce buffers only with VIRTIO_F_ACCESS_PLATFORM (igvm-mgr sets it; leave the key out)",
                level: .launch))
        }
        if let legacy = virtio.disableLegacy, legacy != "on" {
            problems.append(ConfigProblem(file: file, key: "\(key).disable-legacy",
                message: "must be \"on\" for an SEV/SEV-ES/SEV-SNP guest: only a modern virtio device offers VIRTIO_F_ACCESS_PLATFORM (igvm-mgr sets it; leave the key out), got \(JSONQuoted(legacy))",
                level: .launch))
        }
    }
}
