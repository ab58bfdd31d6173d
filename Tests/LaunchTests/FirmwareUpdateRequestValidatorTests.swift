import Testing
@testable import Launch
@testable import Supervisor
@testable import FirmwareUpdate

@Suite struct FirmwareUpdateRequestValidatorTests {
    static let validator = FirmwareUpdateRequestValidator(
        offer: VMFWUpdateOffer(formats: [.platformROM], firmwareROMSize: 0x20000),
        memory: try! GuestMemoryMap(machine: "q35", ramSize: 128 << 20))

    static func mailbox(_ change: @Sendable (inout VMFWUpdateMailbox) -> Void) -> VMFWUpdateMailbox {
        var mailbox = VMFWUpdateMailbox(control: [.formatPlatformROM], imageAddress: 0x10000, imageSize: 0x10000,
                                        opaqueAddress: 0x8000, opaqueSize: 16)
        change(&mailbox)
        return mailbox
    }

    @Test func aWellFormedRequestIsAnUpdate() {
        #expect(Self.validator.assess(Self.mailbox { _ in }) == .update(FirmwareUpdateRequest(
            format: .platformROM, image: GuestPhysicalRange(start: 0x10000, length: 0x10000)!,
            opaque: GuestPhysicalRange(start: 0x8000, length: 16)!)))
    }

    @Test func noOpaqueBlobIsAllowed() {
        guard case .update(let request) = Self.validator.assess(Self.mailbox { $0.opaqueSize = 0; $0.opaqueAddress = 0 }) else {
            Issue.record("rejected a request without opaque blob")
            return
        }
        #expect(request.opaque == nil)
    }

    @Test func theDisableBitWinsOverARequest() {
        #expect(Self.validator.assess(Self.mailbox { $0.control.insert(.disable) }) == .noUpdate(.disabled))
    }

    @Test func aZeroImageAddressIsNoRequest() {
        #expect(Self.validator.assess(Self.mailbox { $0.imageAddress = 0 }) == .noUpdate(.noImage))
        #expect(Self.validator.assess(.absent) == .noUpdate(.noMailbox))
    }

    @Test(arguments: [
        ("size not a multiple of 64 KiB", { @Sendable (m: inout VMFWUpdateMailbox) in m.imageSize = 0xC000 }, "not a multiple of 64 KiB"),
        ("larger than the ROM", { @Sendable (m: inout VMFWUpdateMailbox) in m.imageSize = 0x30000 }, "exceeds fw_rom_size"),
        ("beyond RAM", { @Sendable (m: inout VMFWUpdateMailbox) in m.imageAddress = 0x8000_0000 }, "not inside guest RAM"),
        ("straddling the end of RAM", { @Sendable (m: inout VMFWUpdateMailbox) in m.imageAddress = (128 << 20) - 0x8000 }, "not inside guest RAM"),
        ("in the legacy hole", { @Sendable (m: inout VMFWUpdateMailbox) in m.imageAddress = 0xF0000 }, "not inside guest RAM"),
        ("wrapping around", { @Sendable (m: inout VMFWUpdateMailbox) in m.imageAddress = .max - 0xFFFF }, "not inside guest RAM"),
        ("zero size", { @Sendable (m: inout VMFWUpdateMailbox) in m.imageSize = 0 }, "fw_image_size is 0"),
        ("no format bit", { @Sendable (m: inout VMFWUpdateMailbox) in m.control = [] }, "no format bit"),
        ("two format bits", { @Sendable (m: inout VMFWUpdateMailbox) in m.control = [.formatIGVM, .formatPlatformROM] }, "more than one format bit"),
        ("a format not offered", { @Sendable (m: inout VMFWUpdateMailbox) in m.control = [.formatIGVM] }, "igvm is not offered"),
        ("a large opaque blob", { @Sendable (m: inout VMFWUpdateMailbox) in m.opaqueSize = 4097 }, "opaque_size 4097 exceeds 4096"),
        ("opaque beyond RAM", { @Sendable (m: inout VMFWUpdateMailbox) in m.opaqueAddress = 0x1_0000_0000 }, "opaque_addr"),
    ] as [(String, @Sendable (inout VMFWUpdateMailbox) -> Void, String)])
    func badRequestsAreRejectedWithTheirReason(_ label: String, change: @Sendable (inout VMFWUpdateMailbox) -> Void, reason: String) {
        guard case .rejected(let why) = Self.validator.assess(Self.mailbox(change)) else {
            Issue.record("\(label): not rejected")
            return
        }
        #expect(why.contains(reason), "\(label): \(why)")
    }

    @Test func theOfferPublishesItsFormatBits() {
        #expect(VMFWUpdateOffer(formats: [.platformROM, .igvm], firmwareROMSize: 0).capabilities.rawValue == 3 << 32)
    }
}
