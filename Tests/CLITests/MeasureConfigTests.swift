import Foundation
import IGVM
import JSON
import Testing
import TestSupport

/// `igvm-mgr measure CONFIG` and `id-block --config`: the digest of what `start` would launch.
struct MeasureConfigTests {
    static let fixtures = TestPaths.fixtures.appendingPathComponent("sev-snp-measure")
    static let amdSev = fixtures.appendingPathComponent("ovmf_AmdSev_suffix.bin").path

    static func write(_ text: String, name: String = "vm.toml", in dir: URL) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    static func snpDefinition(firmware: String, cpus: Int = 4, extra: String = "", tail: String = "") -> String {
        """
        [qemu]
        cpus = \(cpus)
        cpu-model = "EPYC-v4"

        [confidential]
        type = "sev-snp-guest"
        cbitpos = 51
        reduced-phys-bits = 1
        policy = "0x30000"
        \(extra)

        \(firmware)
        \(tail)
        """
    }

    @Test("OVMF with kernel hashes: sev-snp-measure's digest for AmdSev, 4 vCPUs, empty kernel and initrd, empty append")
    func ovmfKernelHashes() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try Self.write(Self.snpDefinition(
            firmware: "[firmware]\nbios = \"\(Self.amdSev)\"", extra: "kernel-hashes = true",
            tail: "[kernel]\nkernel = \"\(EmptyFile.path)\"\ninitrd = \"\(EmptyFile.path)\"\nappend = \"\""), in: dir)
        let result = try IGVMManagerBinary.run(["measure", config])
        #expect(result.status == 0, "\(result.stderr)")
        // Features 0x1, as QEMU 10.2 with KVM_SEV_INIT2 and sev-snp-measure's default.
        #expect(result.stdout == "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5\n")

