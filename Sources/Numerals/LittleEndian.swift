// The one little-endian encoding of integers into bytes. Every ABI structure this project reads
// or writes is little-endian: IGVM (microsoft/igvm `igvm_defs`), the SEV-SNP ABI structures
// (AMD 56860: ID block, attestation report, PAGE_INFO), OVMF's tables and QEMU's fw_cfg files.
//
// Loads and stores never check bounds themselves: each caller first proves that the whole
// structure it decodes lies inside the buffer (one check per structure), so an out-of-range
// offset is a bug that traps rather than a value that is quietly short.

public enum LittleEndian {
    /// `value`'s bytes, least significant first.
    public static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        var out: [UInt8] = []
        out.appendLE(value)
        return out
    }
}

extension Array where Element == UInt8 {
    /// Appends `value`'s bytes, least significant first.
    public mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// Overwrites `MemoryLayout<T>.size` bytes at `offset` with `value`, least significant first.
    public mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset >= 0 && offset <= count - MemoryLayout<T>.size, "storeLE out of bounds")
        Swift.withUnsafeBytes(of: value.littleEndian) { src in
            withUnsafeMutableBytes { $0.baseAddress!.advanced(by: offset).copyMemory(from: src.baseAddress!, byteCount: src.count) }
        }
    }

    /// The `T` stored least significant byte first at `offset`.
    public func loadLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        precondition(offset >= 0 && offset <= count - MemoryLayout<T>.size, "loadLE out of bounds")
        return withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}
