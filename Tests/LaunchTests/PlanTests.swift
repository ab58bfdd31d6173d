import Foundation
import JSON
import ObjectModel
import Testing
import TestSupport
@testable import Definition
@testable import Launch

/// A definition parsed from `text` as the file /cfg/x.toml.
private func definition(_ text: String) throws -> VMDefinition {
    try VMDefinition.parse(text, file: "/cfg/x.toml", baseDirectory: URL(fileURLWithPath: "/cfg"), defaultName: "x")
}

/// The plan of `text` with a fixed QMP socket and /usr/bin as PATH.
private func plan(_ text: String, qmp: String? = "/run/x/qmp.sock") throws -> LaunchPlan {
    try LaunchPlan(definition: definition(text), qmpSocket: qmp, searchPath: "/usr/bin")
}

/// The value after each occurrence of `option`.
private func values(of option: String, in argv: [String]) -> [String] {
    zip(argv, argv.dropFirst()).filter { $0.0 == option }.map(\.1)
}

/// The config-file problems of `text`, one line each.
private func planProblems(_ text: String) throws -> [String] {
    do {
        _ = try plan(text)
        return []
    } catch let error as ConfigError {
        return error.problems.map(\.description)
    }
}

@Suite struct PlanTests {
    @Test func ordinaryGuestArgv() throws {
        let p = try plan("""
            [qemu]
            accel = "tcg"
            memory = "256M"
            cpus = 2
            cpu-model = "max"
            serial = "s.log"
            [firmware]
            bios = "/usr/share/qemu/OVMF.fd"
            """)
        #expect(p.argv == [
            "/usr/bin/qemu-system-x86_64",
            "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "256M", "-smp", "2",
            "-bios", "/usr/share/qemu/OVMF.fd",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-chardev", "file,id=serial0,path=/cfg/s.log,append=on", "-serial", "chardev:serial0",
            "-chardev", "socket,id=qmp0,path=/run/x/qmp.sock,server=on,wait=off", "-mon", "chardev=qmp0,mode=control",
            "-S",
        ])
    }

    /// The SNP and IGVM examples cannot start here (no /dev/sev, QEMU 10.0 lacks igvm-cfg):
    /// their argv shape is checked instead, and every -object/-machine reads back into the model.
    @Test(arguments: ExampleConfigs.all)
    func exampleArgvShape(name: String) throws {
        let d = try VMDefinition.load(path: ExampleConfigs.path(name))
        let p = try LaunchPlan(definition: d, qmpSocket: "/run/q.sock", searchPath: "/usr/bin")
        let argv = p.argv
        for flag in ["-nodefaults", "-no-user-config", "-S"] { #expect(argv.contains(flag)) }
        #expect(values(of: "-display", in: argv) == ["none"])
        #expect(values(of: "-mon", in: argv) == ["chardev=qmp0,mode=control"])
        let machine = try Machine(commandLine: try #require(values(of: "-machine", in: argv).first))
        #expect(machine == p.machine)
        let objects = try values(of: "-object", in: argv).map { try ObjectSpec.parse($0) }
        #expect(objects == p.objects)
        #expect(values(of: "-object", in: argv).allSatisfy { $0.hasPrefix("{") })

        if let c = d.confidential {
            #expect(machine.confidentialGuestSupport == c.id)
            #expect(objects.contains { $0.id == c.id && $0.qomType == c.type.rawValue })
        } else {
            #expect(machine.confidentialGuestSupport == nil)
        }
        switch d.boot {
        case .igvm(let file):
            #expect(machine.igvmCfg == LaunchPlan.IDs.igvm)
            #expect(objects.contains(QOMObject(IgvmCfg(id: LaunchPlan.IDs.igvm, file: file))))
            #expect(!argv.contains("-bios"))
            #expect(!argv.contains("-blockdev"))
        case .bios(let file):
            #expect(values(of: "-bios", in: argv) == [file])
            #expect(machine.igvmCfg == nil)
        default:
            break
        }
        if let backend = d.memoryBackend {
            #expect(machine.memoryBackend == backend.id)
            let object = try #require(objects.first { $0.id == backend.id })
            #expect(object.properties["size"] == JSON(d.qemu.memory))
        }
    }

    @Test func snpPolicyIsAHexStringInTheConfigAndAnIntegerInTheObject() throws {
        let p = try plan("""
            [confidential]
            type = "sev-snp-guest"
            reduced-phys-bits = 1
            policy = "0xa0000"
            host-data = "\(String(repeating: "A", count: 43))="
            """)
        let snp = try #require(p.objects.first)
        #expect(snp.commandLineArgument() == #"{"qom-type":"sev-snp-guest","id":"sev0","reduced-phys-bits":1,"policy":655360,"host-data":"\#(String(repeating: "A", count: 43))="}"#)
        #expect(snp.commandLineArgument(form: .keyValue).contains("policy=0xa0000"))
    }

    @Test func pflashBecomesBlockdevNodes() throws {
        let p = try plan("[firmware]\npflash0 = \"code,x=y.fd\"\npflash1 = \"vars.fd\"")
        let nodes = try values(of: "-blockdev", in: p.argv).map { try JSON.decode($0) }
        #expect(nodes.count == 4)
        #expect(nodes[0]["filename"] == "/cfg/code,x=y.fd")
        #expect(nodes[0]["read-only"] == true)
        #expect(nodes[1]["node-name"] == "pflash0")
        #expect(nodes[3]["read-only"] == false)
        #expect(p.machine.pflash0 == "pflash0")
        #expect(p.machine.pflash1 == "pflash1")
    }

    @Test func kernelOptionsTakeTheirValuesVerbatim() throws {
        let p = try plan("[kernel]\nkernel = \"vmlinuz,x\"\ninitrd = \"i\"\nappend = \"console=ttyS0,115200 a=b\"")
        #expect(values(of: "-kernel", in: p.argv) == ["/cfg/vmlinuz,x"])
        #expect(values(of: "-initrd", in: p.argv) == ["/cfg/i"])
        #expect(values(of: "-append", in: p.argv) == ["console=ttyS0,115200 a=b"])
    }

    /// Commas in a value inside an option string are doubled, so no value can add a property.
    @Test func valuesInOptionStringsAreEscaped() throws {
        let p = try plan("""
            [qemu]
            machine = "q35,accel=kvm"
            accel = "tcg,thread=single"
            debugcon = "d,id=x.log"
            """, qmp: "/tmp/q,server=off,path=/x.sock")
        let argv = p.argv
        // The machine type holds `=`, so it is written as `type=…` rather than a bare word.
        #expect(values(of: "-machine", in: argv) == ["type=q35,,accel=kvm"])
        #expect(values(of: "-accel", in: argv) == ["tcg,,thread=single"])
        #expect(values(of: "-chardev", in: argv) == [
            "file,id=debugcon0,path=/cfg/d,,id=x.log,append=on",
            "socket,id=qmp0,path=/tmp/q,,server=off,,path=/x.sock,server=on,wait=off",
        ])
    }

    @Test func memoryBackendFilePathsResolveAgainstTheConfig() throws {
        let p = try plan("""
            [qemu]
            memory = "64M"
            [memory-backend]
            type = "memory-backend-file"
            mem-path = "mem,share=off}.img"
            share = true
            """)
        #expect(p.machine.memoryBackend == "ram0")
        let object = try #require(p.objects.first)
        #expect(object.properties["mem-path"] == "/cfg/mem,share=off}.img")
        #expect(object.properties["size"] == JSON(UInt64(64 << 20)))
        #expect(object.commandLineArgument(form: .keyValue).contains("mem-path=/cfg/mem,,share=off}.img"))
    }

    @Test func noMonitorAndRuntimeOptions() throws {
        var p = try plan("", qmp: nil)
        p.startPaused = false
        p.addOption("-action", "reboot=shutdown,shutdown=pause")
        p.addOption("-no-shutdown")
        #expect(!p.arguments.contains("-mon"))
        #expect(!p.arguments.contains("-S"))
        #expect(Array(p.arguments.suffix(3)) == ["-action", "reboot=shutdown,shutdown=pause", "-no-shutdown"])
    }

    @Test(arguments: [(UInt64(1) << 30, "1G"), (3 << 20, "3M"), (1536 << 10, "1536K"), (1 << 40, "1T"), (4097, "4097B")])
    func memoryArgument(bytes: UInt64, text: String) {
        #expect(LaunchPlan.memoryArgument(bytes) == text)
    }

    /// Property problems the object model finds are reported under the config key.
    @Test(arguments: [
        ("[confidential]\ntype = \"sev-snp-guest\"\npolicy = 196608",
         #"/cfg/x.toml: confidential.policy: expected a hex string like "0x30000", got integer 196608"#),
        ("[confidential]\ntype = \"sev-snp-guest\"\npolicy = \"196608\"",
         #"/cfg/x.toml: confidential.policy: expected a hex string like "0x30000" (0x and 1 to 16 hex digits), got string "196608""#),
        ("[confidential]\ntype = \"sev-snp-guest\"\npolcy = \"0x30000\"",
         "/cfg/x.toml: confidential.polcy: sev-snp-guest has no property 'polcy'"),
        ("[confidential]\ntype = \"sev-snp-guest\"\ncbitpos = \"51\"",
         "/cfg/x.toml: confidential.cbitpos: expected an integer, got"),
        ("[confidential]\ntype = \"sev-snp-guest\"\ncbitpos = 4294967296",
         "/cfg/x.toml: confidential.cbitpos: 4294967296 is out of range for uint32"),
        ("[confidential]\ntype = \"sev-guest\"\nkernel-hashes = 1.5",
         "/cfg/x.toml: confidential.kernel-hashes: expected a string, an integer or a boolean (a sev-guest property), got floating-point number 1.5"),
        ("[memory-backend]\ntype = \"memory-backend-ram\"\nshare = \"yes\"",
         "/cfg/x.toml: memory-backend.share: expected a boolean, got"),
        ("[qemu]\nbinary = \"no-such-qemu\"",
         #"/cfg/x.toml: qemu.binary: "no-such-qemu" not found on PATH (/usr/bin): install QEMU or give an absolute path"#),
    ])
    func objectPropertyProblemsNameTheConfigKey(text: String, message: String) throws {
        let found = try planProblems(text)
        #expect(found.contains { $0.hasPrefix(message) }, "got \(found)")
    }

    /// `validate` goes further than the plan: the object model's rules, files, accelerator, version.
    @Test(arguments: [
        ("[qemu]\naccel = \"tcg\"\n[confidential]\ntype = \"sev-snp-guest\"\nreduced-phys-bits = 1",
         "qemu", "qemu.accel", "needs \"kvm\", got \"tcg\" (QEMU: cannot set up private guest memory for sev-snp-guest: KVM required)"),
        ("[qemu]\naccel = \"tcg\"\n[confidential]\ntype = \"sev-guest\"\nreduced-phys-bits = 1",
         "qemu", "qemu.accel", "(QEMU: accelerator does not support confidential guest sev-guest)"),
        ("[confidential]\ntype = \"sev-snp-guest\"\nreduced-phys-bits = 1\npolicy = \"0x10000\"",
         "launch", "confidential.policy", ""),
        ("[confidential]\ntype = \"sev-snp-guest\"\nreduced-phys-bits = 1\nkernel-hashes = true",
         "warning", "confidential.kernel-hashes", ""),
        ("[confidential]\ntype = \"sev-snp-guest\"",
         "qemu", "confidential.reduced-phys-bits", ""),
        ("[confidential]\ntype = \"sev-snp-guest\"\nreduced-phys-bits = 1\nhost-data = \"AAAA\"",
         "qemu", "confidential.host-data", ""),
        ("[confidential]\ntype = \"sev-snp-guest\"\nid = \"0bad id\"\nreduced-phys-bits = 1",
         "qemu", "confidential.id", ""),
        ("[firmware]\nbios = \"/nonexistent/OVMF.fd\"",
         "qemu", "firmware.bios", #""/nonexistent/OVMF.fd" does not exist"#),
        ("[firmware]\nbios = \"/usr\"", "qemu", "firmware.bios", "is a directory"),
        ("[qemu]\nversion = \"10.0.2\"\n[igvm]\nfile = \"/etc/hostname\"",
         "qemu", "igvm", "igvm-cfg needs QEMU >= 10.1.0, the target is 10.0.2"),
        ("[qemu]\nversion = \"10.1\"\n[igvm]\nfile = \"/etc/hostname\"",
         "qemu", "igvm", "a native (non-confidential) IGVM guest needs QEMU >= 10.2.0, the target is 10.1.0"),
        ("[confidential]\ntype = \"nocc\"", "warning", "confidential.type", "nocc exists only in a QEMU fork"),
        ("[qemu]\nmachine = \"microvm\"\n[igvm]\nfile = \"/etc/hostname\"", "qemu", "igvm", "machine type 'microvm' has no igvm-cfg"),
    ])
    func validationProblems(text: String, level: String, key: String, message: String) throws {
        let found = ConfigValidation.validate(try definition(text), searchPath: "/usr/bin")
        #expect(found.contains { $0.level.rawValue == level && $0.key == key && (message.isEmpty || $0.message.contains(message)) },
                "got \(found.map { "\($0.level): \($0)" })")
    }

    @Test func aValidDefinitionHasNoProblems() throws {
        let found = ConfigValidation.validate(try definition("""
            [qemu]
            accel = "kvm"
            [confidential]
            type = "sev-snp-guest"
            reduced-phys-bits = 1
            cbitpos = 51
            policy = "0x30000"
            host-data = "\(String(repeating: "A", count: 43))="
            [firmware]
            bios = "/usr/share/qemu/OVMF.fd"
            """), searchPath: "/usr/bin")
        #expect(found.isEmpty, "\(found)")
    }

    @Test func theQEMUVersionOptionOverridesTheConfig() throws {
        let d = try definition("[qemu]\nversion = \"10.0\"\n[igvm]\nfile = \"/etc/hostname\"")
        #expect(!ConfigValidation.validate(d, searchPath: "/usr/bin").filter { $0.key == "igvm" }.isEmpty)
        #expect(ConfigValidation.validate(d, qemuVersion: "10.2.2", searchPath: "/usr/bin").filter { $0.key == "igvm" }.isEmpty)
    }
}
