import Testing
import TestSupport
import Numerals
@testable import Launch
@testable import Supervisor
@testable import FirmwareUpdate

@Suite struct VMFWUpdateMailboxTests {
    static let sample = VMFWUpdateMailbox(
        capabilities: [.formatPlatformROM], control: [.formatPlatformROM], firmwareROMSize: 0x10000,
        imageAddress: 0x10000, imageSize: 0x10000, opaqueAddress: 0x8000, opaqueSize: 21)

    @Test func roundTripsThroughTheLayout() {
        let bytes = Self.sample.encoded()
        #expect(bytes.count == 56)
        #expect(VMFWUpdateMailbox.decode(bytes) == .mailbox(Self.sample))
    }

    /// `struct vmfwupdate` of the March 2025 draft with C's natural alignment, byte for byte
    /// (docs/vmfwupdate.md, "The mailbox"; what the test firmware writes).
    @Test func fieldsSitAtTheThreadsOffsets() {
        let bytes = Self.sample.encoded()
        #expect(bytes.loadLE(UInt64.self, at: 0) == 1 << 33)  // capabilities
        #expect(bytes.loadLE(UInt64.self, at: 8) == 1 << 33)  // control
        #expect(bytes.loadLE(UInt64.self, at: 16) == 0x10000) // fw_rom_size
        #expect(bytes.loadLE(UInt64.self, at: 24) == 0x10000) // fw_image_addr
        #expect(bytes.loadLE(UInt16.self, at: 32) == 0)       // fw_image_size (u16 in the draft): 0x10000 needs the padding
        #expect(bytes.loadLE(UInt64.self, at: 32) == 0x10000)
        #expect(bytes.loadLE(UInt64.self, at: 40) == 0x8000)  // opaque_addr
        #expect(bytes.loadLE(UInt64.self, at: 48) == 21)      // opaque_size
    }

    /// The field each offset names, written as the guest writes it (width as in the draft),
    /// into a guest RAM file, and read back through the manager's channel. (At a reset the
    /// keeper then puts its own values back into the read-only fields: the next test.)
    @Test(arguments: [
        ("capabilities", 0, 8, UInt64(1 << 32), \VMFWUpdateMailbox.capabilities.rawValue),
        ("control", 8, 8, UInt64(1 << 33), \VMFWUpdateMailbox.control.rawValue),
        ("fw_rom_size", 16, 8, UInt64(0x20000), \VMFWUpdateMailbox.firmwareROMSize),
        ("fw_image_addr", 24, 8, UInt64(0x10000), \VMFWUpdateMailbox.imageAddress),
        ("fw_image_size", 32, 2, UInt64(0xf000), \VMFWUpdateMailbox.imageSize),
        ("opaque_addr", 40, 8, UInt64(0x8000), \VMFWUpdateMailbox.opaqueAddress),
        ("opaque_size", 48, 8, UInt64(21), \VMFWUpdateMailbox.opaqueSize),
    ] as [(String, Int, Int, UInt64, KeyPath<VMFWUpdateMailbox, UInt64> & Sendable)])
    func theManagerReadsEachFieldAtItsOffset(field: String, offset: Int, width: Int, value: UInt64,
                                             read: KeyPath<VMFWUpdateMailbox, UInt64> & Sendable) async throws {
        let directory = try TestPaths.makeTemporaryDirectory("mailbox-field")
        let gpa: UInt64 = 0x9000
        let ram = GuestRAMFile(path: directory.appendingPathComponent("guest-ram").path,
                               memory: try GuestMemoryMap(machine: "q35", ramSize: 2 << 20), size: 2 << 20)
        try ram.createAfresh()
        try ram.write(Array(LittleEndian.bytes(value).prefix(width)), at: gpa + UInt64(offset))
        let channel = GuestMemoryMailboxChannel(mailboxGPA: gpa, memory: RAMFileMemoryReader(ram: ram))
        guard case .mailbox(let mailbox) = try await channel.readMailbox() else {
            Issue.record("no mailbox")
            return
        }
        #expect(mailbox[keyPath: read] == value, "\(field)")
    }

    @Test func bitsAreTheThreadsValues() {
        #expect(VMFWUpdateBits.formatIGVM.rawValue == 1 << 32)
        #expect(VMFWUpdateBits.formatPlatformROM.rawValue == 1 << 33)
        #expect(VMFWUpdateBits.x86Resize.rawValue == 1)
        #expect(VMFWUpdateBits.disable.rawValue == 1)
    }

