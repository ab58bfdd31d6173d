import Foundation
import JSON
import Testing
import TestSupport

/// Writes `text` as NAME.toml in a fresh folder and returns its path.
private func writeConfig(_ text: String, name: String = "vm") throws -> String {
    let dir = try TestPaths.makeTemporaryDirectory()
    let path = dir.appendingPathComponent("\(name).toml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

private let validSNP = """
    [qemu]
    accel = "kvm"
    [confidential]
    type = "sev-snp-guest"
    reduced-phys-bits = 1
    policy = "0x30000"
    [firmware]
    bios = "/usr/share/qemu/OVMF.fd"
    """

@Suite struct ConfigCLITests {
    /// The shell line and the JSON array are the same argv: /bin/sh reads the line back exactly.
    @Test(arguments: ExampleConfigs.all)
    func argsShellLineEqualsJSONArray(name: String) throws {
        let line = try IGVMManagerBinary.run(["args", "--qmp-socket", "/tmp/a b,c.sock", ExampleConfigs.path(name)])
        let json = try IGVMManagerBinary.run(["args", "--json", "--qmp-socket", "/tmp/a b,c.sock", ExampleConfigs.path(name)])
        #expect(line.status == 0 && json.status == 0, "\(line.stderr)\(json.stderr)")
        #expect(line.stdout.split(separator: "\n").count == 1)
        let array = try JSON.decode(json.stdout).arrayValue?.compactMap(\.stringValue) ?? []
        let sh = try TestProcess.run("/bin/sh", ["-c", "printf '%s\\0' " + line.stdout])
        #expect(sh.stdout.split(separator: "\0").map(String.init) == array)
    }

    @Test func argsOfAnUnreadableFileExitsTwo() throws {
        let r = try IGVMManagerBinary.run(["args", "/nonexistent/vm.toml"])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("igvm-mgr: error: /nonexistent/vm.toml: "))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func argsOfANonTOMLFileExitsTwo() throws {
        let r = try IGVMManagerBinary.run(["args", try writeConfig("[qemu\n")])
        #expect(r.status == 2)
        #expect(r.stderr.contains("not valid TOML at line 1"))
    }

    @Test func argsOfAnInvalidDefinitionExitsOneWithEveryProblem() throws {
        let path = try writeConfig("[qemu]\ncpus = \"2\"\n[confidential]\ntype = \"sev-snp-guest\"\npolicy = 196608\n")
        let r = try IGVMManagerBinary.run(["args", path])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines == [
            #"igvm-mgr: error: \#(path): qemu.cpus: expected an integer from 1 to 4096, got string "2""#,
        ] || lines.contains("igvm-mgr: error: \(path): qemu.cpus: expected an integer from 1 to 4096, got string \"2\""))
        let policy = try writeConfig("[confidential]\ntype = \"sev-snp-guest\"\npolicy = 196608\n")
        let r2 = try IGVMManagerBinary.run(["args", policy])
        #expect(r2.status == 1)
        #expect(r2.stderr == "igvm-mgr: error: \(policy): confidential.policy: expected a hex string like \"0x30000\", got integer 196608\n")
    }

    @Test func validateOK() throws {
        let r = try IGVMManagerBinary.run(["validate", try writeConfig(validSNP)])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout == "ok\n")
        let j = try IGVMManagerBinary.run(["validate", "--json", try writeConfig(validSNP)])
        #expect(try JSON.decode(j.stdout) == ["valid": true, "problems": []])
    }

    @Test func validateReportsLevelsAndExitsOne() throws {
        let path = try writeConfig(validSNP.replacingOccurrences(of: "0x30000", with: "0x10000")
                                   + "\n[kernel]\nkernel = \"/nonexistent/vmlinuz\"\n")
        let r = try IGVMManagerBinary.run(["validate", "--json", path])
        #expect(r.status == 1)
        let out = try JSON.decode(r.stdout)
        #expect(out["valid"] == false)
        let problems = out["problems"]?.arrayValue ?? []
        #expect(problems.contains { $0["level"] == "launch" && $0["object"] == "sev0" && $0["property"] == "policy" })
        #expect(problems.contains { $0["level"] == "qemu" && $0["object"] == "kernel" && $0["property"] == "kernel" })
        for p in problems {
            #expect(p.objectValue?.keys == ["level", "object", "property", "message"])
        }
        let text = try IGVMManagerBinary.run(["validate", path])
        #expect(text.status == 1)
        #expect(text.stdout.contains("launch: \(path): confidential.policy: 0x10000: bit 17"))
    }

    @Test func validateWithOnlyWarningsExitsZero() throws {
        let path = try writeConfig(validSNP.replacingOccurrences(of: "reduced-phys-bits = 1", with: "reduced-phys-bits = 1\nkernel-hashes = true"))
        let r = try IGVMManagerBinary.run(["validate", "--json", path])
        #expect(r.status == 0, "\(r.stdout)")
        let out = try JSON.decode(r.stdout)
        #expect(out["valid"] == true)
        #expect(out["problems"]?.arrayValue?.map { $0["level"] } == ["warning"])
    }

    @Test func validateOfAConfigErrorIsAProblemNotACrash() throws {
        let path = try writeConfig("[qemu]\nmemroy = \"1G\"\n")
        let r = try IGVMManagerBinary.run(["validate", "--json", path])
        #expect(r.status == 1)
        let p = try JSON.decode(r.stdout)["problems"]?[0]
        #expect(p?["object"] == "qemu")
        #expect(p?["property"] == "memroy")
        #expect(p?["level"] == "launch")
    }

    @Test func validateUsageErrorsExitTwo() throws {
        #expect(try IGVMManagerBinary.run(["validate"]).status == 2)
        #expect(try IGVMManagerBinary.run(["validate", "/nonexistent.toml"]).status == 2)
        #expect(try IGVMManagerBinary.run(["validate", "--qemu-version", "ten", try writeConfig("")]).status == 2)
    }

    @Test func validateQEMUVersionOption() throws {
        let path = try writeConfig("[qemu]\naccel = \"tcg\"\n[igvm]\nfile = \"/etc/hostname\"\n")
        let old = try IGVMManagerBinary.run(["validate", "--qemu-version", "10.0.2", path])
        #expect(old.status == 1)
        #expect(old.stdout.contains("igvm-cfg needs QEMU >= 10.1.0"))
        let new = try IGVMManagerBinary.run(["validate", "--qemu-version", "10.2.2", path])
        #expect(new.status == 0, "\(new.stdout)")
    }

    @Test(arguments: [
        ("sev-snp-guest,id=s0,reduced-phys-bits=1,policy=0x30000", Int32(0), "ok\n"),
        (#"{"qom-type":"sev-snp-guest","id":"s0","reduced-phys-bits":1}"#, 0, "ok\n"),
        ("sev-snp-guest,id=s0,reduced-phys-bits=1,host-data=AAAA", 1, "qemu: s0.host-data: decodes to 3 bytes, must be 32\n"),
        ("sev-snp-guest,id=s0,reduced-phys-bits=1,policy=0x10000", 1, nil),
        ("sev-snp-guest,id=s0,reduced-phys-bits=1,policy=0xb0000", 0, nil),
    ])
    func objectValidate(spec: String, status: Int32, stdout: String?) throws {
        let r = try IGVMManagerBinary.run(["object", "validate", spec])
        #expect(r.status == status, "\(r.stdout)\(r.stderr)")
        if let stdout { #expect(r.stdout == stdout) }
        let j = try IGVMManagerBinary.run(["object", "validate", "--json", spec])
        #expect(j.status == status)
        #expect(try JSON.decode(j.stdout)["valid"] == .bool(status == 0))
    }

    @Test func objectValidateUsage() throws {
        #expect(try IGVMManagerBinary.run(["object", "validate"]).status == 2)
        #expect(try IGVMManagerBinary.run(["object", "validate", "--help"]).status == 0)
    }
}
