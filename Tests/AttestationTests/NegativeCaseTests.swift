import Attestation
import Foundation
import SNPReport
import Testing

/// Changed reports and certificates fail on the check that guards what was changed — and on
/// no other.
struct NegativeCaseTests {
    struct Case: Sendable, CustomStringConvertible {
        var file: String
        var original: String
        var failing: [String]
        var why: String
        var description: String { file }
    }

    static let signedBody = ["report-signature"]

    static let cases: [Case] = [
        // A bit flipped in a field nothing else checks: only the signature catches it.
        Case(file: "flip_milan_v2_trustee_050.bin", original: "milan_v2_trustee.bin", failing: signedBody, why: "REPORT_DATA"),
        Case(file: "flip_milan_v3_az_v0_030.bin", original: "milan_v3_az_v0.bin", failing: signedBody, why: "VMPL 0 → 1"),
        Case(file: "flip_milan_v3_az_v0_0e0.bin", original: "milan_v3_az_v0.bin", failing: signedBody, why: "ID_KEY_DIGEST"),
        Case(file: "flip_genoa_v3_az_110.bin", original: "genoa_v3_az.bin", failing: signedBody, why: "AUTHOR_KEY_DIGEST"),
        Case(file: "flip_genoa_v5_routex_0bf.bin", original: "genoa_v5_routex.bin", failing: signedBody, why: "MEASUREMENT's last byte"),
        Case(file: "flip_genoa_v5_routex_0c0.bin", original: "genoa_v5_routex.bin", failing: signedBody, why: "HOST_DATA"),
        Case(file: "flip_genoa_v5_routex_29f.bin", original: "genoa_v5_routex.bin", failing: signedBody, why: "the last signed byte"),
        Case(file: "flip_milan_v3_vlek_trustee_050.bin", original: "milan_v3_vlek_trustee.bin", failing: signedBody, why: "VLEK report, REPORT_DATA"),
        Case(file: "flip_milan_v3_vlek_trustee_090.bin", original: "milan_v3_vlek_trustee.bin", failing: signedBody, why: "VLEK report, MEASUREMENT"),
        Case(file: "flip_turin_v5_oak_008.bin", original: "turin_v5_oak.bin", failing: signedBody, why: "POLICY ABI minor"),
        Case(file: "flip_turin_v5_oak_08f.bin", original: "turin_v5_oak.bin", failing: signedBody, why: "REPORT_DATA's last byte"),
        Case(file: "flip_turin_v5_oak_090.bin", original: "turin_v5_oak.bin", failing: signedBody, why: "MEASUREMENT"),
        Case(file: "flip_turin_v5_oak_1a8.bin", original: "turin_v5_oak.bin", failing: signedBody, why: "CHIP_ID byte 8: beyond Turin's 8-byte hwID"),
        // Flips the binding checks see too.
        Case(file: "flip_milan_v2_trustee_00a.bin", original: "milan_v2_trustee.bin", failing: ["report-signature", "policy-rules"], why: "POLICY bit 19: DEBUG"),
        Case(file: "flip_milan_v2_trustee_1df.bin", original: "milan_v2_trustee.bin", failing: ["chip-id", "report-signature"], why: "CHIP_ID's last byte"),
        Case(file: "flip_turin_v5_oak_1a0.bin", original: "turin_v5_oak.bin", failing: ["chip-id", "report-signature"], why: "CHIP_ID byte 0 (in Turin's hwID)"),
        Case(file: "flip_turin_v5_oak_180.bin", original: "turin_v5_oak.bin", failing: ["reported-tcb", "report-signature"], why: "REPORTED_TCB FMC (Turin byte 0)"),
        Case(file: "flip_genoa_v5_routex_186.bin", original: "genoa_v5_routex.bin", failing: ["reported-tcb", "report-signature"], why: "REPORTED_TCB SNP (Genoa byte 6)"),
        Case(file: "flip_milan_v3_az_v0_187.bin", original: "milan_v3_az_v0.bin", failing: ["reported-tcb", "report-signature"], why: "REPORTED_TCB microcode"),
        // Edited fields.
        Case(file: "edit_genoa_v5_routex_keyinfo_vlek.bin", original: "genoa_v5_routex.bin", failing: ["signing-key", "report-signature"], why: "SIGNING_KEY says VLEK, the certificate is a VCEK"),
        Case(file: "edit_milan_v2_gsg_keyinfo_none.bin", original: "milan_v2_gsg.bin", failing: ["signing-key", "report-signature"], why: "SIGNING_KEY says none"),
        Case(file: "edit_genoa_v5_routex_sigalgo2.bin", original: "genoa_v5_routex.bin", failing: ["signature-algorithm", "report-signature"], why: "SIGNATURE_ALGO 2"),
        Case(file: "edit_milan_v2_trustee_sigalgo0.bin", original: "milan_v2_trustee.bin", failing: ["signature-algorithm", "report-signature"], why: "SIGNATURE_ALGO 0"),
        // The signature itself.
        Case(file: "sig_genoa_v3_az_2ed.bin", original: "genoa_v3_az.bin", failing: signedBody, why: "a byte of S"),
        Case(file: "sig_genoa_v5_oak_swap_rs.bin", original: "genoa_v5_oak.bin", failing: signedBody, why: "R and S swapped"),
        Case(file: "sig_milan_v2_gsg_2d0.bin", original: "milan_v2_gsg.bin", failing: signedBody, why: "R byte 48: above P-384's 48 bytes"),
        Case(file: "sig_milan_v3_az_v0_big_endian.bin", original: "milan_v3_az_v0.bin", failing: signedBody, why: "R and S big-endian"),
        Case(file: "sig_milan_v3_vlek_trustee_32f.bin", original: "milan_v3_vlek_trustee.bin", failing: signedBody, why: "S byte 71"),
        Case(file: "sig_turin_v5_oak_2a0.bin", original: "turin_v5_oak.bin", failing: signedBody, why: "R's lowest byte"),
    ]

