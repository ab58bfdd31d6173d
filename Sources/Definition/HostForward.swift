/// One `hostfwd` rule of a user-mode NIC, checked when the definition is read so that a typo is
/// a config problem rather than QEMU's refusal at start, or worse, a rule QEMU reads otherwise.
///
/// QEMU's grammar (net/slirp.c, `slirp_hostfwd()`):
/// `[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT`. igvm-mgr accepts a strict subset of
/// what QEMU 10.0 takes, the subset that reads only one way:
/// - the protocol is empty (TCP), `tcp` or `udp`, lower case as QEMU compares it (`strcmp`);
/// - an address is empty (host: every address; guest: the DHCP address, 10.0.2.15) or four
///   decimal numbers 0–255 without leading zeros. QEMU reads addresses with `inet_aton()`, so
///   it takes no hostname and no IPv6 address; it would also take `127.1`, octal `010.0.0.1`
///   and anything after a space, which this check refuses;
/// - ports are decimal without sign or leading zeros: the host port 0–65535 (0: the kernel
///   picks one), the guest port 1–65535 (QEMU's ranges). QEMU reads them with `qemu_strtoi()`
///   in base 0 and ignores what follows the digits, so `0x16`, `022` (octal 18) and `22x`
///   would reach it as other ports or as the same port with junk; they are refused here.
public struct HostForward: Sendable, Equatable {
    public enum Proto: String, Sendable { case tcp, udp }

    public var proto: Proto
    /// nil: QEMU's default (host: INADDR_ANY; guest: the first DHCP address).
    public var hostAddress: String?
    public var hostPort: Int
    public var guestAddress: String?
    public var guestPort: Int

    /// The form a problem message shows.
    public static let form = "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"

    /// Parses `rule`; throws a `Refusal` saying which part is wrong.
    public init(_ rule: String) throws {
        // Three fields split on ':' before the '-', two after, exactly as QEMU splits them.
        let halves = rule.split(separator: "-", omittingEmptySubsequences: false)
        guard halves.count == 2 else {
            throw Refusal(halves.count < 2 ? "no \"-\" between the host and the guest side" : "more than one \"-\"")
        }
        let host = halves[0].split(separator: ":", omittingEmptySubsequences: false)
        let guest = halves[1].split(separator: ":", omittingEmptySubsequences: false)
        switch host[0] {
        case "", "tcp": proto = .tcp
        case "udp": proto = .udp
        default: throw Refusal("protocol \(JSONQuoted(String(host[0]))) is not \"tcp\", \"udp\" or empty")
        }
        let ipv6 = " (QEMU 10.0 takes no IPv6 address here)"
        guard host.count == 3 else {
            throw Refusal("the host side \(JSONQuoted(String(halves[0]))) is not PROTOCOL:HOSTADDR:HOSTPORT with two \":\"\(host.count > 3 ? ipv6 : "")")
        }
        guard guest.count == 2 else {
            throw Refusal("the guest side \(JSONQuoted(String(halves[1]))) is not GUESTADDR:GUESTPORT with one \":\"\(guest.count > 2 ? ipv6 : "")")
        }
        hostAddress = try Self.address(host[1], side: "host")
        hostPort = try Self.port(host[2], side: "host", in: 0...65535)
        guestAddress = try Self.address(guest[0], side: "guest")
        guestPort = try Self.port(guest[1], side: "guest", in: 1...65535)
    }

    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    static func address(_ text: Substring, side: String) throws -> String? {
        if text.isEmpty { return nil }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ decimal($0, in: 0...255) != nil }) else {
            throw Refusal("\(side) address \(JSONQuoted(String(text))) is not an IPv4 address like 127.0.0.1 (QEMU 10.0 takes no hostname and no IPv6 address here)")
        }
        return String(text)
    }

    static func port(_ text: Substring, side: String, in range: ClosedRange<Int>) throws -> Int {
        guard let port = decimal(text, in: range) else {
            throw Refusal("\(side) port \(JSONQuoted(String(text))) is not a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return port
    }

    /// A decimal number in `range`: ASCII digits only, no leading zero unless it is "0".
    static func decimal(_ text: Substring, in range: ClosedRange<Int>) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              text == "0" || text.first != "0", let n = Int(text), range.contains(n) else { return nil }
        return n
    }
}
