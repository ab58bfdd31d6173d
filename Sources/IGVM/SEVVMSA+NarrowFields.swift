import Numerals

// 16- and 32-bit VMSA fields (MXCSR, x87 FCW, …) for callers outside the module, which can
// only reach the page through SEVVMSA's 64-bit accessors.

extension SEVVMSA {
    public func u32(at offset: Int) -> UInt32 { bytes.loadLE(UInt32.self, at: offset) }
    public func u16(at offset: Int) -> UInt16 { bytes.loadLE(UInt16.self, at: offset) }

    /// Stores a 32-bit field (offset ≤ 4092).
    public mutating func setU32(_ value: UInt32, at offset: Int) {
        setNarrow(UInt64(value), width: 4, at: offset)
    }

    /// Stores a 16-bit field (offset ≤ 4094).
    public mutating func setU16(_ value: UInt16, at offset: Int) {
        setNarrow(UInt64(value), width: 2, at: offset)
    }

    /// Read-modify-write of the aligned-down 8 bytes holding the field, through `setU64`.
    private mutating func setNarrow(_ value: UInt64, width: Int, at offset: Int) {
        precondition(offset >= 0 && offset + width <= 4096, "VMSA field outside the page")
        let base = min(offset, 4096 - 8)
        let shift = UInt64((offset - base) * 8)
        let mask: UInt64 = (width == 8 ? ~0 : (1 << UInt64(width * 8)) - 1) << shift
        setU64((u64(at: base) & ~mask) | (value << shift), at: base)
    }
}
