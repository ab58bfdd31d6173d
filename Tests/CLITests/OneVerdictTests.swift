import Foundation
import JSON
import TestSupport
import Testing

/// `validate`, `args` and `start` share one pipeline: a definition one of them refuses, all
/// three refuse with the same problems, and `args` prints exactly the argv `start` runs.
@Suite("validate, args and start agree (real QEMU)")
struct OneVerdictTests {
    typealias Sandbox = LifecycleCLITests.Sandbox

    /// A rejected definition: the TOML after `name` and a `[qemu]` header (TCG, 64 MiB, the
    /// test QEMU), and a fragment of the message every command must print.
    struct Rejection: CustomTestStringConvertible, Sendable {
        var label: String
        var qemu: String = ""
        var rest: String = ""
        var message: String
        var testDescription: String { label }
    }

    static let snp = """
        [confidential]
        type = "sev-snp-guest"
        reduced-phys-bits = 1
        policy = "0x30000"
        """

    static let rejections: [Rejection] = [
        Rejection(label: "a wrongly typed key", qemu: #"cpus = "2""#, message: "expected an integer from 1 to 4096"),
        Rejection(label: "an unknown key", qemu: #"memroy = "1G""#, message: "unknown key"),
        Rejection(label: "host-data of 30 bytes", qemu: #"accel = "kvm""#,
                  rest: snp + "\nhost-data = \"" + Data(count: 30).base64EncodedString() + "\"", message: "decodes to 30 bytes, must be 32"),
        Rejection(label: "an SNP policy without its reserved bit", qemu: #"accel = "kvm""#,
                  rest: snp.replacingOccurrences(of: "0x30000", with: "0x10000"), message: "bit 17 is reserved and must be 1"),
        Rejection(label: "a firmware file that does not exist", rest: "[firmware]\nbios = \"/nonexistent/OVMF.fd\"", message: "does not exist"),
        Rejection(label: "sev-snp-guest under TCG", rest: snp, message: "sev-snp-guest needs \"kvm\""),
        Rejection(label: "vmfwupdate without a channel", rest: "[vmfwupdate]\nenabled = true", message: "vmfwupdate.enabled needs vmfwupdate.mailbox"),
        Rejection(label: "a mailbox outside guest RAM", rest: "[vmfwupdate]\nenabled = true\nmailbox = \"0x7f000000\"",
                  message: "is not inside guest RAM"),
        Rejection(label: "more RAM than the relaunch layout can hold", qemu: "accel = \"kvm\"\nmemory = \"2T\"", rest: snp,
                  message: "beyond the 1 TiB"),
        Rejection(label: "accel = help", qemu: #"accel = "help""#, message: "makes QEMU print a list"),
        Rejection(label: "cpu-model = help", qemu: #"cpu-model = "help""#, message: "makes QEMU print a list"),
        Rejection(label: "machine = ?", qemu: #"machine = "?""#, message: "makes QEMU print a list"),
        Rejection(label: "sev-snp-guest on a QEMU version without it", qemu: "accel = \"kvm\"\nversion = \"9.0.0\"", rest: snp,
                  message: "sev-snp-guest needs QEMU >= 9.1"),
    ]

    /// Writes the rejected definition as NAME.toml in the sandbox.
    static func write(_ r: Rejection, name: String, in sandbox: Sandbox) throws -> String {
        let path = "\(sandbox.root)/\(name).toml"
        // Later keys of [qemu] override nothing: TOML forbids duplicates, so the defaults are
        // only written where the case does not set the key itself.
        var qemu = ["binary = \"\(try QEMU.binary())\""]
        if !r.qemu.contains("machine") { qemu.append("machine = \"q35\"") }
        if !r.qemu.contains("accel") { qemu.append("accel = \"tcg\"") }
        if !r.qemu.contains("memory") && !r.qemu.contains("memroy") { qemu.append("memory = \"64M\"") }
        if !r.qemu.isEmpty { qemu.append(r.qemu) }
        try "name = \"\(name)\"\n\n[qemu]\n\(qemu.joined(separator: "\n"))\n\n\(r.rest)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("validate, args and start all exit 1 with the same problems; start leaves no trace", arguments: rejections)
    func rejectedByAllThree(_ rejection: Rejection) throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let config = try Self.write(rejection, name: "bad", in: sandbox)

        let validate = try IGVMManagerBinary.run(["validate", "--json", config])
        #expect(validate.status == 1, "validate: \(validate.stdout)\(validate.stderr)")
        let problems = try JSON.decode(validate.stdout)["problems"]?.arrayValue ?? []
        let errors = problems.filter { $0["level"]?.stringValue != "warning" }.compactMap { $0["message"]?.stringValue }
        #expect(errors.contains { $0.contains(rejection.message) }, "validate said: \(errors)")

        let args = try sandbox.run(["args", config])
        #expect(args.status == 1, "args printed: \(args.stdout)")
        #expect(args.stdout.isEmpty)
        let start = try sandbox.run(["start", config])
        #expect(start.status == 1, "start: \(start.stdout)\(start.stderr)")
        for (command, result) in [("args", args), ("start", start)] {
            for message in errors {
                #expect(result.stderr.contains(message), "\(command) did not report \"\(message)\": \(result.stderr)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: "\(sandbox.stateDir)/bad"), "start left a VM folder")
    }

    /// The argv `start` recorded (argv.json, written just before the spawn) is the one `args`
    /// printed for the same definition, name and state directory.
    func expectArgsEqualsStart(_ sandbox: Sandbox, config: String, name: String) throws {
        let printed = try sandbox.json(["args", config]).arrayValue?.compactMap(\.stringValue) ?? []
        let started = try sandbox.run(["start", config, "--paused"])
        #expect(started.status == 0, "\(started.stderr)")
        defer { _ = try? sandbox.run(["stop", name, "--force"]) }
        let recorded = try JSON.decode(String(contentsOfFile: "\(sandbox.stateDir)/\(name)/argv.json", encoding: .utf8))
        #expect(recorded.arrayValue?.compactMap(\.stringValue) == printed)
        #expect(printed.contains("-S"))
    }

    @Test("args prints exactly the argv start runs: a plain guest")
    func argsEqualsStartPlain() throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        try expectArgsEqualsStart(sandbox, config: try sandbox.config("plain"), name: "plain")
    }

    @Test("args prints exactly the argv start runs: a vmfwupdate guest (-action and -fw_cfg included)")
    func argsEqualsStartVMFWUpdate() throws {
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let build = try TestFirmware.assemble(.noRequest, into: URL(fileURLWithPath: sandbox.root))
        let config = try sandbox.config("fwu", extra: """
            [firmware]
            bios = "\(build.stage1.path)"

            [vmfwupdate]
            enabled = true
            mailbox = "0x9000"
            """)
        let printed = try sandbox.json(["args", config]).arrayValue?.compactMap(\.stringValue) ?? []
        #expect(printed.contains("-action") && printed.contains("-fw_cfg"))
        // args wrote nothing: the interface files appear only when start writes them.
        #expect(!FileManager.default.fileExists(atPath: "\(sandbox.stateDir)/fwu"))
        try expectArgsEqualsStart(sandbox, config: config, name: "fwu")
    }

    @Test("start refuses an IGVM definition on a QEMU without igvm-cfg before the VM's QEMU exists, naming igvm-cfg and the version")
    func startProbesTheBinary() throws {
        let qemu = try QEMU.binary()
        let sandbox = try Sandbox()
        defer { sandbox.tearDown() }
        let image = "\(sandbox.root)/native.igvm"
        let built = try IGVMManagerBinary.run(["igvm", "build", "--firmware", "/usr/share/OVMF/OVMF_CODE_4M.fd",
                                               "--platform", "native", "-o", image])
        try #require(built.status == 0, "\(built.stderr)")
        let config = try sandbox.config("igvm", extra: "[igvm]\nfile = \"\(image)\"")
        let caps = try IGVMManagerBinary.run(["caps", qemu, "--json"])
        let capabilities = try JSON.decode(caps.stdout)
        // This test is about a binary without igvm-cfg (Debian's QEMU has no libigvm).
        guard capabilities["confidential"]?["igvm-cfg"] == false else { return }
        let v = capabilities["version"]
        let version = try #require(v?["major"]?.intValue.flatMap { major in
            v?["minor"]?.intValue.flatMap { minor in v?["micro"]?.intValue.map { "\(major).\(minor).\($0)" } }
        })

        #expect(try IGVMManagerBinary.run(["validate", config]).status == 0)
        let start = try sandbox.run(["start", config])
        #expect(start.status == 1)
        #expect(start.stderr.contains("has no igvm-cfg (QEMU 10.1 or newer, built with IGVM support)"), "\(start.stderr)")
        #expect(start.stderr.contains("qemu-system-x86_64 \(version)"), "\(start.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(sandbox.stateDir)/igvm"), "start went past the probe")
    }

    @Test("every example definition in configs/ validates once scripts/setup built its images")
    func everyExampleValidates() throws {
        let folder = TestPaths.packageRoot.appendingPathComponent("configs")
        let examples = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".toml") }.sorted()
        #expect(examples.count >= ExampleConfigs.all.count)
        for example in examples {
            let result = try IGVMManagerBinary.run(["validate", folder.appendingPathComponent(example).path])
            #expect(result.status == 0,
                    "configs/\(example): \(result.stdout)\(result.stderr) (scripts/examples builds configs/images/)")
        }
    }
}
