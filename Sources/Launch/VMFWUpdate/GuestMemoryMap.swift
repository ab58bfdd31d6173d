import IGVM

/// A half-open range of guest-physical addresses.
public struct GuestPhysicalRange: Sendable, Hashable, CustomStringConvertible {
    public var start: UInt64
    /// One past the last byte; never overflows (ranges are built with `init?(start:length:)`).
    public var end: UInt64

    public init?(start: UInt64, length: UInt64) {
        let (end, overflow) = start.addingReportingOverflow(length)
        guard !overflow else { return nil }
        self.start = start
        self.end = end
    }

    public var length: UInt64 { end - start }

    public func contains(_ other: GuestPhysicalRange) -> Bool { other.start >= start && other.end <= end }

    public var description: String { "0x\(String(start, radix: 16))..<0x\(String(end, radix: 16))" }
}

/// Where a PC machine puts its RAM, so that a request can be checked against it: the guest must
/// not make the manager read device memory, the BIOS alias or addresses beyond RAM.
///
/// Follows QEMU's hw/i386/pc_q35.c and pc_piix.c: RAM below 4 GiB up to the machine's low-memory
/// limit, the rest from 4 GiB. The legacy hole 0xA0000–0xFFFFF (VGA window, option ROMs, BIOS
/// alias) is not RAM. (QEMU moves high RAM to 1 TiB only for AMD guests above ~1 TiB; such sizes
/// are outside what this map supports and are refused.)
public struct GuestMemoryMap: Sendable, Hashable {
    /// The plain-RAM ranges, ascending.
    public let ranges: [GuestPhysicalRange]

    public enum Failure: Error, Hashable, CustomStringConvertible {
        case unsupportedMachine(String)
        case tooLarge(UInt64)

        public var description: String {
            switch self {
            case .unsupportedMachine(let machine):
                "machine '\(machine)' has no known RAM layout (supported: q35, pc and their versioned names)"
            case .tooLarge(let size):
                "memory size \(size) bytes is beyond the 1 TiB this RAM layout supports"
            }
        }
    }

    static let legacyHoleStart: UInt64 = 0xA_0000
    static let legacyHoleEnd: UInt64 = 0x10_0000
    static let fourGiB: UInt64 = 0x1_0000_0000

    /// The RAM layout of `machine` (a `-machine` type name) with `ramSize` bytes of RAM.
    public init(machine: String, ramSize: UInt64) throws(Failure) {
        guard let family = MachineMemoryMap.Machine(machineType: machine) else { throw .unsupportedMachine(machine) }
        guard ramSize <= 1 << 40 else { throw .tooLarge(ramSize) }
        let below4G = MachineMemoryMap.ramBelowFourGiB(machine: family, ramSize: ramSize)
        var ranges: [GuestPhysicalRange] = []
        ranges.append(GuestPhysicalRange(start: 0, length: min(below4G, Self.legacyHoleStart))!)
        if below4G > Self.legacyHoleEnd {
            ranges.append(GuestPhysicalRange(start: Self.legacyHoleEnd, length: below4G - Self.legacyHoleEnd)!)
        }
        if ramSize > below4G {
            ranges.append(GuestPhysicalRange(start: Self.fourGiB, length: ramSize - below4G)!)
        }
        self.ranges = ranges
    }

    /// True when every byte of `range` is plain RAM (a range may not straddle a hole).
    public func containsRAM(_ range: GuestPhysicalRange) -> Bool {
        ranges.contains { $0.contains(range) }
    }
}
