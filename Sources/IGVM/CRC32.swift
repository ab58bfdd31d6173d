import Numerals

/// CRC-32/ISO-HDLC (zlib's `crc32`, Rust's `crc32fast`): reflected polynomial 0xEDB88320,
/// initial value and final xor 0xFFFFFFFF. IGVM's header checksum uses it (microsoft/igvm
/// `igvm/src/lib.rs`; docs/background.md, "The format").
public struct CRC32: Sendable {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// Feeds `bytes[range]` into the checksum.
    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let table = Self.table
        var c = state
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        state = c
    }

    /// The checksum of everything fed so far.
    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    /// The checksum of one buffer.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}

/// The IGVM header checksum, as libigvm's `serialize` and `new_from_binary` compute it
/// (microsoft/igvm `igvm/src/lib.rs`).
public enum IGVMChecksum {
    /// The checksum libigvm expects for `bytes`: CRC-32 of the fixed header (24 bytes for V1,
    /// 32 for V2, checksum zeroed) and the variable-header section. Nil when the fixed header
    /// or the section it names does not fit in `bytes`.
    public static func expected(for bytes: [UInt8]) -> UInt32? {
        guard bytes.count >= 24 else { return nil }
        let r = LEReader(bytes)
        let headerSize = r.u32(4) == 2 ? 32 : 24
        let offset = Int(r.u32(8)), size = Int(r.u32(0xC))
        guard bytes.count >= headerSize, LEReader.fits(bytes, offset: offset, count: size) else { return nil }
        var crc = CRC32()
        crc.update(bytes[0..<0x14])
        crc.update([0, 0, 0, 0])
        crc.update(bytes[0x18..<headerSize])
        crc.update(bytes[offset..<(offset + size)])
        return crc.value
    }

    /// Rewrites the checksum field so that it matches; false when it cannot be computed.
    /// Used to build test files that break exactly one other rule, and by the fuzzer to get
    /// past the checksum.
    @discardableResult
    public static func repair(_ bytes: inout [UInt8]) -> Bool {
        guard let value = expected(for: bytes) else { return false }
        bytes.storeLE(value, at: 0x14)
        return true
    }
}
