import Numerals

/// What the SEV and the SEV-SNP guest policies share (different bits, same handling): named flag
/// bits, byte-wide version fields, hex text.
public protocol GuestPolicyBits: OptionSet, Sendable, Hashable, CustomStringConvertible
where RawValue: FixedWidthInteger & UnsignedInteger, Element == Self {
    /// The named single-bit flags in bit order, with the names `inspect` and `attest` print.
    static var namedFlags: [(name: String, flag: Self)] { get }
}

extension GuestPolicyBits {
    /// Names of the named flags that are set, in bit order.
    public var setBitNames: [String] { Self.namedFlags.filter { contains($0.flag) }.map(\.name) }

    /// As the specs and QEMU's documentation write a policy: `0x30000`.
    public var description: String { hex(rawValue, uppercase: false) }

    /// Parses hex, with or without a `0x`/`0X` prefix (`"0x30000"`, `"30000"`); nil when the
    /// value does not fit the policy's width.
    public init?(hex text: String) {
        guard let v = Numeral.hexWithOptionalPrefix(text), let raw = RawValue(exactly: v) else { return nil }
        self.init(rawValue: raw)
    }

    /// The byte-wide field at bits `shift + 7 : shift` (the version fields).
    func byteField(at shift: Int) -> UInt8 { UInt8(truncatingIfNeeded: rawValue >> shift) }

    mutating func setByteField(_ value: UInt8, at shift: Int) {
        self = Self(rawValue: rawValue & ~(RawValue(0xFF) << shift) | RawValue(value) << shift)
    }
}
