import Numerals

/// The guest-physical address map of a QEMU PC machine at the moment its IGVM loader runs.
///
/// QEMU 10.1 and 10.2 process the IGVM file at the end of `pc_q35_init` (hw/i386/pc_q35.c) and
/// `pc_init1` (hw/i386/pc_piix.c): RAM, the CPUs' local APIC, the IOAPIC and the HPET exist,
/// the first machine reset has not happened yet. So the PAM aliases are still disabled
/// (`init_pam`, hw/pci-host/pam.c; `pam_update` runs at reset) and the SMRAM alias shows an
/// empty PCI window, leaving RAM visible below 1 MiB; the q35 MMCONFIG window (mapped by
/// `mch_update_pciexbar` at reset) is not there; and with an IGVM file
/// `pc_system_firmware_init` (hw/i386/pc_sysfw.c) maps no BIOS.
/// The map is that of the VMs igvm-mgr starts: `-nodefaults` (no VGA window), HPET on.
public struct MachineMemoryMap: Sendable, Hashable, CustomStringConvertible {
    /// The machine families igvm-mgr launches.
    public enum Machine: String, Sendable, CaseIterable {
        case q35, pc

        /// The family of a `-machine` type name: `q35`, `pc-q35-X.Y`, `pc`, `pc-i440fx-X.Y`.
        public init?(machineType: String) {
            if machineType == "q35" || machineType.hasPrefix("pc-q35-") {
                self = .q35
            } else if machineType == "pc" || machineType.hasPrefix("pc-i440fx-") {
                self = .pc
            } else {
                return nil
            }
        }
    }

    /// One memory region of the machine as `memory_region_find` sees it.
    public struct Region: Sendable, Hashable, CustomStringConvertible {
        public var name: String
        public var start: UInt64
        public var size: UInt64
        /// RAM (`memory_region_is_ram`) or device MMIO.
        public var isRAM: Bool

        /// One past the last byte (a region may end at 2^64).
        public var end: UInt128 { UInt128(start) + UInt128(size) }
        public var description: String { "\(name) \(hex(start))-\(hex(end - 1))" }
    }

    public let machine: Machine
    public let ramSize: UInt64
    /// RAM at 0 (`ram-below-4g`) and from 4 GiB (`ram-above-4g`).
    public let belowFourGiB: UInt64
    public let aboveFourGiB: UInt64
    /// Every region, ascending and disjoint.
    public let regions: [Region]

    /// RAM sizes the map describes. Above about 1 TiB QEMU moves high RAM past the AMD
    /// HyperTransport hole (`pc_memory_init`, hw/i386/pc.c) depending on the vCPU vendor, which
    /// this map does not model; 512 GiB keeps well clear of it.
    public static let ramSizes: ClosedRange<UInt64> = (2 << 20)...(512 << 30)
    /// `-m` when the command line gives none (`MachineClass.default_ram_size` of the PC machines).
    public static let qemuDefaultRAMSize: UInt64 = 128 << 20

    static let fourGiB: UInt64 = 1 << 32

    /// Fixed MMIO windows that exist at load time (both machine types).
    static let devices: [Region] = [
        // IO_APIC_DEFAULT_ADDRESS, the "ioapic" region of hw/intc/ioapic.c (0x1000 bytes).
        Region(name: "ioapic", start: 0xFEC0_0000, size: 0x1000, isRAM: false),
        // HPET_BASE, HPET_LEN (hw/timer/hpet.c), created by pc_basic_device_init.
        Region(name: "hpet", start: 0xFED0_0000, size: 0x400, isRAM: false),
        // APIC_DEFAULT_ADDRESS with APIC_SPACE_SIZE (1 MiB, target/i386/cpu.h), mapped by
        // x86_cpu_apic_realize.
        Region(name: "apic-msi", start: 0xFEE0_0000, size: 0x10_0000, isRAM: false),
    ]

    /// The map of `machine` with `ramSize` bytes of RAM, or nil when the size is outside `ramSizes`.
    public init?(machine: Machine, ramSize: UInt64) {
        guard Self.ramSizes.contains(ramSize) else { return nil }
        self.machine = machine
        self.ramSize = ramSize
        belowFourGiB = Self.ramBelowFourGiB(machine: machine, ramSize: ramSize)
        aboveFourGiB = ramSize - belowFourGiB
        var regions = [Region(name: "ram-below-4g", start: 0, size: belowFourGiB, isRAM: true)] + Self.devices
        if aboveFourGiB > 0 {
            regions.append(Region(name: "ram-above-4g", start: Self.fourGiB, size: aboveFourGiB, isRAM: true))
        }
        self.regions = regions
    }

    /// How much of `ramSize` QEMU maps from 0 (`below_4g_mem_size`); the rest goes from 4 GiB.
    public static func ramBelowFourGiB(machine: Machine, ramSize: UInt64) -> UInt64 {
        let lowMemory: UInt64
        switch machine {
        case .q35:
            // pc_q35_init: leave 1/2 GiB for MMIO and 256 MiB for MMCONFIG below 4 GiB.
            lowMemory = ramSize >= 0xB000_0000 ? 0x8000_0000 : 0xB000_0000
        case .pc:
            // pc_init1: max-ram-below-4g defaults to 3.5 GiB; gigabyte_align lowers it to 3 GiB
            // once RAM reaches it.
            lowMemory = ramSize >= 0xE000_0000 ? 0xC000_0000 : 0xE000_0000
        }
        return min(ramSize, lowMemory)
    }

    public var description: String {
        "\(machine.rawValue) with \(IGVMSize.text(ramSize)) RAM"
    }
}

/// Byte sizes as QEMU's `-m` writes them ("512M", "4G") and reads them back.
public enum IGVMSize {
    /// Parses "512M", "4G", "1T", "65536K" or a plain byte count; nil when malformed or overflowing.
    public static func parse(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text.uppercased())
        var scale: UInt64 = 1
        if let last = digits.last, let unit = units[last] {
            scale = unit
            digits = digits.dropLast()
        } else if digits.last == "B" {
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = UInt64(digits) else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : bytes
    }

    /// The largest whole unit: 536870912 → "512M".
    public static func text(_ bytes: UInt64) -> String {
        for (unit, scale) in [("T", UInt64(1) << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)]
        where bytes >= scale && bytes % scale == 0 {
            return "\(bytes / scale)\(unit)"
        }
        return "\(bytes)"
    }
}
