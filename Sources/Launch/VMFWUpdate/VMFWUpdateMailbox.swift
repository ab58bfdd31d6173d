import Numerals
/// The vmfwupdate interface values, bit for bit as in Gerd Hoffmann's interface draft of
/// 24 March 2025 in the qemu-devel thread "[PATCH v6] hw/misc/vmfwupdate: Introduce hypervisor
/// fw-cfg interface support" ("format bits, used by both 'capabilities' and 'control'");
/// docs/background.md, "vmfwupdate".
public struct VMFWUpdateBits: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// capabilities: the VMM can resize x86 firmware memory (we never offer it: the ROM size is
    /// the provider firmware's).
    public static let x86Resize = VMFWUpdateBits(rawValue: 1 << 0)
    /// control: the guest disabled the interface; a reset is then an ordinary reset.
    public static let disable = VMFWUpdateBits(rawValue: 1 << 0)
    /// format: the image is an IGVM file.
    public static let formatIGVM = VMFWUpdateBits(rawValue: 1 << 32)
    /// format: the image is a platform ROM (x86: mapped so that it ends at 4 GiB, like `-bios`).
    public static let formatPlatformROM = VMFWUpdateBits(rawValue: 1 << 33)

    /// Every format bit this version of the interface defines.
    public static let allFormats: VMFWUpdateBits = [.formatIGVM, .formatPlatformROM]
}

/// The firmware image formats of the interface.
public enum FirmwareImageFormat: String, Sendable, Hashable, CaseIterable {
    case platformROM = "platform-rom"
    case igvm = "igvm"

    /// The format's bit in `capabilities` and `control`.
    public var bit: VMFWUpdateBits {
        switch self {
        case .platformROM: .formatPlatformROM
        case .igvm: .formatIGVM
        }
    }
}

/// The guest-memory mailbox: `struct vmfwupdate` of Gerd Hoffmann's interface draft of 24 March
/// 2025 (qemu-devel, "[PATCH v6] hw/misc/vmfwupdate: Introduce hypervisor fw-cfg interface
/// support"), field for field at its C offsets, little-endian, at a GPA the config names
/// (QEMU has no device that would hold it). The draft of 8 April 2025 in the same thread is
/// IGVM-only and drops `fw_rom_size` and the opaque blob; this layout keeps them because the
/// platform-ROM format and the opaque hand-over need them (docs/vmfwupdate.md, "The mailbox").
///
/// The manager owns the mailbox between runs (guest RAM lives in a file, `GuestRAMFile`): it
/// writes the read-only fields before every run and clears the request fields at every reset.
public struct VMFWUpdateMailbox: Sendable, Hashable {
    /// Bytes of the C struct (natural alignment: `fw_image_size` is followed by 6 padding bytes).
    public static let length = 56

    public var capabilities: VMFWUpdateBits
    public var control: VMFWUpdateBits
    public var firmwareROMSize: UInt64
    public var imageAddress: UInt64
    public var imageSize: UInt64
    public var opaqueAddress: UInt64
    public var opaqueSize: UInt64

    public init(
        capabilities: VMFWUpdateBits = [], control: VMFWUpdateBits = [], firmwareROMSize: UInt64 = 0,
        imageAddress: UInt64 = 0, imageSize: UInt64 = 0, opaqueAddress: UInt64 = 0, opaqueSize: UInt64 = 0
    ) {
        self.capabilities = capabilities
        self.control = control
        self.firmwareROMSize = firmwareROMSize
        self.imageAddress = imageAddress
        self.imageSize = imageSize
        self.opaqueAddress = opaqueAddress
        self.opaqueSize = opaqueSize
    }

    /// Field offsets of the draft's struct.
    public enum Offset {
        public static let capabilities = 0, control = 8, firmwareROMSize = 16, imageAddress = 24
        /// The draft declares `uint16_t fw_image_size`, which cannot hold one 64 KiB ROM; the
        /// manager reads the u16 together with the 6 padding bytes C puts before `opaque_addr`
        /// as one u64, so a guest storing a u16 (padding zero) and one storing a u64 both work.
        public static let imageSize = 32
        public static let opaqueAddress = 40, opaqueSize = 48
    }

    /// The struct as it lies in guest memory.
    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.length)
        bytes.storeLE(capabilities.rawValue, at: Offset.capabilities)
        bytes.storeLE(control.rawValue, at: Offset.control)
        bytes.storeLE(firmwareROMSize, at: Offset.firmwareROMSize)
        bytes.storeLE(imageAddress, at: Offset.imageAddress)
        bytes.storeLE(imageSize, at: Offset.imageSize)
        bytes.storeLE(opaqueAddress, at: Offset.opaqueAddress)
        bytes.storeLE(opaqueSize, at: Offset.opaqueSize)
        return bytes
    }

    /// What the manager writes before the guest runs again: the read-only fields from `offer`,
    /// the request (`fw_image_addr`/`fw_image_size`, "cleared on firmware update and reset") and
    /// `control` (DISABLE "resets to 0 on system reset", v6 patch) cleared, the opaque blob's
    /// address and size "kept intact on firmware update".
    public func afterReset(offer: VMFWUpdateOffer) -> VMFWUpdateMailbox {
        VMFWUpdateMailbox(capabilities: offer.capabilities, firmwareROMSize: offer.firmwareROMSize,
                          opaqueAddress: opaqueAddress, opaqueSize: opaqueSize)
    }

    /// What a read of the mailbox memory holds.
    public enum Contents: Sendable, Hashable {
        /// No mailbox could be found (a channel without one; the memory mailbox is always there).
        case absent
        /// Memory that cannot be the mailbox (a short read): a request the manager must reject.
        case unreadable(reason: String)
        case mailbox(VMFWUpdateMailbox)
    }

    /// Decodes the mailbox from guest memory (at least `length` bytes from the mailbox GPA).
    public static func decode(_ bytes: [UInt8]) -> Contents {
        guard bytes.count >= length else {
            return .unreadable(reason: "mailbox read is \(bytes.count) bytes, struct vmfwupdate is \(length)")
        }
        return .mailbox(VMFWUpdateMailbox(
            capabilities: VMFWUpdateBits(rawValue: bytes.loadLE(UInt64.self, at: Offset.capabilities)),
            control: VMFWUpdateBits(rawValue: bytes.loadLE(UInt64.self, at: Offset.control)),
            firmwareROMSize: bytes.loadLE(UInt64.self, at: Offset.firmwareROMSize),
            imageAddress: bytes.loadLE(UInt64.self, at: Offset.imageAddress),
            imageSize: bytes.loadLE(UInt64.self, at: Offset.imageSize),
            opaqueAddress: bytes.loadLE(UInt64.self, at: Offset.opaqueAddress),
            opaqueSize: bytes.loadLE(UInt64.self, at: Offset.opaqueSize)))
    }
}
