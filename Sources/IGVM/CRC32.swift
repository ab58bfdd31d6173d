/// CRC-32/ISO-HDLC (zlib's `crc32`, Rust's `crc32fast`): reflected polynomial 0xEDB88320,
/// initial value and final xor 0xFFFFFFFF. IGVM's header checksum uses it (ref §1.2).
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
