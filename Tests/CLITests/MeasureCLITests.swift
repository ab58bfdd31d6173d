import Foundation
import IGVM
import JSON
import Testing
import TestSupport

/// `igvm-mgr measure` and `igvm-mgr id-block` as a user runs them (no peer tool needed).
struct MeasureCLITests {
    static let fixtures = TestPaths.fixtures
    static let amdSev = fixtures.appendingPathComponent("sev-snp-measure/ovmf_AmdSev_suffix.bin").path
    static let x64 = fixtures.appendingPathComponent("sev-snp-measure/ovmf_OvmfX64_suffix.bin").path

    @Test("sev-snp-measure's vectors via the CLI: base64 output, kernel hashes, the kernel-without-section error")
    func vectors() throws {
        let base64 = try IGVMManagerBinary.run([
            "measure", "--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-Genoa", "--ovmf", Self.x64,
            "--output-format", "base64",
        ])
        #expect(base64.status == 0)
        #expect(base64.stdout == "kbo01KUxCtbD33YjdYgbW0bnfCPgq6Lt56Zc3tdUuCHyc1nHOkkKV+NR2W+KsupD\n")

        let kernel = try IGVMManagerBinary.run([
            "measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", Self.amdSev,
            "--kernel", EmptyFile.path, "--initrd", EmptyFile.path, "--append", "console=ttyS0 loglevel=7", "--guest-features", "0x21",
        ])
        #expect(kernel.stdout == "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977\n")

        let error = try IGVMManagerBinary.run([
            "measure", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", Self.x64, "--kernel", EmptyFile.path,
        ])
        #expect(error.status == 1)
        #expect(error.stdout.isEmpty)
        #expect(error.stderr == "igvm-mgr: error: Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section\n")

        let missing = try IGVMManagerBinary.run(["measure", "--mode", "snp", "--ovmf", Self.x64])
        #expect(missing.status == 2)
        #expect(missing.stderr == "igvm-mgr: error: missing --vcpus N in guest mode 'snp'\n")

        let unreadable = try IGVMManagerBinary.run(["measure", "--mode", "sev", "--ovmf", "/nonexistent/OVMF.fd"])
        #expect(unreadable.status == 2)
        #expect(unreadable.stderr == "igvm-mgr: error: /nonexistent/OVMF.fd: cannot open: No such file or directory\n")
    }

