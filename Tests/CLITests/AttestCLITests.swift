import Foundation
import JSON
import Testing
import TestSupport

/// `igvm-mgr attest show|verify|kds` run as a user would, on real reports and AMD's chains.
struct AttestCLITests {
    static let reports = TestPaths.fixtures.appendingPathComponent("sev-snp-reports")
    static let virtee = TestPaths.fixtures.appendingPathComponent("sev-snp-attestation")
    static func real(_ name: String) -> String { reports.appendingPathComponent("real/\(name)").path }
    static func derived(_ name: String) -> String { reports.appendingPathComponent("derived/\(name)").path }

    /// report, certificate, extra options (the go-sev-guest report allows DEBUG; the trustee VLEK
    /// expired on 2025-12-10, so it is judged on a day it was valid).
    static let realReports: [(String, String, [String])] = [
        (virtee.appendingPathComponent("report_milan.bin").path, virtee.appendingPathComponent("vcek_milan.der").path, []),
        (real("milan_v2_gsg.bin"), real("milan_v2_gsg_vcek.der"), ["--allow-debug"]),
        (real("milan_v3_az_v0.bin"), real("milan_v3_az_v0_vcek.der"), []),
        (real("milan_v3_vlek_trustee.bin"), real("milan_v3_vlek_trustee_vlek.der"), ["--at", "2025-06-01"]),
        (real("genoa_v2_oak.bin"), real("genoa_v2_oak_vcek.der"), []),
        (real("genoa_v3_routex.bin"), real("genoa_v3_routex_vcek.der"), []),
        (real("genoa_v5_oak.bin"), real("genoa_v5_oak_vcek.der"), []),
        (real("turin_v5_oak.bin"), real("turin_v5_oak_vcek.der"), []),
    ]

    @Test("verify: real Milan, Genoa and Turin reports (versions 2, 3, 5; VCEK and VLEK) with the built-in chains exit 0, every line ✔")
    func verifyRealReports() throws {
        for (report, cert, extra) in Self.realReports {
            let r = try IGVMManagerBinary.run(["attest", "verify", report, "--vcek", cert] + extra)
            #expect(r.status == 0, "\(report): \(r.stdout)\(r.stderr)")
            let lines = r.stdout.split(separator: "\n")
            #expect(lines.filter { $0.hasPrefix("✘") }.isEmpty, "\(r.stdout)")
            #expect(lines.last?.hasPrefix("verified: all ") == true)
            #expect(lines.contains { $0.hasPrefix("✔ report-signature: verifies") })
        }
    }