    @Test func aTruncatedReadIsUnreadable() {
        guard case .unreadable = VMFWUpdateMailbox.decode(Array(Self.sample.encoded()[0..<40])) else {
            Issue.record("a 40-byte mailbox decoded")
            return
        }
    }

    /// At a reset the manager clears the request and control and restores the read-only
    /// fields; the opaque blob's address and size stay; a latched DISABLE counts at the reset
    /// even when the guest cleared it, and ends with the reset.
    @Test func theKeeperLatchesDisableAndClearsTheRequestAtReset() async throws {
        let directory = try TestPaths.makeTemporaryDirectory("mailbox-keeper")
        let ram = GuestRAMFile(path: directory.appendingPathComponent("guest-ram").path,
                               memory: try GuestMemoryMap(machine: "q35", ramSize: 2 << 20), size: 2 << 20)
        try ram.createAfresh()
        let offer = VMFWUpdateOffer(formats: [.platformROM], firmwareROMSize: 0x10000)
        let keeper = MailboxKeeper(ram: ram, mailboxGPA: 0x9000, offer: offer)
        var guest = Self.sample
        guest.control = [.disable]
        guest.capabilities = []
        try ram.write(guest.encoded(), at: 0x9000)
        #expect(try await keeper.watch())   // latched now
        #expect(try await !keeper.watch())  // once
        guest.control = [.formatPlatformROM]
        try ram.write(guest.encoded(), at: 0x9000)
        guard case .mailbox(let atReset) = try await keeper.readAtReset() else {
            Issue.record("no mailbox")
            return
        }
        #expect(atReset.control == [.disable, .formatPlatformROM])
        #expect(atReset.capabilities == offer.capabilities)  // restored by the watch
        try await keeper.resetForNextRun()
        #expect(VMFWUpdateMailbox.decode(try ram.read(GuestPhysicalRange(start: 0x9000, length: 56)!)) == .mailbox(
            VMFWUpdateMailbox(capabilities: [.formatPlatformROM], firmwareROMSize: 0x10000, opaqueAddress: 0x8000, opaqueSize: 21)))
        #expect(await !keeper.disableLatched)
    }
}

@Suite struct GuestMemoryMapTests {
    @Test func q35With128MiBHasTheLegacyHole() throws {
        let map = try GuestMemoryMap(machine: "q35", ramSize: 128 << 20)
        #expect(map.ranges == [GuestPhysicalRange(start: 0, length: 0xA0000)!,
                               GuestPhysicalRange(start: 0x100000, length: (128 << 20) - 0x100000)!])
    }

    @Test func q35With4GiBSplitsAt2GiB() throws {
        let map = try GuestMemoryMap(machine: "pc-q35-10.0", ramSize: 4 << 30)
        #expect(map.ranges.last == GuestPhysicalRange(start: 1 << 32, length: 2 << 30))
        #expect(map.ranges[1].end == 0x8000_0000)
    }

    @Test func pcWith4GiBSplitsAt3GiB() throws {
        let map = try GuestMemoryMap(machine: "pc", ramSize: 4 << 30)
        #expect(map.ranges[1].end == 0xC000_0000)
        #expect(map.ranges.last == GuestPhysicalRange(start: 1 << 32, length: 1 << 30))
    }

    /// RAM above 4 GiB follows RAM below it in the backend's file (one RAM block, two aliases).
    @Test func guestRAMFileOffsetsFollowTheAliases() throws {
        let map = try GuestMemoryMap(machine: "q35", ramSize: 4 << 30)
        let ram = GuestRAMFile(path: "/nonexistent", memory: map, size: 4 << 30)
        #expect(ram.fileOffset(of: GuestPhysicalRange(start: 0x9000, length: 56)!) == 0x9000)
        #expect(ram.fileOffset(of: GuestPhysicalRange(start: (1 << 32) + 0x1000, length: 8)!) == (2 << 30) + 0x1000)
        #expect(ram.fileOffset(of: GuestPhysicalRange(start: 0xA0000, length: 8)!) == nil)  // legacy hole
    }

    @Test func anUnknownMachineIsRefused() {
        #expect(throws: GuestMemoryMap.Failure.unsupportedMachine("virt")) {
            try GuestMemoryMap(machine: "virt", ramSize: 1 << 30)
        }
    }

    @Test func rangesThatOverflowCannotBeBuilt() {
        #expect(GuestPhysicalRange(start: .max, length: 2) == nil)
    }
}
