import FileAccess
import Testing
@testable import Definition
@testable import Capabilities
import Numerals
@testable import Launch
@testable import VMState
@testable import Supervisor
@testable import FirmwareUpdate
@testable import Lifecycle

@Suite struct VMFWUpdateMailboxTests {
    static let sample = VMFWUpdateMailbox(
        capabilities: [.formatPlatformROM], control: [.formatPlatformROM], firmwareROMSize: 0x10000,
        imageAddress: 0x10000, imageSize: 0x10000, opaqueAddress: 0x8000, opaqueSize: 21)

    @Test func roundTripsThroughTheLayout() {
        let bytes = Self.sample.encoded()
        #expect(bytes.count == 72)
        #expect(Array(bytes[0..<8]) == Array("IGVMFWUP".utf8))
        #expect(VMFWUpdateMailbox.decode(bytes) == .mailbox(Self.sample))
    }

    /// The layout in docs/vmfwupdate.md, byte for byte (what the test firmware writes).
    @Test func fieldsSitAtTheDocumentedOffsets() {
        let bytes = Self.sample.encoded()
        #expect(bytes.loadLE(UInt32.self, at: 8) == 1)        // version
        #expect(bytes.loadLE(UInt32.self, at: 12) == 72)      // length
        #expect(bytes.loadLE(UInt64.self, at: 16) == 1 << 33) // capabilities
        #expect(bytes.loadLE(UInt64.self, at: 24) == 1 << 33) // control
        #expect(bytes.loadLE(UInt64.self, at: 32) == 0x10000) // fw_rom_size
        #expect(bytes.loadLE(UInt64.self, at: 40) == 0x10000) // fw_image_addr
        #expect(bytes.loadLE(UInt64.self, at: 48) == 0x10000) // fw_image_size
        #expect(bytes.loadLE(UInt64.self, at: 56) == 0x8000)  // opaque_addr
        #expect(bytes.loadLE(UInt64.self, at: 64) == 21)      // opaque_size
    }

    @Test func bitsAreTheSeedsValues() {
        #expect(VMFWUpdateBits.formatIGVM.rawValue == 1 << 32)
        #expect(VMFWUpdateBits.formatPlatformROM.rawValue == 1 << 33)
        #expect(VMFWUpdateBits.x86Resize.rawValue == 1)
        #expect(VMFWUpdateBits.disable.rawValue == 1)
    }

    @Test func memoryWithoutTheMagicIsNoMailbox() {
        #expect(VMFWUpdateMailbox.decode([UInt8](repeating: 0, count: 72)) == .absent)
        #expect(VMFWUpdateMailbox.decode([]) == .absent)
    }

    @Test(arguments: [
        (4, 8, UInt64(2), "version 2 is not supported"),
        (4, 12, UInt64(64), "length field is 64"),
    ])
    func anUnknownLayoutIsUnreadable(width: Int, offset: Int, value: UInt64, expected: String) {
        var bytes = Self.sample.encoded()
        bytes.storeLE(UInt32(value), at: offset)  // both fields are 4 bytes wide
        guard case .unreadable(let reason) = VMFWUpdateMailbox.decode(bytes) else {
            Issue.record("decoded a mailbox with \(expected)")
            return
        }
        #expect(reason.contains(expected))
    }

    @Test func aTruncatedReadIsUnreadable() {
        guard case .unreadable = VMFWUpdateMailbox.decode(Array(Self.sample.encoded()[0..<40])) else {
            Issue.record("a 40-byte mailbox decoded")
            return
        }
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

    @Test func anUnknownMachineIsRefused() {
        #expect(throws: GuestMemoryMap.Failure.unsupportedMachine("virt")) {
            try GuestMemoryMap(machine: "virt", ramSize: 1 << 30)
        }
    }

    @Test func rangesThatOverflowCannotBeBuilt() {
        #expect(GuestPhysicalRange(start: .max, length: 2) == nil)
    }
}
