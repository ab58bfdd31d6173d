import Attestation
import Foundation
import SNPReport
import Testing
import TestSupport

/// The same verdicts from an independent implementation: Python `cryptography` (OpenSSL)
/// re-verifies every report signature and every RSA-PSS link of the chain that this module
/// verified with swift-crypto, on the real reports and on every changed one. Not a comparison
/// with igvm-mgr itself.
@Suite(.enabled(if: PythonCryptography.tool.testsRun, Comment(rawValue: PythonCryptography.tool.skipReason)))
struct PythonCrossCheckTests {
    /// argv: ARK ASK then (report, certificate) pairs. Prints, per pair, the report signature's
    /// verdict and the ASK → certificate verdict; first, ARK → ARK and ARK → ASK.
    static let script = #"""
    import sys
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    def load(path):
        data = open(path, "rb").read()
        if data.startswith(b"-----"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)

    def pss(child, parent):
        try:
            parent.public_key().verify(child.signature, child.tbs_certificate_bytes,
                padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48), hashes.SHA384())
            return "ok"
        except Exception:
            return "bad"

    def report(path, cert):
        data = open(path, "rb").read()
        r = int.from_bytes(data[0x2A0:0x2E8], "little")   # all 72 bytes count
        s = int.from_bytes(data[0x2E8:0x330], "little")
        try:
            cert.public_key().verify(utils.encode_dss_signature(r, s), data[:0x2A0], ec.ECDSA(hashes.SHA384()))
            return "ok"
        except Exception:
            return "bad"

    ark, ask = load(sys.argv[1]), load(sys.argv[2])
    print("ark", pss(ark, ark), "ask", pss(ask, ark))
    args = sys.argv[3:]
    for i in range(0, len(args), 2):
        cert = load(args[i + 1])
        print(args[i].rsplit("/", 1)[-1], report(args[i], cert), pss(cert, ask))
    """#

    struct Subject { var report: URL; var certificate: URL; var product: AMDProduct; var vlek: Bool }

    /// Every real pair, every changed report of the fixtures with its original's certificate,
    /// and the other-chip / forged certificates.
    static func subjects() -> [Subject] {
        var out = AttestationFixtures.pairs.map {
            Subject(report: $0.reportURL, certificate: $0.certificateURL, product: $0.product, vlek: $0.signingKey == "vlek")
        }
        let derived = (try? FileManager.default.contentsOfDirectory(atPath: AttestationFixtures.reports.appendingPathComponent("derived").path)) ?? []
        for file in derived.sorted() where !file.hasPrefix("trunc_") && file != "flip_genoa_v5_routex_000.bin" {
            guard let pair = AttestationFixtures.pairs.filter({ file.contains($0.report.dropLast(4)) }).max(by: { $0.report.count < $1.report.count })
            else { continue }
            out.append(Subject(report: AttestationFixtures.derived(file), certificate: pair.certificateURL, product: pair.product, vlek: pair.signingKey == "vlek"))
        }
        out.append(Subject(report: AttestationFixtures.real("milan_v2_azcvm.bin"), certificate: AttestationFixtures.real("az_cvm_vcek_otherchip.der"), product: .milan, vlek: false))
        out.append(Subject(report: AttestationFixtures.real("milan_v2_trustee.bin"), certificate: AttestationFixtures.real("forged_vcek_trustee_invalid_legacy.der"), product: .milan, vlek: false))
        return out
    }

    @Test("report signatures and chain links: swift-crypto and Python cryptography agree on every real and changed report", arguments: [AMDProduct.milan, .genoa, .turin])
    func agree(_ product: AMDProduct) throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chain = AMDTrustChain.builtIn(product)
        for vlek in [false, true] {
            let subjects = Self.subjects().filter { $0.product == product && $0.vlek == vlek }
            guard !subjects.isEmpty else { continue }
            let intermediate = vlek ? chain.asvk! : chain.ask
            let ark = dir.appendingPathComponent("ark.der"), ask = dir.appendingPathComponent("intermediate.der")
            try Data(chain.ark.der).write(to: ark)
            try Data(intermediate.der).write(to: ask)
            let result = try PythonCryptography.run(Self.script, [ark.path, ask.path] + subjects.flatMap { [$0.report.path, $0.certificate.path] })
            try #require(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            try #require(lines.count == subjects.count + 1)
            #expect(lines[0] == ["ark", "ok", "ask", "ok"])
            #expect(CertificateSignature.problem(verifying: chain.ark, signedBy: chain.ark) == nil)
            #expect(CertificateSignature.problem(verifying: intermediate, signedBy: chain.ark) == nil)
            var signatureVerdicts: [String: Int] = [:]
            for (subject, line) in zip(subjects, lines.dropFirst()) {
                let report = try AttestationReport(bytes: try AttestationFixtures.bytes(subject.report), product: product)
                let cert = try AttestationFixtures.certificate(subject.certificate)
                let ours = ReportSignature.problem(verifying: report, with: cert) == nil ? "ok" : "bad"
                let ourLink = CertificateSignature.problem(verifying: cert, signedBy: intermediate) == nil ? "ok" : "bad"
                #expect(line == [subject.report.lastPathComponent, ours, ourLink], "\(subject.report.lastPathComponent)")
                signatureVerdicts[ours, default: 0] += 1
            }
            // Both verdicts occur, so agreement is not agreement on "everything fails".
            #expect(signatureVerdicts["ok", default: 0] > 0 && signatureVerdicts["bad", default: 0] > 0)
        }
    }
}
