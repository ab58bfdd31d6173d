import Foundation
import JSON
import Testing
import TestSupport
@testable import Definition
@testable import Launch

/// `hostfwd` rules: the form check at definition load (docs/config.md, `[[nic]]`), and what
/// the real QEMU (10.0, TCG, -S) makes of the forms, so that the table is QEMU's and not only ours.
@Suite struct HostForwardTests {
    /// Accepted rules and what they mean: protocol, host address, host port, guest address, guest port.
    static let accepted: [(rule: String, proto: HostForward.Proto, host: String?, hostPort: Int, guest: String?, guestPort: Int)] = [
        ("tcp::2222-:22", .tcp, nil, 2222, nil, 22),
        ("::2222-:22", .tcp, nil, 2222, nil, 22),
        ("udp:127.0.0.1:5353-10.0.2.15:53", .udp, "127.0.0.1", 5353, "10.0.2.15", 53),
        ("tcp:0.0.0.0:0-:65535", .tcp, "0.0.0.0", 0, nil, 65535),
        ("udp::65535-10.0.2.100:1", .udp, nil, 65535, "10.0.2.100", 1),
        (":255.255.255.255:10-:9", .tcp, "255.255.255.255", 10, nil, 9),
    ]

    /// Refused rules and the part of the reason that says which field is wrong.
    static let refused: [(rule: String, reason: String)] = [
        ("", "no \"-\" between the host and the guest side"),
        ("tcp::2222:22", "no \"-\""),
        ("tcp::2222-:22-1", "more than one \"-\""),
        ("tcp:2222-:22", "the host side \"tcp:2222\" is not PROTOCOL:HOSTADDR:HOSTPORT"),
        ("tcp::2222-22", "the guest side \"22\" is not GUESTADDR:GUESTPORT"),
        ("TCP::2222-:22", "protocol \"TCP\" is not"),
        ("sctp::2222-:22", "protocol \"sctp\" is not"),
        ("unix:/tmp/s.sock-:22", "protocol \"unix\" is not"),
        ("tcp:localhost:2222-:22", "host address \"localhost\" is not an IPv4 address"),
        ("tcp:[::1]:2222-:22", "takes no IPv6 address"),
        ("tcp:::1:2222-:22", "takes no IPv6 address"),
        ("tcp::2222-[fec0::15]:22", "takes no IPv6 address"),
        ("tcp:127.1:2222-:22", "host address \"127.1\""),
        ("tcp:010.0.0.1:2222-:22", "host address \"010.0.0.1\""),
        ("tcp:256.0.0.1:2222-:22", "host address \"256.0.0.1\""),
        ("tcp:127.0.0.1 x:2222-:22", "host address \"127.0.0.1 x\""),
        ("tcp::2222-10.0.2:22", "guest address \"10.0.2\""),
        ("tcp::-:22", "host port \"\" is not a number from 0 to 65535"),
        ("tcp::65536-:22", "host port \"65536\""),
        ("tcp::99999999999999999999-:22", "host port \"99999999999999999999\""),
        ("tcp::0x8af-:22", "host port \"0x8af\""),
        ("tcp::022-:22", "host port \"022\""),
        ("tcp::+22-:22", "host port \"+22\""),
        ("tcp:: 22-:22", "host port \" 22\""),
        ("tcp::22x-:22", "host port \"22x\""),
        ("tcp::2222-:0", "guest port \"0\" is not a number from 1 to 65535"),
        ("tcp::2222-:", "guest port \"\""),
        ("tcp::2222-:22x", "guest port \"22x\""),
        ("tcp:127.0.0.1:0-:22,restrict=on\nx=y", "guest port \"22,restrict=on\\nx=y\""),
    ]

    @Test func acceptedForms() throws {
        for a in Self.accepted {
            let f = try HostForward(a.rule)
            #expect(f.proto == a.proto && f.hostAddress == a.host && f.hostPort == a.hostPort, "\(a.rule)")
            #expect(f.guestAddress == a.guest && f.guestPort == a.guestPort, "\(a.rule)")
        }
    }

