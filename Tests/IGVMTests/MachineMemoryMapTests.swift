@testable import IGVM
import Testing

/// The PC machines' memory map when QEMU 10.2 loads an IGVM file (hw/i386/pc_q35.c
/// `pc_q35_init`, hw/i386/pc_piix.c `pc_init1`) and `qigvm_prepare_memory` against it.
@Suite struct MachineMemoryMapTests {
    struct Split: Sendable, CustomTestStringConvertible {
        let machine: MachineMemoryMap.Machine
        let ram: UInt64
        let below: UInt64
        var testDescription: String { "\(machine.rawValue) \(IGVMSize.text(ram))" }
    }

    static let GiB: UInt64 = 1 << 30

    /// q35 keeps RAM below 2.75 GiB until it reaches 2.75 GiB, then below 2 GiB; pc keeps it
    /// below 3.5 GiB, then below 3 GiB (gigabyte_align).
    @Test(arguments: [
        Split(machine: .q35, ram: 512 << 20, below: 512 << 20),
        Split(machine: .q35, ram: 0xAFFF_F000, below: 0xAFFF_F000),
        Split(machine: .q35, ram: 0xB000_0000, below: 0x8000_0000),
        Split(machine: .q35, ram: 4 * GiB, below: 0x8000_0000),
        Split(machine: .pc, ram: 0xDFFF_F000, below: 0xDFFF_F000),
        Split(machine: .pc, ram: 0xE000_0000, below: 0xC000_0000),
        Split(machine: .pc, ram: 8 * GiB, below: 0xC000_0000),
    ])
    func ramBelowAndAboveFourGiB(split: Split) throws {
        let map = try #require(MachineMemoryMap(machine: split.machine, ramSize: split.ram))
        #expect(map.belowFourGiB == split.below)
        #expect(map.aboveFourGiB == split.ram - split.below)
        let high = map.regions.first { $0.name == "ram-above-4g" }
        #expect(high?.start == (split.ram > split.below ? 1 << 32 : nil))
    }

    @Test func sizesOutsideTheModelAreRefused() {
        #expect(MachineMemoryMap(machine: .q35, ramSize: 1 << 20) == nil)
        #expect(MachineMemoryMap(machine: .q35, ramSize: 513 << 30) == nil)
        #expect(MachineMemoryMap.Machine(machineType: "pc-q35-10.2") == .q35)
        #expect(MachineMemoryMap.Machine(machineType: "pc-i440fx-9.2") == .pc)
        #expect(MachineMemoryMap.Machine(machineType: "microvm") == nil)
    }

    @Test func sizesAsQEMUWritesThem() {
        #expect(IGVMSize.parse("512M") == 512 << 20)
        #expect(IGVMSize.parse("4g") == 4 << 30)
        #expect(IGVMSize.parse("65536") == 65536)
        #expect(IGVMSize.parse("x") == nil && IGVMSize.parse("99999999999T") == nil && IGVMSize.parse("") == nil)
        #expect(IGVMSize.text(512 << 20) == "512M" && IGVMSize.text(3 << 30) == "3G" && IGVMSize.text(4097) == "4097")
    }

    /// `qigvm_prepare_memory` after `memory_region_find`.
    struct Placement: Sendable, CustomTestStringConvertible {
        let name: String
        let addr: UInt64
        let size: UInt64
        let outcome: String
        var testDescription: String { name }
    }

    @Test(arguments: [
        Placement(name: "inside RAM", addr: 0x10_0000, size: 0x2000, outcome: "ram"),
        Placement(name: "from RAM into unmapped space", addr: 0x1FFF_F000, size: 0x2000, outcome: "size-exceeded"),
        Placement(name: "unmapped, then into the IOAPIC", addr: 0xFEBF_F000, size: 0x2000, outcome: "non-ram"),
        Placement(name: "the HPET", addr: 0xFED0_0000, size: 0x1000, outcome: "non-ram"),
        Placement(name: "top of the local APIC window", addr: 0xFEEF_F000, size: 0x1000, outcome: "non-ram"),
        Placement(name: "just above the local APIC window", addr: 0xFEF0_0000, size: 0x1000, outcome: "created"),
        Placement(name: "firmware below 4 GiB", addr: 0xFFC0_0000, size: 0x40_0000, outcome: "created"),
        Placement(name: "empty, inside RAM", addr: 0x10_0000, size: 0, outcome: "ram"),
        Placement(name: "empty, at the start of RAM (no region found)", addr: 0, size: 0, outcome: "zero-size"),
        Placement(name: "empty, unmapped", addr: 0x8000_0000, size: 0, outcome: "zero-size"),
        Placement(name: "the last page of the address space", addr: 0xFFFF_FFFF_FFFF_F000, size: 0x1000, outcome: "created"),
    ])
    func placement(p: Placement) throws {
        var space = GuestPhysicalSpaceProbe(try #require(MachineMemoryMap(machine: .q35, ramSize: 512 << 20)))
        #expect(space.prepare(p.addr, p.size) == p.outcome)
    }

    /// A region QEMU creates is sized by what first lands there: a later, larger run at the
    /// same address exceeds it; a run inside it fits.
    @Test func createdRegionsKeepTheirFirstSize() throws {
        var space = GuestPhysicalSpaceProbe(try #require(MachineMemoryMap(machine: .q35, ramSize: 512 << 20)))
        #expect(space.prepare(0x8000_0000, 0x2000) == "created")
        #expect(space.prepare(0x8000_1000, 0x1000) == "ram")
        #expect(space.prepare(0x8000_0000, 0x3000) == "size-exceeded")
        #expect(space.prepare(0x7FFF_F000, 0x2000) == "size-exceeded")
    }
}

/// `GuestPhysicalSpace.prepare` with its outcome as a short word for tables.
struct GuestPhysicalSpaceProbe {
    var space: GuestPhysicalSpace
    init(_ map: MachineMemoryMap) { space = GuestPhysicalSpace(map) }

    mutating func prepare(_ addr: UInt64, _ size: UInt64) -> String {
        switch space.prepare(addr, size, identifier: 0) {
        case .existingRAM: "ram"
        case .created: "created"
        case .nonRAM: "non-ram"
        case .sizeExceeded: "size-exceeded"
        case .zeroSizedRegion: "zero-size"
        }
    }
}
