import Numerals
import Foundation

/// Hexadecimal text, as sev-snp-measure prints digests (lower case).
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes an even number of hex digits (either case, optional `0x` prefix); nil otherwise.
    public static func decode(_ text: String) -> [UInt8]? {
        var utf8 = Substring(text).utf8[...]
        if utf8.starts(with: "0x".utf8) || utf8.starts(with: "0X".utf8) { utf8 = utf8.dropFirst(2) }
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var high: UInt8?
        for c in utf8 {
            guard let v = nibble(c) else { return nil }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? { Numeral.hexDigitValue(c) }
}

/// Standard base64 with padding (RFC 4648 §4), as QEMU's `id-block`/`id-auth` properties and
/// sev-snp-measure's `--output-format base64` use it: Foundation's codec, not another one of ours.
/// (ObjectModel's `QEMUBase64` is separate on purpose: it reproduces QEMU's and GLib's verdicts.)
public enum Base64 {
    public static func encode(_ input: some Collection<UInt8>) -> String {
        Data(input).base64EncodedString()
    }

    /// Decodes padded base64, ignoring ASCII whitespace; nil if the text is not base64.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = text.utf8.filter { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        // Foundation accepts padding inside the text ("Zm=8"); base64 has it only at the end.
        guard chars.drop(while: { $0 != UInt8(ascii: "=") }).allSatisfy({ $0 == UInt8(ascii: "=") }) else { return nil }
        return Data(base64Encoded: Data(chars)).map { [UInt8]($0) }
    }
}