    @Test func refusedForms() {
        for r in Self.refused {
            #expect {
                try HostForward(r.rule)
            } throws: { error in
                "\(error)".contains(r.reason)
            }
        }
    }

    /// The definition names the NIC, the rule's index, what is wrong and the rule, on one line;
    /// good rules beside a bad one are no problem.
    @Test func definitionProblems() throws {
        let text = """
            [[nic]]
            type = "user"
            [[nic]]
            type = "user"
            hostfwd = ["tcp::2222-:22", "tcp::22x-:22", "tcp:127.0.0.1:0-:22,restrict=on\\nx=y"]
            """
        let error = try #require(throws: ConfigError.self) {
            try VMDefinition.parse(text, file: "/cfg/x.toml", baseDirectory: URL(fileURLWithPath: "/cfg"), defaultName: "x")
        }
        let lines = error.problems.map(\.description)
        #expect(lines == [
            #"/cfg/x.toml: nic[1].hostfwd[1]: host port "22x" is not a number from 0 to 65535 in "tcp::22x-:22" (QEMU's form [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, like "tcp:127.0.0.1:2222-:22")"#,
            #"/cfg/x.toml: nic[1].hostfwd[2]: guest port "22,restrict=on\nx=y" is not a number from 1 to 65535 in "tcp:127.0.0.1:0-:22,restrict=on\nx=y" (QEMU's form [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, like "tcp:127.0.0.1:2222-:22")"#,
        ])
        #expect(lines.allSatisfy { !$0.contains("\n") })
    }

    /// A definition with `rules` on one user NIC, read without the form check (set in code),
    /// as the argv QEMU is started with.
    static func argv(_ rules: [String], qmp: String) throws -> [String] {
        var d = try VMDefinition.parse("[qemu]\naccel = \"tcg\"\nmemory = \"64M\"\nbinary = \"\(try QEMU.binary())\"\n",
                                       file: "/cfg/x.toml", baseDirectory: URL(fileURLWithPath: "/cfg"), defaultName: "x")
        d.nics = [NICSettings(backend: .user(hostfwd: rules))]
        let (plan, problems) = LaunchPlan.build(d, binary: try QEMU.binary(), qmpSocket: qmp)
        #expect(problems.isEmpty, "\(problems)")
        return try #require(plan).argv
    }

    /// The forwarding lines of `info usernet`: protocol, host address, host port, guest address,
    /// guest port (libslirp's `slirp_connection_info()`: `TCP[HOST_FORWARD] FD SRC PORT DEST PORT …`).
    static func forwards(_ session: QMPSocketExchange) throws -> [[String]] {
        let text = try session.execute("human-monitor-command", arguments: ["command-line": "info usernet"])["return"]?.stringValue ?? ""
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let f = line.split(separator: " ").map(String.init)
            guard f.count >= 6, f[0].hasSuffix("[HOST_FORWARD]") else { return nil }
            return [String(f[0].prefix(3)), f[2], f[3], f[4], f[5]]
        }
    }

    /// Runs QEMU with `rules` and returns its forwards, or nil and its stderr when it refused to start.
    static func run(_ rules: [String]) throws -> (forwards: [[String]]?, stderr: String) {
        let dir = try TestPaths.makeTemporaryDirectory("hfwd")
        defer { try? FileManager.default.removeItem(at: dir) }
        let qmp = dir.appendingPathComponent("q.sock").path
        let qemu = try QEMUInstance(argv: try argv(rules, qmp: qmp))
        defer { qemu.kill() }
        guard let session = try? QMPSocketExchange(path: qmp, process: qemu.process) else {
            #expect(qemu.waitForExit())
            return (nil, qemu.standardError())
        }
        let found = try forwards(session)
        _ = try session.execute("quit")
        #expect(qemu.waitForExit())
        return (found, "")
    }

    /// Accepted forms, one QEMU with all of them: each is one forwarding rule with the meaning
    /// the check read. Host ports are 0 (the kernel picks) except one free port, so parallel
    /// runs do not collide; QEMU shows the host address INADDR_ANY as `*`.
    @Test func acceptedFormsMeanTheSameToQEMU() throws {
        let port = try freeTCPPort()
        let rules = ["tcp:127.0.0.1:0-:22", ":127.0.0.1:0-10.0.2.15:2222", "udp:127.0.0.1:0-10.0.2.100:53",
                     "tcp::0-:65535", "udp::0-:1", "tcp:127.0.0.1:\(port)-:7"]
        for rule in rules { #expect(throws: Never.self, "\(rule)") { try HostForward(rule) } }
        let found = try #require(try Self.run(rules).forwards)
        #expect(found.count == rules.count, "\(found)")
        let expected: [(String, String, String?, String, String)] = [
            ("TCP", "127.0.0.1", nil, "10.0.2.15", "22"), ("TCP", "127.0.0.1", nil, "10.0.2.15", "2222"),
            ("UDP", "127.0.0.1", nil, "10.0.2.100", "53"), ("TCP", "*", nil, "10.0.2.15", "65535"),
            ("UDP", "*", nil, "10.0.2.15", "1"), ("TCP", "127.0.0.1", "\(port)", "10.0.2.15", "7"),
        ]
        for e in expected {
            let match = found.first { (f: [String]) -> Bool in
                guard f[0] == e.0, f[1] == e.1, f[3] == e.3, f[4] == e.4 else { return false }
                // Port 0 binds a port the kernel picks; QEMU shows that one.
                if let port = e.2 { return f[2] == port }
                return (Int(f[2]) ?? 0) > 0
            }
            #expect(match != nil, "\(e) in \(found)")
        }
    }

    /// Refused forms that QEMU 10.0 refuses too: it exits with "Invalid host forwarding rule".
    @Test(arguments: ["tcp:localhost:0-:22", "tcp:[::1]:0-:22", "tcp:::1:0-:22", "TCP:127.0.0.1:0-:22",
                      "tcp:127.0.0.1:65536-:22", "tcp:127.0.0.1:0-:0", "tcp:127.0.0.1:0:22"])
    func refusedFormsQEMURefusesToo(rule: String) throws {
        #expect(throws: HostForward.Refusal.self) { try HostForward(rule) }
        let (found, stderr) = try Self.run([rule])
        #expect(found == nil, "QEMU took \(JSONQuoted(rule)): \(found ?? [])")
        #expect(stderr.contains("Invalid host forwarding rule"), "\(stderr)")
    }

    /// Refused forms that QEMU 10.0 takes but reads otherwise than they look: `127.1` is
    /// 127.0.0.1, `022` is octal 18, `0x16` is 22, and `23x` is 23 with the junk dropped.
    @Test func refusedFormsQEMUMisreads() throws {
        let rules = ["tcp:127.1:0-:22", "tcp:127.0.0.1:0-:022", "tcp:127.0.0.1:0-:0x16", "tcp:127.0.0.1:0-:23x"]
        for rule in rules { #expect(throws: HostForward.Refusal.self, "\(rule)") { try HostForward(rule) } }
        let found = try #require(try Self.run(rules).forwards)
        #expect(Set(found.map { "\($0[1]) \($0[4])" }) == ["127.0.0.1 22", "127.0.0.1 18", "127.0.0.1 23"], "\(found)")
        #expect(found.count == 4)
    }

    /// The render-level guarantee, with the definition check bypassed: a value carrying `,`,
    /// `=` and a newline is one rule's text inside the JSON, not netdev options. QEMU keeps
    /// `restrict` off (info network) and has exactly one rule (info usernet).
    @Test func injectedOptionsStayData() throws {
        let rule = "tcp:127.0.0.1:0-:22,restrict=on\nx=y"
        let dir = try TestPaths.makeTemporaryDirectory("hfwd")
        defer { try? FileManager.default.removeItem(at: dir) }
        let qmp = dir.appendingPathComponent("q.sock").path
        let argv = try Self.argv([rule], qmp: qmp)
        #expect(argv.contains(#"{"type":"user","id":"net0","hostfwd":[{"str":"tcp:127.0.0.1:0-:22,restrict=on\nx=y"}]}"#), "\(argv)")
        let qemu = try QEMUInstance(argv: argv)
        defer { qemu.kill() }
        let session = try QMPSocketExchange(path: qmp, process: qemu.process)
        let network = try session.execute("human-monitor-command", arguments: ["command-line": "info network"])
        #expect(network["return"]?.stringValue?.contains("type=user,net=10.0.2.0,restrict=off") == true, "\(network)")
        let found = try Self.forwards(session)
        #expect(found.count == 1, "exactly one forwarding rule: \(found)")
        _ = try session.execute("quit")
        #expect(qemu.waitForExit())
    }
}
