import ObjectModel
import Testing

/// The lines of QEMU and GLib that decide a base64 property's verdict, quoted so each table row
/// can cite the one that decides it.
enum Cite {
    static let qemuCharset = #"util/base64.c qbase64_decode: `if (strspn(input, base64_valid_chars) != in_len)` → "Base64 data contains invalid characters""#
    static let qemuNewline = #"util/base64.c: `base64_valid_chars = "…0123456789+/=\n"` lets a newline through; glib/gbase64.c g_base64_decode_step skips it: `if (rank != 0xff)`"#
    static let qemuNUL = #"qobject/json-parser.c turns \u0000 into the overlong pair C0 80, then util/base64.c `strspn(input, base64_valid_chars) != in_len`"#
    static let glibGroups = "glib/gbase64.c g_base64_decode_step: bytes are emitted only `if (i==4)` (a complete group); a trailing partial group is left in *state and g_base64_decode drops it"
    static let glibPadding = "glib/gbase64.c g_base64_decode_step: `*outptr++ = v>>16; if (last[1] != '=') *outptr++ = v>>8; if (last[0] != '=') *outptr++ = v;` ('=' has rank 0 in mime_base64_rank)"
    static let glibEmpty = "glib/gbase64.c g_base64_decode: `ret = g_malloc0 ((input_length / 4) * 3 + 1)` is never NULL, so qbase64_decode succeeds with *out_len = 0"

    /// The setter's length check for each blob property (target/i386/sev.c).
    static func setter(_ property: String) -> String {
        switch property {
        case "guest-visible-workarounds":
            return "sev.c sev_snp_guest_set_guest_visible_workarounds: `if (len != sizeof(start->gosvw))` (16; QEMU's message wrongly says \"exceeds max\")"
        case "id-block": return "sev.c sev_snp_guest_set_id_block: `if (len != KVM_SEV_SNP_ID_BLOCK_SIZE)` (96)"
        case "id-auth": return "sev.c sev_snp_guest_set_id_auth: `if (len > KVM_SEV_SNP_ID_AUTH_SIZE)` (4096)"
        case "host-data": return "sev.c sev_snp_guest_set_host_data: `if (len != sizeof(finish->host_data))` (32)"
        default: return "?"
        }
    }
}

/// One row of the base64 table: a value for one blob property and QEMU's verdict on it.
struct Base64Case: Sendable, CustomTestStringConvertible {
    var property: String
    var label: String
    var text: String
    /// What GLib decodes it to, nil when qbase64_decode refuses the characters.
    var decodesTo: Int?
    var accepted: Bool
    /// The QEMU/GLib line that decides the verdict.
    var decidedBy: String

    var testDescription: String { "\(property) \(label) → \(accepted ? "accepted" : "rejected") [\(decidedBy)]" }
}

enum Base64Table {
    /// (property, n, exact?) — exact: decoded length must equal n; else at most n.
    static let properties: [(String, Int, Bool)] = [
        ("guest-visible-workarounds", 16, true), ("id-block", 96, true),
        ("id-auth", 4096, false), ("host-data", 32, true),
    ]

    /// Standard padded base64 of `count` non-zero bytes (Python's base64.b64encode agrees).
    static func encoded(_ count: Int) -> String {
        QEMUBase64.encode((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) })
    }

    static func replacing(_ text: String, at index: Int, with c: Character) -> String {
        var chars = Array(text)
        chars[index] = c
        return String(chars)
    }

    static let cases: [Base64Case] = properties.flatMap { property, n, exact -> [Base64Case] in
        let setter = Cite.setter(property)
        func accepts(_ len: Int) -> Bool { exact ? len == n : len <= n }
        func decoded(_ label: String, _ text: String, _ len: Int, _ cite: String) -> Base64Case {
            Base64Case(property: property, label: label, text: text, decodesTo: len, accepted: accepts(len),
                       decidedBy: accepts(len) ? cite : "\(cite); then \(setter)")
        }
        func invalid(_ label: String, _ text: String, _ cite: String = Cite.qemuCharset) -> Base64Case {
            Base64Case(property: property, label: label, text: text, decodesTo: nil, accepted: false, decidedBy: cite)
        }
        let good = encoded(n)
        let stripped = String(good.reversed().drop { $0 == "=" }.reversed())
        return [
            decoded("n-1 bytes", encoded(n - 1), n - 1, setter),
            decoded("n bytes", good, n, setter),
            decoded("n+1 bytes", encoded(n + 1), n + 1, setter),
            decoded("empty", "", 0, Cite.glibEmpty),
            invalid("leading space", " " + good),
            decoded("trailing newline", good + "\n", n, Cite.qemuNewline),
            decoded("newlines every 4 characters (MIME style)", stride(from: 0, to: good.count, by: 4).map {
                String(Array(good)[$0..<min($0 + 4, good.count)]) }.joined(separator: "\n"), n, Cite.qemuNewline),
            decoded("newline splitting a group", "A\nA" + String(good.dropFirst(2)), n, Cite.qemuNewline),
            invalid("CRLF line end", good + "\r\n"),
            invalid("inner space", replacing(good, at: 8, with: " ")),
            invalid("tab", good + "\t"),
            invalid("base64url '-'", replacing(good, at: 1, with: "-")),
            invalid("base64url '_'", replacing(good, at: 1, with: "_")),
            invalid("non-ASCII é", replacing(good, at: 2, with: "é")),
            invalid("comma", replacing(good, at: 2, with: ",")),
            invalid("NUL", replacing(good, at: 4, with: "\u{0}"), Cite.qemuNUL),
            // Stripping the padding leaves a partial last group, which GLib drops.
            decoded("missing padding (\(good.count - stripped.count) '=' removed)", stripped, stripped.count / 4 * 3,
                    good == stripped ? Cite.glibPadding : Cite.glibGroups),
            decoded("one extra '='", good + "=", n, Cite.glibGroups),
            decoded("extra '===='", good + "====", n + 1, Cite.glibPadding),
            decoded("embedded '=' as 4th char of a group", replacing(good, at: 3, with: "="), n - 1, Cite.glibPadding),
            decoded("embedded '=' as 1st char of a group", replacing(good, at: 0, with: "="), n, Cite.glibPadding),
            decoded("padded group mid-stream", "AA==" + encoded(n - 1), n, Cite.glibPadding),
            decoded("'AA=A' group", "AA=A" + String(good.dropFirst(4)), n - 1, Cite.glibPadding),
        ]
    }
}
