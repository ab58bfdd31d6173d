import Foundation
import Testing
import TestSupport
@testable import Definition
@testable import Launch
@testable import Supervisor
@testable import FirmwareUpdate

/// Parses `text` as if it were the file `configs/x.toml` (base folder /cfg).
private func parse(_ text: String) throws(ConfigError) -> VMDefinition {
    try VMDefinition.parse(text, file: "configs/x.toml", baseDirectory: URL(fileURLWithPath: "/cfg"), defaultName: "x")
}

/// The one-line messages a definition produces, or [] when it loads.
private func problems(_ text: String) -> [String] {
    do {
        _ = try parse(text)
        return []
    } catch {
        return error.problems.map(\.description)
    }
}

@Suite struct DefinitionTests {
    @Test func defaultsForAMinimalDefinition() throws {
        let d = try parse("")
        #expect(d.name == "x")
        #expect(d.qemu == QEMUSettings())
        #expect(d.qemu.binary == "qemu-system-x86_64")
        #expect(d.qemu.memory == 1 << 30)
        #expect(d.boot == .none)
        #expect(d.confidential == nil)
        #expect(d.vmfwupdate == VMFWUpdateSettings())
    }

    @Test func readsEveryQEMUKey() throws {
        let d = try parse("""
            name = "vm-1"
            [qemu]
            binary = "/opt/qemu/bin/qemu-system-x86_64"
            machine = "pc"
            accel = "tcg"
            memory = "3G"
            cpus = 3
            cpu-model = "EPYC-v4"
            debugcon = "logs/debug.log"
            serial = "/var/log/serial.log"
            version = "10.2.2"
            """)
        #expect(d.name == "vm-1")
        #expect(d.qemu.binary == "/opt/qemu/bin/qemu-system-x86_64")
        #expect(d.qemu.machine == "pc")
        #expect(d.qemu.accel == "tcg")
        #expect(d.qemu.memory == 3 << 30)
        #expect(d.qemu.cpus == 3)
        #expect(d.qemu.cpuModel == "EPYC-v4")
        #expect(d.qemu.debugcon == "/cfg/logs/debug.log")
        #expect(d.qemu.serial == "/var/log/serial.log")
        #expect(d.qemu.version == "10.2.2")
    }

    /// Relative paths resolve against the config file's folder, `..` included; absolute ones stay.
    @Test(arguments: [
        ("OVMF.fd", "/cfg/OVMF.fd"),
        ("fw/OVMF.fd", "/cfg/fw/OVMF.fd"),
        ("../fw/./OVMF.fd", "/fw/OVMF.fd"),
        ("/usr/share/ovmf/OVMF.fd", "/usr/share/ovmf/OVMF.fd"),
        ("dir,with=comma/OVMF.fd", "/cfg/dir,with=comma/OVMF.fd"),
    ])
    func relativePathsResolveAgainstTheConfigFile(written: String, resolved: String) throws {
        let d = try parse("[firmware]\nbios = \(JSONQuoted(written))\n")
        #expect(d.boot == .bios(resolved))
    }