    @Test("a changed report fails exactly the check that guards the change", arguments: cases)
    func changedReport(_ c: Case) throws {
        let pair = AttestationFixtures.pair(c.original)
        let failing = try AttestationFixtures.failingChecks(try AttestationFixtures.bytes(AttestationFixtures.derived(c.file)), pair: pair)
        #expect(failing == c.failing, "\(c.file) (\(c.why))")
    }

    @Test("truncated reports and a flipped VERSION are refused by the parser, with the size or version named")
    func unparseable() throws {
        for (file, size) in [("trunc_genoa_v5_routex_672.bin", 672), ("trunc_milan_v2_trustee_1000.bin", 1000), ("trunc_turin_v5_oak_1183.bin", 1183)] {
            #expect(throws: ReportParseError(.wrongSize, "an SEV-SNP attestation report is 1184 bytes, got \(size)")) {
                try AttestationReport(bytes: try AttestationFixtures.bytes(AttestationFixtures.derived(file)))
            }
        }
        #expect(throws: ReportParseError(.unknownVersion, "attestation report version 4 is not one this tool knows (2, 3, 5)")) {
            try AttestationReport(bytes: try AttestationFixtures.bytes(AttestationFixtures.derived("flip_genoa_v5_routex_000.bin")))
        }
    }

    @Test("the wrong product's chain: a Milan v3 report against Genoa's ARK/ASK fails product and the VCEK's signature")
    func wrongProductChain() throws {
        let pair = AttestationFixtures.pair("milan_v3_az_v0.bin")
        let failing = try AttestationFixtures.failingChecks(try AttestationFixtures.bytes(pair.reportURL), pair: pair, chain: .builtIn(.genoa))
        #expect(failing == ["product", "vcek"])
    }

    @Test("the wrong product's chain for a version-2 report (no CPUID): the VCEK's signature fails")
    func wrongProductChainV2() throws {
        let pair = AttestationFixtures.pair("report_milan.bin")
        let failing = try AttestationFixtures.failingChecks(try AttestationFixtures.bytes(pair.reportURL), pair: pair, chain: .builtIn(.genoa))
        #expect(failing == ["vcek"])
    }

    @Test("a VCEK with one byte of its RSA-PSS signature changed fails the vcek check only")
    func tamperedCertificateSignature() throws {
        let pair = AttestationFixtures.pair("report_milan.bin")
        var der = try AttestationFixtures.bytes(pair.certificateURL)
        der[der.count - 1] ^= 0x01
        let failing = try AttestationFixtures.failingChecks(
            try AttestationFixtures.bytes(pair.reportURL), pair: pair, certificate: try AMDCertificate(derEncoded: der))
        #expect(failing == ["vcek"])
    }

    @Test("a VCEK whose hwID was changed (signed part) fails its signature and the chip binding")
    func tamperedCertificateHWID() throws {
        let pair = AttestationFixtures.pair("report_milan.bin")
        let report = try AttestationFixtures.report(pair)
        var der = try AttestationFixtures.bytes(pair.certificateURL)
        let at = try #require(Self.firstIndex(of: report.chipID, in: der))
        der[at] ^= 0x80
        let failing = try AttestationFixtures.failingChecks(
            try AttestationFixtures.bytes(pair.reportURL), pair: pair, certificate: try AMDCertificate(derEncoded: der))
        #expect(failing == ["vcek", "chip-id"])
    }

    @Test("a VCEK of another chip: chip-id and the report signature fail, the certificate itself is AMD's")
    func otherChip() throws {
        let pair = AttestationFixtures.Pair(report: "milan_v2_azcvm.bin", certificate: "az_cvm_vcek_otherchip.der", product: .milan, version: 2, signingKey: "vcek")
        let failing = try AttestationFixtures.failingChecks(try AttestationFixtures.bytes(pair.reportURL), pair: pair)
        #expect(failing == ["chip-id", "report-signature"])
    }

    @Test("trustee's synthetic VCEK (not signed by AMD) fails the vcek check")
    func forgedVCEK() throws {
        let pair = AttestationFixtures.Pair(report: "milan_v2_trustee.bin", certificate: "forged_vcek_trustee_invalid_legacy.der", product: .milan, version: 2, signingKey: "vcek")
        let failing = try AttestationFixtures.failingChecks(try AttestationFixtures.bytes(pair.reportURL), pair: pair)
        #expect(failing.first == "vcek")
    }

    @Test("the trustee VLEK (validity ended 2025-12-10) fails certificate-validity when judged after that day")
    func expiredVLEK() throws {
        let pair = AttestationFixtures.pair("milan_v3_vlek_trustee.bin")
        let cert = try AttestationFixtures.certificate(pair.certificateURL)
        #expect(UnixTime.rfc3339(cert.validity.notAfter).hasPrefix("2025-12-10"))
        let checks = AttestationVerifier(chain: .builtIn(.milan), time: cert.validity.notAfter + 1)
            .checks(try AttestationFixtures.report(pair), endorsement: cert)
        #expect(checks.filter { !$0.ok }.map(\.name) == ["certificate-validity"])
    }

    @Test("a VLEK-signed report without an ASVK in the chain fails the asvk and vlek checks")
    func vlekWithoutASVK() throws {
        let pair = AttestationFixtures.pair("milan_v3_vlek_trustee.bin")
        let builtIn = AMDTrustChain.builtIn(.milan)
        let chain = AMDTrustChain(product: .milan, ark: builtIn.ark, ask: builtIn.ask, asvk: nil)
        let failing = try AttestationFixtures.failingChecks(try AttestationFixtures.bytes(pair.reportURL), pair: pair, chain: chain)
        #expect(failing == ["asvk", "vlek"])
    }

    static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
