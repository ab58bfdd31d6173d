import Numerals

/// The machine's memory regions plus those QEMU's IGVM loader adds, and the loader's
/// `qigvm_prepare_memory` (backends/igvm.c) applied to them: the one place that decides
/// whether a page run, a parameter area or required memory can be placed.
struct GuestPhysicalSpace {
    typealias Region = MachineMemoryMap.Region

    /// Ascending, disjoint.
    private(set) var regions: [Region]

    init(_ map: MachineMemoryMap) { regions = map.regions }

    /// What `qigvm_prepare_memory(addr, size)` does.
    enum Preparation: Equatable {
        /// The range lies inside one RAM region; QEMU writes into it.
        case existingRAM(Region)
        /// Nothing was mapped there; QEMU adds a RAM region "igvm.N" of exactly this size.
        case created(Region)
        /// "Could not prepare memory at address … due to existing non-RAM region".
        case nonRAM(Region)
        /// "Could not prepare memory at address …: region size exceeded": the first region the
        /// range meets is RAM but ends (or starts) inside the range.
        case sizeExceeded(Region)
        /// Nothing mapped and size 0: `memory_region_init_ram` asserts in `find_ram_offset`.
        case zeroSizedRegion

        var isFailure: Bool {
            switch self {
            case .existingRAM, .created: false
            case .nonRAM, .sizeExceeded, .zeroSizedRegion: true
            }
        }
    }

    /// `memory_region_find(get_system_memory(), addr, size)`: the lowest region the range
    /// meets and how many of the range's bytes fall in it. `flatview_lookup` compares an empty
    /// range [addr, addr) as lying inside a region only when addr is past the region's start.
    func find(_ addr: UInt64, _ size: UInt64) -> (region: Region, overlap: UInt64)? {
        let start = UInt128(addr), end = UInt128(addr) + UInt128(size)
        for region in regions {
            let rStart = UInt128(region.start), rEnd = region.end
            let meets = size == 0 ? (rStart < start && start < rEnd) : (rStart < end && start < rEnd)
            if meets { return (region, UInt64(min(rEnd, end) - max(rStart, start))) }
        }
        return nil
    }

    /// `qigvm_prepare_memory(ctx, addr, size, region_identifier)`; adds the region it creates.
    mutating func prepare(_ addr: UInt64, _ size: UInt64, identifier: Int) -> Preparation {
        if let (region, overlap) = find(addr, size) {
            guard region.isRAM else { return .nonRAM(region) }
            return overlap < size ? .sizeExceeded(region) : .existingRAM(region)
        }
        guard size > 0 else { return .zeroSizedRegion }
        let created = Region(name: "igvm.\(hex(identifier, prefix: ""))", start: addr, size: size, isRAM: true)
        regions.insert(created, at: regions.firstIndex { $0.start > addr } ?? regions.endIndex)
        return .created(created)
    }
}
