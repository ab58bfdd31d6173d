// Little-endian reading and writing of fixed-layout structures.
//
// Reads never check bounds themselves: every caller first proves that the whole structure it
// decodes lies inside the buffer (one check per structure), which keeps the hot loops free of
// per-field branches and makes "every read is bounds-checked" auditable in one place per struct.

/// A view of little-endian fields inside a byte array, starting at `base`.
struct LEReader {
    let bytes: [UInt8]
    let base: Int

    init(_ bytes: [UInt8], at base: Int = 0) {
        self.bytes = bytes
        self.base = base
    }

    /// True when `count` bytes starting at `offset` (relative to `base`) lie inside the buffer.
    static func fits(_ bytes: [UInt8], offset: Int, count: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= bytes.count && count <= bytes.count - offset
    }

    func u8(_ offset: Int) -> UInt8 { bytes[base + offset] }

    func u16(_ offset: Int) -> UInt16 {
        UInt16(bytes[base + offset]) | UInt16(bytes[base + offset + 1]) << 8
    }

    func u32(_ offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: base + offset, as: UInt32.self) }.littleEndian
    }

    func u64(_ offset: Int) -> UInt64 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: base + offset, as: UInt64.self) }.littleEndian
    }

    func array(_ offset: Int, _ count: Int) -> [UInt8] {
        Array(bytes[(base + offset)..<(base + offset + count)])
    }

    /// True when every byte in `offset..<offset+count` is zero.
    func isZero(_ offset: Int, _ count: Int) -> Bool {
        bytes[(base + offset)..<(base + offset + count)].allSatisfy { $0 == 0 }
    }
}

/// Appends little-endian fields to a growing byte array.
struct LEWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    mutating func zeros(_ count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }

    /// Pads with zeros to the next multiple of `alignment`.
    mutating func align(_ alignment: Int) {
        let rem = bytes.count % alignment
        if rem != 0 { zeros(alignment - rem) }
    }
}

/// In-place little-endian stores into a fixed buffer (used by fixed-size structures like the VMSA).
extension Array where Element == UInt8 {
    mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { src in
            for i in 0..<src.count { self[offset + i] = src[i] }
        }
    }

    func loadLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}

/// Hexadecimal formatting used in messages ("0x1F000").
func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16, uppercase: true) }
