import Attestation
import Foundation
import IGVM
import SNPReport
import Testing

/// The relying party's side: expectations, policy rules, minimum TCB, product choice, KDS URLs.
struct ExpectationTests {
    static let pair = AttestationFixtures.pair("milan_v2_trustee.bin")

    static func failing(_ configure: (inout AttestationExpectations) -> Void) throws -> [AttestationCheck] {
        let cert = try AttestationFixtures.certificate(pair.certificateURL)
        var e = AttestationExpectations()
        configure(&e)
        return AttestationVerifier(chain: .builtIn(.milan), expectations: e, time: AttestationFixtures.validTime(cert))
            .checks(try AttestationFixtures.report(pair), endorsement: cert).filter { !$0.ok }
    }

    @Test("each expectation equal to the report's value passes; each differing in one bit fails alone, naming both values")
    func expectationsOneByOne() throws {
        let report = try AttestationFixtures.report(Self.pair)
        func flipped(_ b: [UInt8]) -> [UInt8] { var c = b; c[c.count - 1] ^= 1; return c }
        let cases: [(String, (inout AttestationExpectations, Bool) -> Void)] = [
            ("measurement", { $0.measurement = $1 ? flipped(report.measurement) : report.measurement }),
            ("host-data", { $0.hostData = $1 ? flipped(report.hostData) : report.hostData }),
            ("policy", { $0.policy = $1 ? report.policy.rawValue ^ 1 : report.policy.rawValue }),
            ("id-key-digest", { $0.idKeyDigest = $1 ? flipped(report.idKeyDigest) : report.idKeyDigest }),
            ("author-key-digest", { $0.authorKeyDigest = $1 ? flipped(report.authorKeyDigest) : report.authorKeyDigest }),
            ("vmpl", { $0.vmpl = $1 ? report.vmpl + 1 : report.vmpl }),
            ("report-data", { $0.reportData = $1 ? flipped(report.reportData) : report.reportData }),
        ]
        for (name, set) in cases {
            #expect(try Self.failing { set(&$0, false) }.isEmpty, "\(name) equal")
            let failed = try Self.failing { set(&$0, true) }
            #expect(failed.map(\.name) == [name])
            if let check = failed.first { #expect(check.expected != check.actual) }
        }
        let measurementCheck = try #require(try Self.failing { $0.measurement = flipped(report.measurement) }.first)
        #expect(measurementCheck.actual == report.measurement.map { String(format: "%02x", $0) }.joined())
        #expect(measurementCheck.expected == flipped(report.measurement).map { String(format: "%02x", $0) }.joined())
    }

    static let policyCases: [(UInt64, PolicyRules, [String])] = [
        (0x30000, PolicyRules(), []),
        (0xB0000, PolicyRules(), ["DEBUG (bit 19) is set"]),
        (0x70000, PolicyRules(), ["MIGRATE_MA (bit 18) is set"]),
        (0x30000, { var r = PolicyRules(); r.allowSMT = false; return r }(), ["SMT (bit 16) is allowed"]),
        (0x20000, { var r = PolicyRules(); r.allowSMT = false; return r }(), []),
        (0x30000, { var r = PolicyRules(); r.requireSingleSocket = true; return r }(), ["SINGLE_SOCKET (bit 20) is clear"]),
        (0x130000, { var r = PolicyRules(); r.requireSingleSocket = true; return r }(), []),
        (0xB0000, { var r = PolicyRules(); r.allowDebug = true; return r }(), []),
        (0x30100, { var r = PolicyRules(); r.minimumABI = (1, 51); return r }(), ["ABI 1.0 is below 1.51"]),
        (0x30133, { var r = PolicyRules(); r.minimumABI = (1, 51); return r }(), []),
    ]

    @Test("policy rules", arguments: policyCases)
    func policyRules(_ policy: UInt64, _ rules: PolicyRules, _ violations: [String]) {
        #expect(rules.violations(SNPPolicy(policy)) == violations)
    }

    static let minimumTCBCases: [(String, MinimumTCB?)] = [
        ("bl=3,tee=0,snp=8,ucode=115", MinimumTCB(bootloader: 3, tee: 0, snp: 8, microcode: 115)),
        ("microcode=200, fmc=1", MinimumTCB(fmc: 1, microcode: 200)),
        ("snp=256", nil), ("snp", nil), ("gpu=1", nil), ("", nil), ("snp=-1", nil),
    ]

    @Test("minimum TCB: parsing", arguments: minimumTCBCases)
    func minimumTCBParsing(_ text: String, _ expected: MinimumTCB?) {
        #expect((try? MinimumTCB(parsing: text)) == expected)
    }

    @Test("minimum TCB: each part below its minimum is named; the real report meets its own TCB and fails one above it")
    func minimumTCBCheck() throws {
        let tcb = TCBVersion(layout: .milanGenoa, bootloader: 3, tee: 0, snp: 8, microcode: 115)
        #expect(MinimumTCB(bootloader: 3, snp: 8).shortfalls(tcb).isEmpty)
        #expect(MinimumTCB(bootloader: 4, snp: 9, microcode: 115).shortfalls(tcb) == ["bootloader 3 < 4", "snp 8 < 9"])
        #expect(MinimumTCB(fmc: 1).shortfalls(tcb) == ["fmc is not part of this product's TCB"])
        #expect(try Self.failing { $0.minimumTCB = MinimumTCB(bootloader: 3, tee: 0, snp: 8, microcode: 115) }.isEmpty)
        let failed = try Self.failing { $0.minimumTCB = MinimumTCB(microcode: 116) }
        #expect(failed.map(\.name) == ["minimum-tcb"])
        #expect(failed.first?.actual == "microcode 115 < 116")
    }

    @Test("product choice: --product, else the certificate's issuer, else the CPUID, else an error naming --product")
    func productChoice() throws {
        #expect(try ProductChoice.decide(explicit: .turin, endorsementIssuer: "SEV-Milan", cpuid: .genoa).get() == .turin)
        #expect(try ProductChoice.decide(explicit: nil, endorsementIssuer: "SEV-Milan", cpuid: .genoa).get() == .milan)
        #expect(try ProductChoice.decide(explicit: nil, endorsementIssuer: "SEV-VLEK-Genoa", cpuid: nil).get() == .genoa)
        #expect(try ProductChoice.decide(explicit: nil, endorsementIssuer: "Someone", cpuid: .turin).get() == .turin)
        guard case .failure(let error) = ProductChoice.decide(explicit: nil, endorsementIssuer: nil, cpuid: nil) else {
            Issue.record("no product should be an error")
            return
        }
        #expect(error.description.contains("--product"))
    }

    @Test("KDS URLs: Milan 64-byte hwID with four SPLs; Turin 8-byte hwID with fmcSPL; none for a zero CHIP_ID; chains")
    func kdsURLs() throws {
        let milan = try AttestationFixtures.report(AttestationFixtures.pair("report_milan.bin"))
        let chip = milan.chipID.map { String(format: "%02x", $0) }.joined()
        #expect(KDSURL.vcek(for: milan, product: .milan)
                == "https://kdsintf.amd.com/vcek/v1/Milan/\(chip)?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115")
        let turin = try AttestationFixtures.report(AttestationFixtures.pair("turin_v5_oak.bin"))
        let turinChip = turin.chipID.prefix(8).map { String(format: "%02x", $0) }.joined()
        #expect(KDSURL.vcek(for: turin, product: .turin)
                == "https://kdsintf.amd.com/vcek/v1/Turin/\(turinChip)?fmcSPL=00&blSPL=01&teeSPL=00&snpSPL=02&ucodeSPL=71")
        let vlek = try AttestationFixtures.report(AttestationFixtures.pair("milan_v3_vlek_trustee.bin"))
        #expect(KDSURL.vcek(for: vlek, product: .milan) == nil)
        #expect(KDSURL.certificateChain(.vcek, product: .genoa) == "https://kdsintf.amd.com/vcek/v1/Genoa/cert_chain")
        #expect(KDSURL.certificateChain(.vlek, product: .turin) == "https://kdsintf.amd.com/vlek/v1/Turin/cert_chain")
    }

    @Test("UTC time arithmetic: parse and print round-trip; malformed dates are refused")
    func unixTime() {
        #expect(UnixTime.parse("1970-01-01") == 0)
        #expect(UnixTime.parse("2025-12-10T00:00:00Z") == 1_765_324_800)
        #expect(UnixTime.rfc3339(1_765_324_800) == "2025-12-10T00:00:00Z")
        #expect(UnixTime.rfc3339(UnixTime.parse("2000-02-29T23:59:59Z")!) == "2000-02-29T23:59:59Z")
        for bad in ["2025-13-01", "yesterday", "2025-12-10T00:00:00", "2025-12", "99999999999999-01-01", "0-01-01"] { #expect(UnixTime.parse(bad) == nil, "\(bad)") }
    }
}