        let json = try JSON.decode(try IGVMManagerBinary.run(["measure", config, "--json"]).stdout)
        #expect(json["mode"]?.stringValue == "snp")
        #expect(json["vcpus"]?.int64Value == 4)
        #expect(json["vcpu-sig"]?.stringValue == "0x800F12")
        #expect(json["policy"]?.stringValue == "0x30000")
    }

    @Test("id-block --config signs the definition's digest with its policy; a stale id-block is reported")
    func idBlockFromConfig() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let firmware = "[firmware]\nbios = \"\(Self.amdSev)\""
        let config = try Self.write(Self.snpDefinition(firmware: firmware, cpus: 1), in: dir)
        let key = Self.fixtures.appendingPathComponent("keyfile/id_key_test.pem").path
        let signed = try IGVMManagerBinary.run(["id-block", "--config", config, "--id-key", key, "--json"])
        #expect(signed.status == 0, "\(signed.stderr)")
        let json = try JSON.decode(signed.stdout)
        // AmdSev, 1 vCPU, EPYC-v4, no kernel, features 0x1 (sev-snp-measure's tests/test_guest.py).
        #expect(json["launch-digest"]?.stringValue ==
            "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d")
        #expect(json["policy"]?.stringValue == "0x30000")

        let mismatch = try IGVMManagerBinary.run(["id-block", "--config", config, "--id-key", key, "--policy", "0x70000"])
        #expect(mismatch.status == 2)
        #expect(mismatch.stderr.contains("differs from the definition's policy 0x30000"))

        // The block signed for 1 vCPU, put into a 2-vCPU definition, no longer matches.
        let idBlock = try #require(json["id-block"]?.stringValue)
        let idAuth = try #require(json["id-auth"]?.stringValue)
        let stale = try Self.write(Self.snpDefinition(
            firmware: firmware, cpus: 2, extra: "id-block = \"\(idBlock)\"\nid-auth = \"\(idAuth)\""), name: "stale.toml", in: dir)
        let warned = try IGVMManagerBinary.run(["measure", stale])
        #expect(warned.status == 0)
        #expect(warned.stderr.contains("confidential.id-block expects launch digest 19358ba9"))
    }

    @Test("IGVM definition: qemu.cpus VMSAs in QEMU's order, equal to measure --igvm --cpus")
    func igvmDefinition() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ovmf = try OVMFImage(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.amdSev))))
        let igvm = dir.appendingPathComponent("snp.igvm")
        try Data(try OVMFIGVMBuilder(platforms: [.sevSNP], vcpus: 4).build(ovmf)).write(to: igvm)
        let config = try Self.write(Self.snpDefinition(firmware: "[igvm]\nfile = \"snp.igvm\"", cpus: 2), in: dir)
        let viaConfig = try IGVMManagerBinary.run(["measure", config])
        let direct = try IGVMManagerBinary.run(["measure", "--igvm", igvm.path, "--cpus", "2"])
        #expect(viaConfig.status == 0, "\(viaConfig.stderr)")
        #expect(viaConfig.stdout == direct.stdout)
        // 2 of the file's 4 VMSAs are measured, igvmmeasure would take all 4: both are shown.
        #expect(viaConfig.stderr.contains("QEMU measures one VMSA per vCPU (2); the file has 4"))
    }

    @Test("validate CONFIG checks an IGVM SNP_ID_BLOCK's LD against the digest QEMU will measure")
    func validateIDBlockDigest() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ovmf = try OVMFImage(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.amdSev))))
        let config = try Self.write(Self.snpDefinition(firmware: "[igvm]\nfile = \"snp.igvm\"", cpus: 1), in: dir)
        func writeIGVM(ld: [UInt8]) throws {
            var w = try OVMFIGVMBuilder(platforms: [.sevSNP], vcpus: 1).writer(for: ovmf)
            let key = IGVMSNPPublicKey(curve: 2, reserved: 0, qx: [], qy: [])
            let sig = IGVMSNPSignature(r: [], s: [])
            w.add(.snpIDBlock(IGVMSNPIDBlock(
                compatibilityMask: 1, authorKeyEnabled: 0, reserved: [0, 0, 0], ld: ld, familyID: [], imageID: [],
                version: 1, guestSVN: 0, idKeyAlgorithm: 1, authorKeyAlgorithm: 1, idKeySignature: sig, idPublicKey: key,
                authorKeySignature: sig, authorPublicKey: IGVMSNPPublicKey(curve: 0, reserved: 0, qx: [], qy: []))))
            try Data(w.serialize()).write(to: dir.appendingPathComponent("snp.igvm"))
        }
        try writeIGVM(ld: [UInt8](repeating: 0, count: 48))
        let digest = try IGVMManagerBinary.run(["measure", config])
        #expect(digest.status == 0, "\(digest.stderr)")
        let wrong = try IGVMManagerBinary.run(["validate", config])
        #expect(wrong.stdout.contains("id-block-ld") || wrong.stderr.contains("id-block-ld"), "\(wrong.stdout)\(wrong.stderr)")

        var ld: [UInt8] = []
        var hex = Substring(digest.stdout.dropLast())
        while !hex.isEmpty { ld.append(UInt8(hex.prefix(2), radix: 16)!); hex = hex.dropFirst(2) }
        try writeIGVM(ld: ld)
        let right = try IGVMManagerBinary.run(["validate", config])
        #expect(!(right.stdout + right.stderr).contains("id-block-ld"), "\(right.stdout)\(right.stderr)")
    }

    @Test("Definitions that cannot be measured say why", arguments: [
        ("[qemu]\ncpus = 1\n[firmware]\nbios = \"/dev/null\"", "confidential: an ordinary guest has no launch digest"),
        ("[qemu]\ncpus = 1\ncpu-model = \"host\"\n[confidential]\ntype = \"sev-snp-guest\"\nreduced-phys-bits = 1\n[firmware]\nbios = \"/dev/null\"",
         "qemu.cpu-model: the VMSAs carry the CPU signature, so cpu-model must be one of EPYC"),
        ("[qemu]\ncpu-model = \"EPYC\"\n[confidential]\ntype = \"sev-snp-guest\"\nreduced-phys-bits = 1",
         "firmware: no [firmware] or [igvm]"),
    ])
    func unmeasurable(definition: String, message: String) throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try Self.write(definition, in: dir)
        let result = try IGVMManagerBinary.run(["measure", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
