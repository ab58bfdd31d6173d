import Foundation
import IGVM
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
        let path = try writeConfig("[qemu]\ncpus = \"2\"\nmemroy = \"1G\"\n[confidential]\ntype = \"sev-snp-guest\"\npolicy = 196608\n")
        let r = try IGVMManagerBinary.run(["args", path])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.split(separator: "\n").map(String.init) == [
            #"igvm-mgr: error: \#(path): qemu.cpus: expected an integer from 1 to 4096, got string "2""#,
            "igvm-mgr: error: \(path): qemu.memroy: unknown key (expected one of: binary, machine, accel, memory, cpus, cpu-model, debugcon, serial, version)",
            #"igvm-mgr: error: \#(path): confidential.policy: expected a hex string like "0x30000", got integer 196608"#,
        ])
        let policy = try writeConfig("[confidential]\ntype = \"sev-snp-guest\"\npolicy = 196608\n")
        let r2 = try IGVMManagerBinary.run(["args", policy])
        #expect(r2.status == 1)
        // Every error validate reports, not only the loader's: args and validate give one verdict.
        #expect(r2.stderr.split(separator: "\n").map(String.init) == [
            "igvm-mgr: error: \(policy): confidential.policy: expected a hex string like \"0x30000\", got integer 196608",
            "igvm-mgr: error: \(policy): confidential.reduced-phys-bits: missing: QEMU requires it (mandatory in QAPI SevCommonProperties)",
        ])
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

    /// An IGVM file made by `igvm-mgr igvm build` from Debian's OVMF, beside a config using it.
    private func igvmConfig(platform: String, policy: String?, extra: String) throws -> String {
        let config = try writeConfig(extra + "\n[igvm]\nfile = \"fw.igvm\"\n")
        let igvm = URL(fileURLWithPath: config).deletingLastPathComponent().appendingPathComponent("fw.igvm").path
        let build = try IGVMManagerBinary.run(["igvm", "build", "--firmware", "/usr/share/OVMF/OVMF_CODE_4M.fd",
                                               "--platform", platform, "-o", igvm] + (policy.map { ["--policy", $0] } ?? []))
        #expect(build.status == 0, "\(build.stderr)")
        return config
    }

    @Test func validateChecksTheIGVMFileForTheTargetQEMU() throws {
        let path = try igvmConfig(platform: "native", policy: nil, extra: "[qemu]\naccel = \"tcg\"")
        let old = try IGVMManagerBinary.run(["validate", "--qemu-version", "10.0.2", path])
        #expect(old.status == 1)
        #expect(old.stdout.contains("igvm-cfg needs QEMU >= 10.1.0"))
        let tenOne = try IGVMManagerBinary.run(["validate", "--qemu-version", "10.1", path])
        #expect(tenOne.status == 1)
        #expect(tenOne.stdout.contains("a native (non-confidential) IGVM guest needs QEMU >= 10.2.0"))
        let new = try IGVMManagerBinary.run(["validate", "--qemu-version", "10.2.2", path])
        #expect(new.status == 0, "\(new.stdout)")
    }

    @Test func validateComparesTheIGVMPolicyWithTheConfig() throws {
        let path = try igvmConfig(platform: "sev-snp", policy: "0x30000", extra: """
            [qemu]
            version = "10.2.2"
            [confidential]
            type = "sev-snp-guest"
            reduced-phys-bits = 1
            policy = "0xb0000"
            """)
        let r = try IGVMManagerBinary.run(["validate", "--json", path])
        #expect(r.status == 1)
        let problems = try JSON.decode(r.stdout)["problems"]?.arrayValue ?? []
        #expect(problems.contains { $0["level"] == "launch" && $0["object"] == "igvm0"
            && $0["message"]?.stringValue?.contains("policy-mismatch") == true }, "\(problems)")
    }

    /// The definition's machine type and memory size decide where an IGVM file's pages can go
    /// (QEMU's `qigvm_prepare_memory`): a page run from 0x1FFFF000 to 0x20000FFF ends in RAM
    /// with 1 GiB, and runs past RAM's end into unmapped space with 512 MiB.
    @Test(arguments: [("512M", Int32(1)), ("1G", 0)])
    func validatePlacesTheIGVMFileInTheDefinitionsMemory(memory: String, status: Int32) throws {
        let path = try writeConfig("[qemu]\nversion = \"10.2.2\"\naccel = \"tcg\"\nmachine = \"q35\"\nmemory = \"\(memory)\"\n"
                                   + "[igvm]\nfile = \"run.igvm\"\n")
        var w = IGVMWriter()
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: .native)]
        for gpa: UInt64 in [0x1FFF_F000, 0x2000_0000] { w.add(.pageData(IGVMPageData(gpa: gpa, compatibilityMask: 1))) }
        w.trailingData = [0xAA]
        try Data(w.serialize()).write(to: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("run.igvm"))
        let r = try IGVMManagerBinary.run(["validate", path])
        #expect(r.status == status, "\(r.stdout)")
        #expect(r.stdout.contains("memory-region-size") == (status == 1), "\(r.stdout)")
    }

    @Test func validateReportsAFileLibIGVMRejects() throws {
        let path = try writeConfig("[qemu]\nversion = \"10.2.2\"\naccel = \"tcg\"\n[igvm]\nfile = \"/etc/hostname\"\n")
        let r = try IGVMManagerBinary.run(["validate", path])
        #expect(r.status == 1)
        #expect(r.stdout.hasPrefix("qemu: \(path): igvm.file: QEMU's IGVM loader (libigvm) rejects \"/etc/hostname\""), "\(r.stdout)")
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

@Suite struct ExampleConfigValidationTests {
    /// How each example's IGVM file is built (the command its comment gives), if it has one.
    static let igvmBuilds: [String: (file: String, arguments: [String])] = [
        "snp-igvm": ("snp.igvm", ["--platform", "sev-snp", "--cpus", "4", "--policy", "0x30000"]),
        "native-igvm": ("native.igvm", ["--platform", "native"]),
        "nocc": ("native.igvm", ["--platform", "native"]),
    ]

    /// Every example validates once its IGVM file exists (built as its comment says); only
    /// nocc carries a warning (it exists only in a QEMU fork).
    @Test(arguments: ExampleConfigs.all)
    func exampleIsValid(name: String) throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("\(name).toml").path
        try FileManager.default.copyItem(atPath: ExampleConfigs.path(name), toPath: config)
        if let build = Self.igvmBuilds[name] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("images"), withIntermediateDirectories: true)
            let r = try IGVMManagerBinary.run(["igvm", "build", "--firmware", "/usr/share/OVMF/OVMF_CODE_4M.fd",
                                               "-o", dir.appendingPathComponent("images/\(build.file)").path] + build.arguments)
            #expect(r.status == 0, "\(r.stderr)")
        }
        if name == "linux-tcg" {
            // Its kernel, initrd and disk, as scripts/linux-guest/build leaves them.
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("images"), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("images/linux").path,
                withDestinationPath: TestPaths.packageRoot.appendingPathComponent("configs/images/linux").path)
        }
        let r = try IGVMManagerBinary.run(["validate", "--json", config])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let levels = try JSON.decode(r.stdout)["problems"]?.arrayValue?.compactMap { $0["level"]?.stringValue } ?? []
        #expect(levels == (name == "nocc" ? ["warning"] : []), "\(r.stdout)")
    }
}
