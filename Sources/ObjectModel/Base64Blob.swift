import Numerals

/// A base64 string property of a QOM object (`id-block`, `host-data`, …) together with the decoded
/// length QEMU requires of it.
///
/// The text is kept exactly as given: QEMU stores the string and decodes it in the setter, and
/// whether QEMU accepts it depends on the exact characters (see `QEMUBase64`). A blob therefore
/// never normalises its text; render → parse gives the same text back.
public struct Base64Blob: Sendable, Hashable, CustomStringConvertible {
    /// The decoded length the property demands.
    public enum LengthRule: Sendable, Hashable, CustomStringConvertible {
        case exactly(Int)
        case atMost(Int)

        public func accepts(_ count: Int) -> Bool {
            switch self {
            case .exactly(let n): return count == n
            case .atMost(let n): return count <= n
            }
        }

        public var description: String {
            switch self {
            case .exactly(let n): return "exactly \(n) bytes"
            case .atMost(let n): return "at most \(n) bytes"
            }
        }
    }

    /// The base64 text exactly as it is passed to QEMU.
    public var text: String
    public var length: LengthRule

    public init(text: String, length: LengthRule) {
        self.text = text
        self.length = length
    }

    /// Standard (padded) base64 of `bytes`.
    public init(bytes: some Sequence<UInt8>, length: LengthRule) {
        self.init(text: QEMUBase64.encode(Array(bytes)), length: length)
    }

    /// The bytes QEMU would use, or why QEMU rejects the text (the message names the decoded length
    /// and the requirement, e.g. `decodes to 95 bytes, must be 96`).
    public func decoded() -> Result<[UInt8], Base64Problem> {
        let bytes: [UInt8]
        switch QEMUBase64.decode(text) {
        case .failure(let e): return .failure(e)
        case .success(let b): bytes = b
        }
        guard length.accepts(bytes.count) else {
            return .failure(.wrongLength(decoded: bytes.count, rule: length))
        }
        return .success(bytes)
    }

    public var description: String { text }
}

/// Why QEMU refuses a base64 property value.
public enum Base64Problem: Error, Sendable, Hashable, CustomStringConvertible {
    /// `util/base64.c` `qbase64_decode`: a byte outside `A-Z a-z 0-9 + / =` and newline (QEMU:
    /// "Base64 data contains invalid characters"). `offset` is the first such byte (UTF-8 offset).
    case invalidCharacter(offset: Int, character: Character)
    /// The setter's length check on GLib's decoded length (QEMU's own message is sometimes wrong,
    /// e.g. "exceeds max of 16" for a blob that is too short).
    case wrongLength(decoded: Int, rule: Base64Blob.LengthRule)

    public var description: String {
        switch self {
        case .invalidCharacter(let offset, let c):
            let shown = c.unicodeScalars.map { s in
                s.isASCII && s.value >= 0x20 && s.value < 0x7F
                    ? String(Character(s)) : hex(s.value, prefix: "U+")
            }.joined()
            return "not base64: character '\(shown)' at offset \(offset) (only A-Z a-z 0-9 + / = and newline are allowed)"
        case .wrongLength(let n, .exactly(let want)):
            return "decodes to \(n) byte\(n == 1 ? "" : "s"), must be \(want)"
        case .wrongLength(let n, .atMost(let max)):
            return "decodes to \(n) bytes, must be at most \(max)"
        }
    }
}

/// QEMU's base64 decoding, bit for bit: `qbase64_decode` (util/base64.c) followed by GLib's
/// `g_base64_decode` (glib/gbase64.c).
///
/// - `qbase64_decode(input, -1, …)`: `strspn(input, base64_valid_chars) != strlen(input)` →
///   "Base64 data contains invalid characters", where `base64_valid_chars` is `A-Za-z0-9+/=`
///   **and `\n`** (so a newline anywhere is accepted, unlike every other whitespace; the real
///   QEMU parity test found this). Space, tab, CR, NUL (QEMU's JSON parser turns `\u0000` into
///   the overlong pair C0 80, which fails this too), `-`, `_` and every non-ASCII byte are
///   rejected here.
/// - `g_base64_decode` never fails: `g_base64_decode_step` skips characters of rank 0xff (the
///   newline), ranks the rest (`=` ranks 0); each complete group of four ranked characters emits
///   `v>>16`, then `v>>8` unless the group's third character is `=`, then `v` unless its fourth
///   is `=`. A trailing incomplete group is dropped silently. So `"AA"` → 0 bytes, `"A==="` →
///   1 byte, `"AA=A"` → 2 bytes, `"AA==AAAA"` → 4 bytes, `""` → 0, `"AA\nAA"` → 3.
public enum QEMUBase64 {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// GLib's `mime_base64_rank` restricted to the characters `qbase64_decode` lets through.
    static func rank(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a") + 26)
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0") + 52)
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        case UInt8(ascii: "="): return 0
        default: return nil
        }
    }

    /// The bytes QEMU decodes from `text`, or the invalid character `qbase64_decode` stops at.
    public static func decode(_ text: String) -> Result<[UInt8], Base64Problem> {
        // The ranked characters (newlines skipped, as GLib's rank 0xff) and their ranks.
        var chars: [UInt8] = []
        var ranks: [UInt32] = []
        chars.reserveCapacity(text.utf8.count)
        ranks.reserveCapacity(text.utf8.count)
        for (i, c) in text.utf8.enumerated() {
            if c == UInt8(ascii: "\n") { continue }
            guard let r = rank(c) else {
                return .failure(.invalidCharacter(offset: i, character: character(at: i, in: text)))
            }
            chars.append(c)
            ranks.append(r)
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        var group = 0
        while group + 4 <= chars.count {
            let v = ranks[group] << 18 | ranks[group + 1] << 12 | ranks[group + 2] << 6 | ranks[group + 3]
            out.append(UInt8(truncatingIfNeeded: v >> 16))
            if chars[group + 2] != UInt8(ascii: "=") { out.append(UInt8(truncatingIfNeeded: v >> 8)) }
            if chars[group + 3] != UInt8(ascii: "=") { out.append(UInt8(truncatingIfNeeded: v)) }
            group += 4
        }
        return .success(out)
    }

    /// Why `text` is not the standard padded base64 of what QEMU decodes from it (`"A==="`, a
    /// dropped trailing group, `=` inside the text), or nil when it is (newlines aside, which
    /// QEMU skips). QEMU takes such text silently, but the bytes it uses are not the ones a
    /// standard decoder reads: almost certainly a mistake, so igvm-mgr will not launch it.
    public static func nonCanonical(_ text: String, decoded: [UInt8]) -> String? {
        let written = String(decoding: text.utf8.filter { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let standard = encode(decoded)
        guard written != standard else { return nil }
        return "not standard base64: QEMU decodes it to \(decoded.count) byte\(decoded.count == 1 ? "" : "s"), whose base64 is \(standard.count > 24 ? String(standard.prefix(21)) + "..." : standard) (misplaced or extra '=' padding, or a trailing incomplete group QEMU drops)"
    }

    /// Standard padded base64 (what GLib's `g_base64_encode` produces).
    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let v = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(i + 1 < bytes.count ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(v & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func character(at utf8Offset: Int, in text: String) -> Character {
        let idx = text.utf8.index(text.utf8.startIndex, offsetBy: utf8Offset)
        let aligned = idx.samePosition(in: text) ?? text[..<idx].indices.last ?? text.startIndex
        return text[aligned]
    }
}
