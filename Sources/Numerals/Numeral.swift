/// The one reader of numbers written as text (config values, option values, QMP strings).
///
/// Strict on purpose: ASCII digits only, no sign, no `_` separators, no spaces, at most 16 hex
/// digits. Swift's `UInt64(_:radix:)` alone would accept `"+30000"`, so `"0x+30000"` would
/// read as a policy; a value the user did not mean must be an error, not a number.
public enum Numeral {
    /// `0x` or `0X` and 1 to 16 hexadecimal digits.
    public static func hex(_ text: some StringProtocol) -> UInt64? {
        guard text.hasPrefix("0x") || text.hasPrefix("0X") else { return nil }
        return hexDigits(text.dropFirst(2))
    }

    /// 1 to 16 hexadecimal digits, with or without a `0x` prefix.
    public static func hexWithOptionalPrefix(_ text: some StringProtocol) -> UInt64? {
        hex(text) ?? hexDigits(text)
    }

    /// `0x…` hexadecimal, or decimal digits.
    public static func hexOrDecimal(_ text: some StringProtocol) -> UInt64? {
        hex(text) ?? decimal(text)
    }

    /// 1 to 20 decimal digits that fit in 64 bits.
    public static func decimal(_ text: some StringProtocol) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(text)
    }

    /// 1 to 16 hexadecimal digits, nothing else.
    public static func hexDigits(_ text: some StringProtocol) -> UInt64? {
        guard (1...16).contains(text.utf8.count), text.utf8.allSatisfy(isHexDigit) else { return nil }
        return UInt64(text, radix: 16)
    }

    private static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
    }
}
