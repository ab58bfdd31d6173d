import Numerals

/// Which byte of a TCB_VERSION holds which security patch level. AMD changed the layout with
/// Turin (SEV-SNP Firmware ABI specification 56860, "TCB_VERSION" and the Turin-family table):
/// Milan and Genoa have no FMC byte and keep SNP in byte 6.
public enum TCBLayout: String, Sendable, CaseIterable {
    /// `[BL, TEE, 0, 0, 0, 0, SNP, UCODE]` (Milan, Genoa).
    case milanGenoa = "milan-genoa"
    /// `[FMC, BL, TEE, SNP, 0, 0, 0, UCODE]` (Turin).
    case turin

    /// Byte index of each part in the little-endian u64.
    var fmcByte: Int? { self == .turin ? 0 : nil }
    var bootloaderByte: Int { self == .turin ? 1 : 0 }
    var teeByte: Int { self == .turin ? 2 : 1 }
    var snpByte: Int { self == .turin ? 3 : 6 }
    var microcodeByte: Int { 7 }
}

/// A TCB_VERSION (u64): the security patch levels of the firmware components, as REPORTED_TCB,
/// CURRENT_TCB, COMMITTED_TCB and LAUNCH_TCB carry them and the VCEK's extensions name them.
public struct TCBVersion: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64
    public let layout: TCBLayout

    public init(rawValue: UInt64, layout: TCBLayout) {
        self.rawValue = rawValue
        self.layout = layout
    }

    /// Builds the raw value from parts (the inverse of the accessors; reserved bytes zero).
    public init(layout: TCBLayout, fmc: UInt8? = nil, bootloader: UInt8, tee: UInt8, snp: UInt8, microcode: UInt8) {
        var bytes = [UInt8](repeating: 0, count: 8)
        if let index = layout.fmcByte { bytes[index] = fmc ?? 0 }
        bytes[layout.bootloaderByte] = bootloader
        bytes[layout.teeByte] = tee
        bytes[layout.snpByte] = snp
        bytes[layout.microcodeByte] = microcode
        self.init(rawValue: bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) }, layout: layout)
    }

    private func byte(_ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: rawValue >> UInt64(8 * index)) }

    /// FMC SPL (Turin only).
    public var fmc: UInt8? { layout.fmcByte.map(byte) }
    public var bootloader: UInt8 { byte(layout.bootloaderByte) }
    public var tee: UInt8 { byte(layout.teeByte) }
    public var snp: UInt8 { byte(layout.snpByte) }
    public var microcode: UInt8 { byte(layout.microcodeByte) }

    /// The named parts in order, as `snpguest display` and AMD's KDS name them.
    public var parts: [(name: String, value: UInt8)] {
        var out: [(String, UInt8)] = []
        if let fmc { out.append(("fmc", fmc)) }
        out += [("bootloader", bootloader), ("tee", tee), ("snp", snp), ("microcode", microcode)]
        return out
    }

    /// True when every part is at least the other's (the "minimum TCB" test: a lower SPL in any
    /// one component means a firmware with known, fixed vulnerabilities).
    public func meets(_ minimum: TCBVersion) -> Bool {
        let mine = Dictionary(uniqueKeysWithValues: parts.map { ($0.name, $0.value) })
        return minimum.parts.allSatisfy { (mine[$0.name] ?? 0) >= $0.value }
    }

    /// `bootloader 3, tee 0, snp 8, microcode 115 (0x7300000000000003)`.
    public var description: String {
        parts.map { "\($0.name) \($0.value)" }.joined(separator: ", ") + " (" + hex(rawValue, uppercase: false) + ")"
    }
}