    @Test func loadResolvesAgainstTheFilesOwnFolder() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("vms"), withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("vms/guest.toml")
        try "[igvm]\nfile = \"../images/g.igvm\"\n[qemu]\nbinary = \"bin/qemu\"\n".write(to: file, atomically: true, encoding: .utf8)
        let d = try VMDefinition.load(path: file.path)
        #expect(d.name == "guest")
        #expect(d.boot == .igvm(file: dir.appendingPathComponent("images/g.igvm").standardizedFileURL.path))
        #expect(d.qemu.binary == dir.appendingPathComponent("vms/bin/qemu").standardizedFileURL.path)
    }

    @Test func pflashAndKernelAndVMFWUpdate() throws {
        let d = try parse("""
            [firmware]
            pflash0 = "code.fd"
            pflash1 = "vars.fd"
            [kernel]
            kernel = "vmlinuz"
            initrd = "initrd.img"
            append = "console=ttyS0 root=/dev/vda"
            [vmfwupdate]
            enabled = true
            mailbox = "0x7f000000"
            """)
        #expect(d.boot == .pflash(code: "/cfg/code.fd", vars: "/cfg/vars.fd"))
        #expect(d.kernel == KernelBoot(kernel: "/cfg/vmlinuz", initrd: "/cfg/initrd.img", append: "console=ttyS0 root=/dev/vda"))
        #expect(d.vmfwupdate == VMFWUpdateSettings(enabled: true, mailbox: 0x7f00_0000))
    }

    @Test func confidentialAndMemoryBackendKeepTheirProperties() throws {
        let d = try parse("""
            [confidential]
            type = "sev-snp-guest"
            policy = "0x30000"
            cbitpos = 51
            [memory-backend]
            type = "memory-backend-file"
            id = "mem"
            mem-path = "hugepages/guest"
            share = true
            """)
        let c = try #require(d.confidential)
        #expect(c.type == .sevSNPGuest)
        #expect(c.id == "sev0")
        #expect(c.properties.map(\.key) == ["cbitpos", "policy"])
        let m = try #require(d.memoryBackend)
        #expect(m.type == "memory-backend-file")
        #expect(m.id == "mem")
        #expect(m.properties.map(\.key) == ["mem-path", "share"])
    }

    /// One case per kind of error message: each names the file, the key and what was expected, in one line.
    @Test(arguments: [
        // wrong type
        ("[qemu]\ncpus = \"two\"", #"configs/x.toml: qemu.cpus: expected an integer from 1 to 4096, got string "two""#),
        // out of range
        ("[qemu]\ncpus = 0", "configs/x.toml: qemu.cpus: expected an integer from 1 to 4096, got 0"),
        // bad size
        ("[qemu]\nmemory = 512", #"configs/x.toml: qemu.memory: expected a size string like "4G" or "512M" (suffix K, M, G or T), got integer 512"#),
        ("[qemu]\nmemory = \"512\"", #"configs/x.toml: qemu.memory: expected a size string like "4G" or "512M" (suffix K, M, G or T), got string "512""#),
        // unknown keys, at the top and in a table
        ("nmae = \"a\"", "configs/x.toml: nmae: unknown key (expected one of: name, qemu, confidential, firmware, igvm, kernel, memory-backend, vmfwupdate, disk, nic, vsock, console)"),
        ("[qemu]\ncpu = 2", "configs/x.toml: qemu.cpu: unknown key (expected one of: binary, machine, accel, memory, cpus, cpu-model, debugcon, serial, version)"),
        ("[firmware]\nbios = \"a\"\nbois = \"b\"", "configs/x.toml: firmware.bois: unknown key (expected one of: bios, pflash0, pflash1)"),
        // a table where a value belongs, and the reverse
        ("qemu = \"q35\"", #"configs/x.toml: qemu: expected a table ([qemu]), got string "q35""#),
        ("[qemu.machine]\ntype = \"q35\"", "configs/x.toml: qemu.machine: expected a machine type like \"q35\", got a table"),
        // missing required key
        ("[confidential]\ncbitpos = 51", "configs/x.toml: confidential.type: missing: expected one of sev-guest, sev-snp-guest, nocc"),
        ("[confidential]\ntype = \"sev-snp\"", #"configs/x.toml: confidential.type: expected one of sev-guest, sev-snp-guest, nocc, got "sev-snp""#),
        ("[igvm]", "configs/x.toml: igvm.file: missing: expected the IGVM file's path"),
        ("[firmware]", "configs/x.toml: firmware.bios: missing: [firmware] needs bios, or pflash0 (and optionally pflash1)"),
        // mutually exclusive tables and keys
        ("[firmware]\nbios = \"a\"\n[igvm]\nfile = \"b\"", "configs/x.toml: igvm: not allowed together with [firmware]: the IGVM file is the firmware (QEMU ignores -bios and rejects pflash with igvm-cfg)"),
        ("[firmware]\nbios = \"a\"\npflash0 = \"b\"", "configs/x.toml: firmware.pflash0: not allowed together with firmware.bios: use either -bios or pflash"),
        ("[firmware]\npflash1 = \"b\"", "configs/x.toml: firmware.pflash1: needs firmware.pflash0 (the read-only firmware code)"),
        // hex strings for 64-bit values
        ("[vmfwupdate]\nmailbox = 2130706432", #"configs/x.toml: vmfwupdate.mailbox: expected a hex string like "0x7f000000", got integer 2130706432"#),
        ("[vmfwupdate]\nmailbox = \"0x7f000001\"", #"configs/x.toml: vmfwupdate.mailbox: expected a page-aligned guest-physical address (multiple of 0x1000), got "0x7f000001""#),
        ("[vmfwupdate]\nmailbox = \"7f000000\"", #"configs/x.toml: vmfwupdate.mailbox: expected a hex string like "0x7f000000" (0x and 1 to 16 hex digits), got string "7f000000""#),
        ("[vmfwupdate]\nenabled = \"yes\"", #"configs/x.toml: vmfwupdate.enabled: expected true or false, got string "yes""#),
        // bad values
        ("name = \"../etc\"", #"configs/x.toml: name: expected a VM name (1 to 64 characters from A-Z a-z 0-9 . _ -, not starting with . or -), got "../etc""#),
        ("[firmware]\nbios = \"\"", "configs/x.toml: firmware.bios: expected a file path, got an empty string"),
        ("[qemu]\ncpu-model = \"EPYC,+sev\"", #"configs/x.toml: qemu.cpu-model: expected a CPU model name (letters, digits, - _ .) like "EPYC-v4", got "EPYC,+sev""#),
        ("[qemu]\nversion = \"ten\"", #"configs/x.toml: qemu.version: expected a QEMU version like "10.2.2", got "ten""#),
        ("[memory-backend]\ntype = \"memory-backend-ram\"\nsize = \"1G\"", "configs/x.toml: memory-backend.size: not allowed here: the backend's size is always qemu.memory"),
        // a NUL cannot reach QEMU (and TOMLKit would cut the string at it)
        ("[qemu]\nserial = \"a\\u0000b\"", #"configs/x.toml: line 2: a \u0000 escape (NUL) in a string: no QEMU argument can hold a NUL byte"#),
        // not TOML at all: the position instead of a key
        ("[qemu\nmachine = 1", "configs/x.toml: not valid TOML at line 1, column 6:"),
    ])
    func errorMessageNamesFileKeyAndExpectation(text: String, message: String) {
        let found = problems(text)
        #expect(found.contains { $0.hasPrefix(message) }, "got \(found)")
        #expect(found.allSatisfy { !$0.contains("\n") })
    }

    @Test func everyProblemIsReportedInOneRun() {
        let found = problems("""
            naem = "x"
            [qemu]
            cpus = "1"
            memroy = "1G"
            [firmware]
            bios = 3
            """)
        #expect(found.count == 4, "\(found)")
    }

    @Test func syntaxErrorsAreUnreadableAndValueErrorsInvalid() {
        #expect(throws: ConfigError.self) { try parse("= 1") }
        do { _ = try parse("= 1") } catch { #expect(error.kind == .unreadable) }
        do { _ = try parse("x = 1") } catch { #expect(error.kind == .invalid) }
    }

    @Test func aMissingFileIsUnreadableAndNamed() {
        do {
            _ = try VMDefinition.load(path: "/nonexistent/vm.toml")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.kind == .unreadable)
            #expect(error.description.hasPrefix("/nonexistent/vm.toml: "))
        }
    }

    @Test(arguments: [(#"a = "\u0000""#, 1), ("\n\nb = 'x'\nc = \"\\U00000000\"", 4), (#"a = "\\u0000""#, nil), ("a = 1", nil)])
    func nulEscapes(text: String, line: Int?) {
        #expect(TOMLDocument.nulEscapeLine(text) == line)
    }

    @Test(arguments: ["0x0", "0x30000", "0X1f", "0xffffffffffffffff", "0x8000_0000"])
    func hexNumbersParse(text: String) throws {
        let expected = UInt64(text.dropFirst(2).filter { $0 != "_" }, radix: 16)
        #expect(HexNumber.parse(text) == expected)
    }

    @Test(arguments: ["", "0x", "30000", "0x1_0000_0000_0000_0000", "0x10000000000000000", "0xg", "-0x1", "0x1_"])
    func malformedHexNumbersDoNot(text: String) {
        #expect(HexNumber.parse(text) == nil)
    }

    @Test(arguments: [("1K", UInt64(1024)), ("512M", 512 << 20), ("4G", 4 << 30), ("2t", 2 << 40)])
    func sizes(text: String, bytes: UInt64) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "M", "1", "1.5G", "-1G", "1GB", "99999999999999999T"])
    func malformedSizes(text: String) {
        #expect(ByteSize.parse(text) == nil)
    }

    @Test func theExampleListNamesEveryFileUnderConfigs() throws {
        let dir = TestPaths.packageRoot.appendingPathComponent("configs")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }
        #expect(Set(files) == Set(ExampleConfigs.all))
    }

    /// Every example under configs/ loads.
    @Test(arguments: ExampleConfigs.all)
    func exampleConfigLoads(name: String) throws {
        let d = try VMDefinition.load(path: ExampleConfigs.path(name))
        #expect(d.name == name)
    }
}
