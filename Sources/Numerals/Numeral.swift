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
        digits(text, radix: 10)
    }

    /// 1 to 16 hexadecimal digits, nothing else.
    public static func hexDigits(_ text: some StringProtocol) -> UInt64? {
        text.utf8.count <= 16 ? digits(text, radix: 16) : nil
    }

    /// One or more digits of `radix` (2 to 16; either case), nothing else, whose value fits in
    /// 64 bits; leading zeros are allowed in any number (C's `strtoull` allows them). The core
    /// of every reader above, and what readers of other syntaxes (QEMU's `qemu_strtou64`, octal
    /// or binary options) build on once they have taken off their own prefix.
    public static func digits(_ text: some StringProtocol, radix: Int) -> UInt64? {
        precondition((2...16).contains(radix))
        guard !text.isEmpty, text.utf8.allSatisfy({ digitValue($0).map { $0 < radix } ?? false }) else { return nil }
        return UInt64(text, radix: radix)
    }

    private static func digitValue(_ c: UInt8) -> Int? { hexDigitValue(c).map(Int.init) }

    /// The value of one hexadecimal digit (either case), or nil for any other byte.
    public static func hexDigitValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}
