/// The one hexadecimal formatter of numbers for messages and output.
///
/// - Parameters:
///   - uppercase: `0x1F000` (the default, as the IGVM messages print GPAs) or `0x1f000` (as
///     QEMU prints addresses and policies).
///   - prefix: `0x` by default; `""` for bare digits.
///   - width: the least number of digits, zero-padded ("%08x").
public func hex<T: BinaryInteger>(_ value: T, uppercase: Bool = true, prefix: String = "0x", width: Int = 0) -> String {
    let digits = String(value, radix: 16, uppercase: uppercase)
    return prefix + String(repeating: "0", count: max(0, width - digits.count)) + digits
}
