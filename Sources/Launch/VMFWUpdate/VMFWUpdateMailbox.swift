import Definition
import Capabilities
import FileAccess
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

/// The guest-memory mailbox (layout version 1, docs/vmfwupdate.md): the March 2025 draft's
/// `struct vmfwupdate` behind a magic, a version and a length, all little-endian.
///
/// The guest owns this memory; the manager only reads it (QMP has `pmemsave` but no way to
/// write guest memory), so the read-only fields are echoes of the fw-cfg files and are never
/// trusted: validation uses the manager's own values.
public struct VMFWUpdateMailbox: Sendable, Hashable {
    /// "IGVMFWUP" as bytes at offset 0.
    public static let magic: [UInt8] = Array("IGVMFWUP".utf8)
    /// The layout version this code writes and understands.
    public static let version: UInt32 = 1
    /// Bytes in layout version 1.
    public static let length = 72

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

    // Field offsets of layout version 1.
    enum Offset {
        static let magic = 0, version = 8, length = 12, capabilities = 16, control = 24
        static let firmwareROMSize = 32, imageAddress = 40, imageSize = 48
        static let opaqueAddress = 56, opaqueSize = 64
    }

    /// The mailbox as the guest lays it out in memory.
    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.length)
        bytes.replaceSubrange(0..<8, with: Self.magic)
        bytes.storeLE(Self.version, at: Offset.version)
        bytes.storeLE(UInt32(Self.length), at: Offset.length)
        bytes.storeLE(capabilities.rawValue, at: Offset.capabilities)
        bytes.storeLE(control.rawValue, at: Offset.control)
        bytes.storeLE(firmwareROMSize, at: Offset.firmwareROMSize)
        bytes.storeLE(imageAddress, at: Offset.imageAddress)
        bytes.storeLE(imageSize, at: Offset.imageSize)
        bytes.storeLE(opaqueAddress, at: Offset.opaqueAddress)
        bytes.storeLE(opaqueSize, at: Offset.opaqueSize)
        return bytes
    }

    /// What a read of the mailbox memory holds.
    public enum Contents: Sendable, Hashable {
        /// No magic: the guest never wrote a mailbox (an ordinary reset).
        case absent
        /// The magic with a layout this code cannot read: a request it must reject.
        case unreadable(reason: String)
        case mailbox(VMFWUpdateMailbox)
    }

    /// Decodes the mailbox from guest memory (at least `length` bytes from the mailbox GPA).
    public static func decode(_ bytes: [UInt8]) -> Contents {
        guard bytes.count >= 8, Array(bytes[0..<8]) == magic else { return .absent }
        guard bytes.count >= length else {
            return .unreadable(reason: "mailbox is \(bytes.count) bytes, layout 1 needs \(length)")
        }
        let version = bytes.loadLE(UInt32.self, at: Offset.version)
        guard version == Self.version else {
            return .unreadable(reason: "mailbox layout version \(version) is not supported (this manager reads version \(Self.version))")
        }
        let declaredLength = bytes.loadLE(UInt32.self, at: Offset.length)
        guard declaredLength == UInt32(length) else {
            return .unreadable(reason: "mailbox length field is \(declaredLength), layout 1 is \(length) bytes")
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