    @Test("verify --json: verified, one object per check, the decoded report")
    func verifyJSON() throws {
        let r = try IGVMManagerBinary.run(["attest", "verify", Self.real("turin_v5_oak.bin"), "--vcek", Self.real("turin_v5_oak_vcek.der"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.decode(r.stdout)
        #expect(json["verified"]?.boolValue == true)
        #expect(json["product"]?.stringValue == "turin")
        let checks = json["checks"]?.arrayValue ?? []
        #expect(checks.count >= 10)
        #expect(checks.allSatisfy { $0["ok"]?.boolValue == true && $0["name"]?.stringValue != nil && $0["expected"] != nil && $0["actual"] != nil })
        #expect(json["report"]?["version"]?.uint64Value == 5)
        #expect(json["report"]?["reported-tcb"]?["layout"]?.stringValue == "turin")
        #expect(json["report"]?["cpuid"]?["product"]?.stringValue == "turin")
    }

    @Test("verify: changed reports exit 1 and name the failing check; a truncated one exits 1 naming the size")
    func verifyNegatives() throws {
        let cases: [(String, String, String)] = [
            ("flip_genoa_v5_routex_0c0.bin", "genoa_v5_routex_vcek.der", "✘ report-signature: expected ECDSA P-384 by the VCEK, got the ECDSA P-384 signature over bytes 0x000-0x29F does not verify"),
            ("flip_turin_v5_oak_180.bin", "turin_v5_oak_vcek.der", "✘ reported-tcb: expected fmc 0, bootloader 1, tee 0, snp 2, microcode 71"),
            ("edit_milan_v2_trustee_sigalgo0.bin", "milan_v2_trustee_vcek.der", "✘ signature-algorithm: expected 1 (ECDSA P-384 with SHA-384), got 0"),
            ("sig_milan_v2_gsg_2d0.bin", "milan_v2_gsg_vcek.der", "✘ report-signature: expected ECDSA P-384 by the VCEK, got R or S has bits set above 384"),
        ]
        for (file, cert, line) in cases {
            let r = try IGVMManagerBinary.run(["attest", "verify", Self.derived(file), "--vcek", Self.real(cert), "--allow-debug"])
            #expect(r.status == 1, "\(file)")
            #expect(r.stdout.contains(line), "\(file): \(r.stdout)")
            #expect(r.stdout.split(separator: "\n").last?.hasPrefix("NOT verified: ") == true)
        }
        let truncated = try IGVMManagerBinary.run(["attest", "verify", Self.derived("trunc_milan_v2_trustee_1000.bin"), "--vcek", Self.real("milan_v2_trustee_vcek.der")])
        #expect(truncated.status == 1)
        #expect(truncated.stderr == "igvm-mgr: error: \(Self.derived("trunc_milan_v2_trustee_1000.bin")): an SEV-SNP attestation report is 1184 bytes, got 1000\n")
    }

    @Test("verify: the wrong product's chain (--product genoa for a Milan VCEK) fails the vcek check")
    func verifyWrongProduct() throws {
        let r = try IGVMManagerBinary.run(["attest", "verify", Self.real("milan_v2_trustee.bin"), "--vcek", Self.real("milan_v2_trustee_vcek.der"), "--product", "genoa"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("✘ vcek: expected signed by SEV-Genoa, got issued by SEV-Milan, not by SEV-Genoa"), "\(r.stdout)")
        #expect(r.stdout.contains("✔ ark: ARK-Genoa, self-signed, the built-in one"))
    }

    @Test("verify: expectations given on the command line, a mismatch printed with both values")
    func verifyExpectations() throws {
        let report = Self.virtee.appendingPathComponent("report_milan.bin").path, vcek = Self.virtee.appendingPathComponent("vcek_milan.der").path
        let show = try JSON.decode(try IGVMManagerBinary.run(["attest", "show", report, "--json"]).stdout)
        let measurement = try #require(show["measurement"]?.stringValue)
        let good = try IGVMManagerBinary.run(["attest", "verify", report, "--vcek", vcek, "--expect-measurement", measurement,
                                              "--expect-policy", "0x30000", "--expect-vmpl", "0", "--min-tcb", "bl=3,snp=8,ucode=115"])
        #expect(good.status == 0, "\(good.stdout)")
        #expect(good.stdout.contains("✔ measurement: \(measurement)"))
        #expect(good.stdout.contains("✔ minimum-tcb: "))
        let wrong = String(measurement.dropLast()) + (measurement.hasSuffix("0") ? "1" : "0")
        let bad = try IGVMManagerBinary.run(["attest", "verify", report, "--vcek", vcek, "--expect-measurement", wrong, "--min-tcb", "snp=9"])
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("✘ measurement: expected \(wrong), got \(measurement)"))
        #expect(bad.stdout.contains("✘ minimum-tcb: expected at least snp 9, got snp 8 < 9"))
        #expect(bad.stdout.hasSuffix("NOT verified: 2 of 12 checks failed (measurement, minimum-tcb)\n"), "\(bad.stdout)")
    }

    @Test("verify --certs DIR: the VCEK and the chain as snpguest writes them (vcek.der, ask.pem, ark.pem from the Milan cert_chain); a folder without a VCEK exits 2")
    func verifyCertsFolder() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chain = try String(contentsOf: Self.virtee.appendingPathComponent("cert_chain_milan"), encoding: .utf8)
        let blocks = chain.components(separatedBy: "-----END CERTIFICATE-----").filter { $0.contains("BEGIN") }
        try #require(blocks.count == 2)
        try (blocks[0] + "-----END CERTIFICATE-----\n").write(to: dir.appendingPathComponent("ask.pem"), atomically: true, encoding: .utf8)
        try (blocks[1] + "-----END CERTIFICATE-----\n").write(to: dir.appendingPathComponent("ark.pem"), atomically: true, encoding: .utf8)
        let empty = try IGVMManagerBinary.run(["attest", "verify", Self.virtee.appendingPathComponent("report_milan.bin").path, "--certs", dir.path])
        #expect(empty.status == 2)
        #expect(empty.stderr == "igvm-mgr: error: --certs \(dir.path): no vcek.der, vcek.pem, vlek.der or vlek.pem in it\n")
        try Data(contentsOf: Self.virtee.appendingPathComponent("vcek_milan.der")).write(to: dir.appendingPathComponent("vcek.der"))
        let r = try IGVMManagerBinary.run(["attest", "verify", Self.virtee.appendingPathComponent("report_milan.bin").path, "--certs", dir.path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("✔ ask: SEV-Milan, signed by ARK-Milan"))
        #expect(r.stdout.contains("✔ ark: ARK-Milan, self-signed, the built-in one"))
    }

    @Test("usage errors and unreadable input exit 2 with one line; no VCEK prints the KDS URL")
    func usageErrors() throws {
        let report = Self.real("milan_v3_az_v0.bin"), vcek = Self.real("milan_v3_az_v0_vcek.der")
        let cases: [([String], String)] = [
            (["attest", "verify", "/nonexistent/report.bin", "--vcek", vcek], "/nonexistent/report.bin"),
            (["attest", "verify", report, "--vcek", "/nonexistent/vcek.der"], "--vcek"),
            (["attest", "verify", report, "--vcek", report], "--vcek \(report)"),
            (["attest", "verify", report, "--vcek", vcek, "--expect-vmpl", "4"], "--expect-vmpl 4: VMPL is 0 to 3"),
            (["attest", "verify", report, "--vcek", vcek, "--min-tcb", "snp=300"], "--min-tcb 'snp=300': the value must be 0 to 255"),
            (["attest", "verify", report, "--vcek", vcek, "--expect-measurement", "abcd"], "--expect-measurement abcd: expected 48 bytes as 96 hex digits"),
            (["attest", "verify", report, "--vcek", vcek, "--expect-host-data", "AAAA"], "--expect-host-data AAAA"),
            (["attest", "verify", report, "--vcek", vcek, "--report-data", String(repeating: "00", count: 65)], "--report-data"),
            (["attest", "verify", report, "--vcek", vcek, "--at", "soon"], "--at soon"),
            (["attest", "verify", report, "--vcek", vcek, "--vm", "a", "--config", "b.toml"], "give --vm or --config, not both"),
            (["attest", "verify", report, "--vcek", vcek, "--product", "rome"], "--product rome: expected milan, genoa or turin"),
            (["attest", "verify", report], "fetch this chip's VCEK from AMD's KDS: https://kdsintf.amd.com/vcek/v1/Milan/"),
        ]
        for (arguments, message) in cases {
            let r = try IGVMManagerBinary.run(arguments)
            #expect(r.status == 2, "\(arguments)")
            #expect(r.stderr.hasPrefix("igvm-mgr: error: ") && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1,
                    "\(arguments): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }

    @Test("show: garbage, empty and other-version files exit 1 with one line, never a crash")
    func showGarbage() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var version9 = [UInt8](repeating: 0, count: 1184)
        version9[0] = 9
        let files: [(String, [UInt8], String)] = [
            ("empty.bin", [], "1184 bytes, got 0"),
            ("garbage.bin", Array("this is not a report\u{0}\u{1}".utf8), "1184 bytes, got 22"),
            ("v9.bin", version9, "version 9 is not one this tool knows (2, 3, 5)"),
            ("odd.hex", Array("abc".utf8), "odd number of digits"),
        ]
        for (name, bytes, message) in files {
            let path = dir.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let r = try IGVMManagerBinary.run(["attest", "show", path])
            #expect(r.status == 1, "\(name)")
            #expect(r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(name): \(r.stderr)")
        }
    }

    @Test("show: every field of a Turin v5 report, the TCB in Turin's layout, the KDS URL; hex input gives the same output")
    func showTurin() throws {
        let path = Self.real("turin_v5_oak.bin")
        let r = try IGVMManagerBinary.run(["attest", "show", path])
        #expect(r.status == 0, "\(r.stderr)")
        for name in ["version", "guest-svn", "policy", "family-id", "image-id", "vmpl", "signature-algorithm", "current-tcb",
                     "platform-info", "key-info", "report-data", "measurement", "host-data", "id-key-digest", "author-key-digest",
                     "report-id", "report-id-ma", "reported-tcb", "cpuid", "chip-id", "committed-tcb", "current-version",
                     "committed-version", "launch-tcb", "launch-mit-vector", "current-mit-vector", "signature"] {
            #expect(r.stdout.contains("\n\(name):") || r.stdout.hasPrefix("\(name):"), "\(name)")
        }
        #expect(r.stdout.contains("reported-tcb:         fmc 0, bootloader 1, tee 0, snp 2, microcode 71 (0x4700000002000100)"), "\(r.stdout)")
        #expect(r.stdout.contains("cpuid:                family 0x1a model 0x2 stepping 0x1 (Turin)"))
        #expect(r.stdout.contains("kds-vcek-url:         https://kdsintf.amd.com/vcek/v1/Turin/3b42092f69c656d3?fmcSPL=00&blSPL=01&teeSPL=00&snpSPL=02&ucodeSPL=71\n"))
        #expect(r.stdout.contains("tcb-layout:           turin (from the CPUID)"))

        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let hexPath = dir.appendingPathComponent("report.hex")
        try ([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined() + "\n").write(to: hexPath, atomically: true, encoding: .utf8)
        #expect(try IGVMManagerBinary.run(["attest", "show", hexPath.path]).stdout == r.stdout)
    }

    @Test("kds: the VCEK and cert_chain URLs for a Milan v2 report (--product needed: no CPUID)")
    func kds() throws {
        let report = Self.virtee.appendingPathComponent("report_milan.bin").path
        let noProduct = try IGVMManagerBinary.run(["attest", "kds", report])
        #expect(noProduct.status == 2 && noProduct.stderr.contains("give --product"))
        let r = try IGVMManagerBinary.run(["attest", "kds", report, "--product", "milan"])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("vcek:       https://kdsintf.amd.com/vcek/v1/Milan/") == true)
        #expect(lines.first?.hasSuffix("?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115") == true)
        #expect(lines.last == "cert_chain: https://kdsintf.amd.com/vcek/v1/Milan/cert_chain")
    }
}
