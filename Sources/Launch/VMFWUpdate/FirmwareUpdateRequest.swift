import Numerals
/// What the manager offers the guest through the interface: the read-only values it publishes
/// in fw-cfg, and what it checks a request against.
public struct VMFWUpdateOffer: Sendable, Hashable {
    /// The image formats this VM may upload (`capabilities` format bits).
    public var formats: Set<FirmwareImageFormat>
    /// The size of the platform ROM region (`fw_rom_size`): the provider firmware's size.
    public var firmwareROMSize: UInt64
    /// The largest opaque blob accepted (the 4096-byte opaque page of the v6 vmfwupdate patch).
    public var maximumOpaqueSize: UInt64

    public static let defaultMaximumOpaqueSize: UInt64 = 4096

    public init(formats: Set<FirmwareImageFormat>, firmwareROMSize: UInt64,
                maximumOpaqueSize: UInt64 = defaultMaximumOpaqueSize) {
        self.formats = formats
        self.firmwareROMSize = firmwareROMSize
        self.maximumOpaqueSize = maximumOpaqueSize
    }

    /// The `capabilities` value published to the guest.
    public var capabilities: VMFWUpdateBits {
        formats.reduce(into: VMFWUpdateBits()) { $0.formUnion($1.bit) }
    }
}

/// A request that passed every check that needs no image bytes.
public struct FirmwareUpdateRequest: Sendable, Hashable {
    public var format: FirmwareImageFormat
    public var image: GuestPhysicalRange
    /// nil when the guest hands over no opaque blob (size 0).
    public var opaque: GuestPhysicalRange?

    public init(format: FirmwareImageFormat, image: GuestPhysicalRange, opaque: GuestPhysicalRange?) {
        self.format = format
        self.image = image
        self.opaque = opaque
    }
}

/// Why a reset carries no update.
public enum NoUpdateReason: String, Sendable, Hashable {
    /// No mailbox magic in guest memory.
    case noMailbox = "no-mailbox"
    /// `control.DISABLE` set by the guest.
    case disabled = "disabled"
    /// A mailbox with `fw_image_addr` 0: an ordinary reset, as the v6 vmfwupdate patch does for
    /// `bios_paddr` 0 (docs/background.md, "vmfwupdate").
    case noImage = "no-image"
}

/// The reading of the mailbox at a guest reset.
public enum FirmwareUpdateAssessment: Sendable, Hashable {
    case noUpdate(NoUpdateReason)
    case update(FirmwareUpdateRequest)
    /// A request that must not be carried out; `reason` is one line naming the field.
    case rejected(reason: String)
}

/// Checks a mailbox against the offer and the guest's RAM: the v6 vmfwupdate patch's rules (a
/// ROM image a multiple of 64 KiB and no larger than the ROM region) plus ranges inside RAM and
/// one offered format (docs/vmfwupdate.md, "On a guest reset").
public struct FirmwareUpdateRequestValidator: Sendable {
    public var offer: VMFWUpdateOffer
    public var memory: GuestMemoryMap

    public init(offer: VMFWUpdateOffer, memory: GuestMemoryMap) {
        self.offer = offer
        self.memory = memory
    }

    public func assess(_ contents: VMFWUpdateMailbox.Contents) -> FirmwareUpdateAssessment {
        switch contents {
        case .absent: return .noUpdate(.noMailbox)
        case .unreadable(let reason): return .rejected(reason: reason)
        case .mailbox(let mailbox): return assess(mailbox)
        }
    }

    public func assess(_ mailbox: VMFWUpdateMailbox) -> FirmwareUpdateAssessment {
        if mailbox.control.contains(.disable) { return .noUpdate(.disabled) }
        if mailbox.imageAddress == 0 { return .noUpdate(.noImage) }

        let formats = FirmwareImageFormat.allCases.filter { mailbox.control.contains($0.bit) }
        guard formats.count == 1, let format = formats.first else {
            return .rejected(reason: formats.isEmpty
                ? "control has no format bit (FORMAT_PLATFORM_ROM or FORMAT_IGVM)"
                : "control has more than one format bit")
        }
        guard offer.formats.contains(format) else {
            return .rejected(reason: "image format \(format.rawValue) is not offered in capabilities")
        }
        guard mailbox.imageSize > 0 else { return .rejected(reason: "fw_image_size is 0") }
        guard let image = GuestPhysicalRange(start: mailbox.imageAddress, length: mailbox.imageSize),
              memory.containsRAM(image)
        else {
            return .rejected(reason: "fw_image_addr \(hex(mailbox.imageAddress, uppercase: false)) + fw_image_size \(hex(mailbox.imageSize, uppercase: false)) is not inside guest RAM")
        }
        if format == .platformROM {
            guard mailbox.imageSize % 0x1_0000 == 0 else {
                return .rejected(reason: "fw_image_size \(hex(mailbox.imageSize, uppercase: false)) is not a multiple of 64 KiB")
            }
            guard mailbox.imageSize <= offer.firmwareROMSize else {
                return .rejected(reason: "fw_image_size \(hex(mailbox.imageSize, uppercase: false)) exceeds fw_rom_size \(hex(offer.firmwareROMSize, uppercase: false))")
            }
        }
        var opaque: GuestPhysicalRange?
        if mailbox.opaqueSize > 0 {
            guard mailbox.opaqueSize <= offer.maximumOpaqueSize else {
                return .rejected(reason: "opaque_size \(mailbox.opaqueSize) exceeds \(offer.maximumOpaqueSize) bytes")
            }
            guard let range = GuestPhysicalRange(start: mailbox.opaqueAddress, length: mailbox.opaqueSize),
                  memory.containsRAM(range)
            else {
                return .rejected(reason: "opaque_addr \(hex(mailbox.opaqueAddress, uppercase: false)) + opaque_size \(hex(mailbox.opaqueSize, uppercase: false)) is not inside guest RAM")
            }
            opaque = range
        }
        return .update(FirmwareUpdateRequest(format: format, image: image, opaque: opaque))
    }
}

