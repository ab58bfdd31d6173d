// Little-endian reading and writing of fixed-layout structures, on top of Numerals' one
// little-endian encoding.
//
// Every caller first proves that the whole structure it decodes lies inside the buffer (one
// check per structure), which makes "every read is bounds-checked" auditable in one place per
// struct.

import Numerals

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

    func u16(_ offset: Int) -> UInt16 { bytes.loadLE(UInt16.self, at: base + offset) }
    func u32(_ offset: Int) -> UInt32 { bytes.loadLE(UInt32.self, at: base + offset) }
    func u64(_ offset: Int) -> UInt64 { bytes.loadLE(UInt64.self, at: base + offset) }

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
    mutating func u16(_ v: UInt16) { bytes.appendLE(v) }
    mutating func u32(_ v: UInt32) { bytes.appendLE(v) }
    mutating func u64(_ v: UInt64) { bytes.appendLE(v) }
    mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    mutating func zeros(_ count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }

    /// Pads with zeros to the next multiple of `alignment`.
    mutating func align(_ alignment: Int) {
        let rem = bytes.count % alignment
        if rem != 0 { zeros(alignment - rem) }
    }
}
