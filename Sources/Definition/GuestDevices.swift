/// The guest's devices: `[[disk]]`, `[[nic]]`, `[vsock]` and `[console]` (docs/config.md).
///
/// Values keep QEMU's vocabulary; the launch plan turns them into `-blockdev`, `-netdev` and
/// `-device` JSON, so no value (a file name with `,` or `=`) can add a property.

/// `[[disk]]`: one block device.
public struct DiskSettings: Sendable, Equatable {
    /// `file`: the image (absolute; resolved against the config file's folder).
    public var file: String
    /// `format`: required, so that QEMU never probes a guest-writable image's format.
    public var format: DiskFormat
    /// `interface`: how the guest sees it (default `virtio-blk`).
    public var interface: DiskInterface = .virtioBlk
    /// `readonly`: the guest cannot write (`read-only` on both nodes).
    public var readonly: Bool = false
    /// `cache`: the `-drive cache=` mode, spelt out into node and device properties.
    public var cache: DiskCache?
    /// `discard`: `ignore` or `unmap` (`discard` on both nodes).
    public var discard: DiskDiscard?
    /// `serial`: the serial number the guest reads; required for `nvme`.
    public var serial: String?
    /// `bootindex`: the firmware's boot order.
    public var bootindex: Int?
    /// `iommu_platform` / `disable-legacy` as the definition wrote them (nil: not set).
    public var virtio: VirtioTransport = VirtioTransport()

    public init(file: String, format: DiskFormat) {
        self.file = file
        self.format = format
    }
}

public enum DiskFormat: String, Sendable, CaseIterable { case raw, qcow2 }

public enum DiskInterface: String, Sendable, CaseIterable {
    /// `virtio-blk-pci`.
    case virtioBlk = "virtio-blk"
    /// `scsi-hd` on a `virtio-scsi-pci` controller.
    case virtioSCSI = "virtio-scsi"
    /// An emulated NVMe controller (`nvme`) with the disk as its namespace; not virtio, so the
    /// virtio transport keys do not apply, and QEMU needs a `serial`.
    case nvme

    public var isVirtio: Bool { self != .nvme }
}

/// `-drive cache=` modes (QEMU's docs/system/invocation, "cache=cache"): each is a combination
/// of the node options `cache.direct`, `cache.no-flush` and the device's `write-cache`.
public enum DiskCache: String, Sendable, CaseIterable {
    case writeback, none, writethrough, directsync, unsafe

    /// `cache.direct` (O_DIRECT).
    public var direct: Bool { self == .none || self == .directsync }
    /// `cache.no-flush`: flushes are ignored.
    public var noFlush: Bool { self == .unsafe }
    /// The device's `write-cache`: the guest sees a volatile write cache it must flush.
    public var writeCache: Bool { !(self == .writethrough || self == .directsync) }
}

public enum DiskDiscard: String, Sendable, CaseIterable { case ignore, unmap }

/// The two virtio-pci properties the confidential-guest rule is about, as a definition set them.
public struct VirtioTransport: Sendable, Equatable {
    /// `iommu_platform`: DMA goes through the platform's IOMMU/DMA API (the guest's bounce buffers).
    public var iommuPlatform: Bool?
    /// `disable-legacy`: `"on"`, `"off"` or `"auto"` (QEMU's OnOffAuto).
    public var disableLegacy: String?

    public init(iommuPlatform: Bool? = nil, disableLegacy: String? = nil) {
        self.iommuPlatform = iommuPlatform
        self.disableLegacy = disableLegacy
    }
}

/// `[[nic]]`: one network interface.
public struct NICSettings: Sendable, Equatable {
    public enum Backend: Sendable, Equatable {
        /// `type = "user"`: QEMU's user-mode network (slirp) with `hostfwd` rules as QEMU writes them.
        case user(hostfwd: [String])
        /// `type = "tap"`: an existing tap interface; igvm-mgr runs no script (`script=no`).
        case tap(ifname: String)

        public var type: String {
            switch self {
            case .user: return "user"
            case .tap: return "tap"
            }
        }
    }

    public var backend: Backend
    /// `mac`: nil for the address derived from the VM name.
    public var mac: String?
    /// `model`: the device (`virtio-net-pci`).
    public var model: String = NICSettings.defaultModel
    public var virtio: VirtioTransport = VirtioTransport()

    public static let defaultModel = "virtio-net-pci"
    public static let models = ["virtio-net-pci"]

    public init(backend: Backend, mac: String? = nil) {
        self.backend = backend
        self.mac = mac
    }
}

/// `[vsock]`: a `vhost-vsock-pci` device.
public struct VsockSettings: Sendable, Equatable {
    /// `guest-cid`: 3 to 0xFFFFFFFE (0–2 are reserved, 0xFFFFFFFF is VMADDR_CID_ANY; linux/vm_sockets.h).
    public var guestCID: UInt32
    public var virtio: VirtioTransport = VirtioTransport()

    public init(guestCID: UInt32) { self.guestCID = guestCID }
}

/// `[console]`: the first serial port on a socket in the VM's folder, logged to a file there.
public struct ConsoleSettings: Sendable, Equatable {
    public init() {}
}