    @Test("id-block with sev-snp-measure's keys: its test's id-block and key digests, a 4096-byte id-auth")
    func idBlock() throws {
        let keys = Self.fixtures.appendingPathComponent("sev-snp-measure/keyfile")
        let digest = "076f052d08bda7a700aa2a608c5caa6b00ebad297b6d68a85a45b1e669a558b67e1b91d284a301fe63c4fa0750467eed"
        let result = try IGVMManagerBinary.run([
            "id-block", "--digest", digest, "--id-key", keys.appendingPathComponent("id_key_test.pem").path,
            "--author-key", keys.appendingPathComponent("author_key_test.pem").path, "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSON.decode(result.stdout)
        #expect(json["id-block"]?.stringValue ==
            "B28FLQi9p6cAqipgjFyqawDrrSl7bWioWkWx5mmlWLZ+G5HShKMB/mPE+gdQRn7tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAwAAAAAA")
        #expect(json["id-key-digest"]?.stringValue == Self.hex(base64: "hwt+NcU/inLQ0yL3WrKvgmJ5Kq9leWIs5BMcPyHyied8sFYKXjuQs5MuZ07HCcsU"))
        #expect(json["author-key-digest"]?.stringValue == Self.hex(base64: "YxEcNLv8Ckk4+aAJvQdJgNgXIyPmFZnJ/TNtqGcySOHcqY0L6PdjdqEGuK/UwKBX"))
        #expect(json["author-key-enabled"]?.boolValue == true)
        let auth = try #require(json["id-auth"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        #expect(auth.count == 4096)

        let toml = try IGVMManagerBinary.run([
            "id-block", "--digest", digest, "--id-key", keys.appendingPathComponent("id_key_test.pem").path,
            "--family-id", "00112233-4455-6677-8899-aabbccddeeff", "--svn", "3", "--policy", "0x30000", "--toml",
        ])
        #expect(toml.status == 0, "\(toml.stderr)")
        #expect(toml.stdout.contains("[confidential]\npolicy = \"0x30000\"\nid-block = \""))
        #expect(toml.stdout.contains("author-key-enabled = false\n"))
    }

    @Test("id-block refuses bad input with one line and exit 2", arguments: [
        (["--digest", "abcd", "--id-key", "/dev/null"], "--digest: expected a 48-byte launch digest (96 hex digits), got 'abcd'"),
        (["--id-key", "/dev/null"], "missing --digest HEX (or --config CONFIG)"),
        (["--digest", String(repeating: "ab", count: 48)], "missing --id-key ID.pem"),
        (["--digest", String(repeating: "ab", count: 48), "--id-key", EmptyFile.path],
         "ID key: not a PEM-encoded ECDSA P-384 private key (SNP ID keys must be P-384)"),
        (["--digest", String(repeating: "ab", count: 48), "--id-key", "/dev/null", "--policy", "0x10000"],
         "--policy 0x10000: bit 17 (reserved, must be one) is clear"),
    ])
    func idBlockErrors(arguments: [String], message: String) throws {
        let result = try IGVMManagerBinary.run(["id-block"] + arguments)
        #expect(result.status == 2)
        #expect(result.stderr == "igvm-mgr: error: \(message)\n")
        #expect(result.stdout.isEmpty)
    }

    @Test("measure --igvm: QEMU order by default, both digests and the reason on stderr when file order differs")
    func igvmOrders() throws {
        var w = IGVMWriter()
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: .sevSNP)]
        w.initializations = [.guestPolicy(policy: 0x30000, compatibilityMask: 1)]
        w.add(.parameterArea(IGVMParameterArea(numberOfBytes: 0x1000, parameterAreaIndex: 0, fileOffset: 0)))
        w.add(.parameter(IGVMParameter(kind: .vpCount, parameterAreaIndex: 0, byteOffset: 0)))
        w.add(.pageData(IGVMPageData(gpa: 0x1000, compatibilityMask: 1)), data: [1])
        w.add(.parameterInsert(IGVMParameterInsert(gpa: 0x8000, compatibilityMask: 1, parameterAreaIndex: 0)))
        w.add(.vpContext(IGVMVPContext(gpa: igvmKVMVMSAGPA, compatibilityMask: 1, fileOffset: 0, vpIndex: 0, reserved: 0, format: .sevVMSA)),
              data: SEVVMSA.resetState(eip: 0xFFFF_FFF0, sevFeatures: 1).bytes)
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("crafted.igvm").path
        try Data(w.serialize()).write(to: URL(fileURLWithPath: path))

        let qemu = try IGVMManagerBinary.run(["measure", "--igvm", path])
        let file = try IGVMManagerBinary.run(["measure", "--igvm", path, "--order", "file"])
        #expect(qemu.status == 0 && file.status == 0, "\(qemu.stderr)")
        #expect(qemu.stdout.count == 97 && file.stdout.count == 97)
        #expect(qemu.stdout != file.stdout)
        #expect(qemu.stderr.contains("qemu-order (QEMU 10.2 + KVM): \(qemu.stdout.dropLast())"))
        #expect(qemu.stderr.contains("file-order (igvmmeasure):     \(file.stdout.dropLast())"))
        #expect(qemu.stderr.contains("because PARAMETER_INSERT directive #3 (GPA 0x8000) comes while the page run"))

        let json = try JSON.decode(try IGVMManagerBinary.run(["measure", "--igvm", path, "--json"]).stdout)
        #expect(json["qemu-order"]?.stringValue == String(qemu.stdout.dropLast()))
        #expect(json["file-order"]?.stringValue == String(file.stdout.dropLast()))
        #expect(json["cpus"]?.int64Value == 1)

        let tooMany = try IGVMManagerBinary.run(["measure", "--igvm", path, "--cpus", "2"])
        #expect(tooMany.status == 1)
        #expect(tooMany.stderr.hasPrefix("igvm-mgr: error: the IGVM file has no VP_CONTEXT for vCPU 1 of 2"))
    }

    static func hex(base64: String) -> String {
        Data(base64Encoded: base64)!.map { String(format: "%02x", $0) }.joined()
    }
}
