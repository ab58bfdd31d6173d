import Attestation
import Foundation
import SNPReport
import Testing

/// Real reports from public test suites, verified end to end against AMD's built-in chains.
struct RealReportVerificationTests {
    @Test("every real report verifies with its product's built-in chain and its VCEK/VLEK", arguments: AttestationFixtures.pairs)
    func realReportVerifies(_ pair: AttestationFixtures.Pair) throws {
        let cert = try AttestationFixtures.certificate(pair.certificateURL)
        let report = try AttestationFixtures.report(pair)
        #expect(report.version == pair.version)
        #expect(report.keyInfo.signingKey.description == pair.signingKey)
        let checks = AttestationVerifier(
            chain: .builtIn(pair.product), expectations: AttestationFixtures.expectations(for: pair),
            time: AttestationFixtures.validTime(cert)).checks(report, endorsement: cert)
        for check in checks where !check.ok { Issue.record("\(pair.report): \(check.name): expected \(check.expected), got \(check.actual)") }
        // The authenticity checks are all there (the chip binding only for VCEKs).
        let names = Set(checks.map(\.name))
        let expected: Set<String> = pair.signingKey == "vlek"
            ? ["signature-algorithm", "ark", "asvk", "vlek", "certificate-validity", "signing-key", "reported-tcb", "report-signature", "policy-rules"]
            : ["signature-algorithm", "ark", "ask", "vcek", "certificate-validity", "signing-key", "chip-id", "reported-tcb", "report-signature", "policy-rules"]
        #expect(expected.isSubset(of: names), "\(names)")
        #expect(names.contains("product") == (pair.version >= 3))
    }

    @Test("the built-in ARK, ASK and ASVK of every product chain: ARK self-signed, ASK and ASVK signed by it", arguments: AMDProduct.allCases)
    func builtInChain(_ product: AMDProduct) throws {
        let chain = AMDTrustChain.builtIn(product)
        #expect(chain.ark.subjectCommonName == "ARK-\(product.kdsName)")
        #expect(chain.ask.subjectCommonName == "SEV-\(product.kdsName)")
        #expect(chain.asvk?.subjectCommonName == "SEV-VLEK-\(product.kdsName)")
        #expect(chain.ark.signatureAlgorithm.isAMDRSAPSS)
        #expect(CertificateSignature.problem(verifying: chain.ark, signedBy: chain.ark) == nil)
        #expect(CertificateSignature.problem(verifying: chain.ask, signedBy: chain.ark) == nil)
        #expect(CertificateSignature.problem(verifying: chain.asvk!, signedBy: chain.ark) == nil)
        // And the ASK does not verify under another product's ARK.
        let other = AMDTrustChain.builtIn(product == .milan ? .genoa : .milan)
        #expect(CertificateSignature.problem(verifying: chain.ask, signedBy: other.ark) != nil)
    }

    @Test("the built-in certificates are the fixture files' bytes (the sources named in BuiltInCertificates)", arguments: AMDProduct.allCases)
    func builtInMatchesFixtures(_ product: AMDProduct) throws {
        let chain = AMDTrustChain.builtIn(product)
        for (role, cert) in [("ark", chain.ark), ("ask", chain.ask), ("asvk", chain.asvk!)] {
            let file = try AttestationFixtures.certificate(AttestationFixtures.chain("\(product.rawValue)_\(role).pem"))
            #expect(file.der == cert.der, "\(product) \(role)")
        }
    }

    @Test("the Milan cert_chain file (ASK + ARK in one PEM) reads as two certificates equal to the built-in ones")
    func certChainFile() throws {
        let certs = try AMDCertificate.certificates(fromFileContents: try AttestationFixtures.bytes(AttestationFixtures.virtee.appendingPathComponent("cert_chain_milan")))
        #expect(certs.map(\.subjectCommonName) == ["SEV-Milan", "ARK-Milan"])
        #expect(certs[0].der == AMDTrustChain.builtIn(.milan).ask.der)
    }

    @Test("VCEK extensions: hwID and TCB of the virtee Milan VCEK (bl 3, tee 0, snp 8, ucode 115) and the Turin one (8-byte hwID, fmcSPL)")
    func vcekExtensions() throws {
        let milan = try EndorsementExtensions(try AttestationFixtures.certificate(AttestationFixtures.virtee.appendingPathComponent("vcek_milan.der")))
        #expect(milan.productName == "Milan-B0")
        #expect(milan.hwID?.count == 64)
        #expect([milan.bootloader, milan.tee, milan.snp, milan.microcode] == [3, 0, 8, 115])
        let report = try AttestationFixtures.report(AttestationFixtures.pair("report_milan.bin"))
        #expect(milan.hwID == report.chipID)

        let turin = try EndorsementExtensions(try AttestationFixtures.certificate(AttestationFixtures.real("turin_v5_oak_vcek.der")))
        #expect(turin.hwID?.count == 8)
        #expect(turin.fmc != nil)
        let turinReport = try AttestationFixtures.report(AttestationFixtures.pair("turin_v5_oak.bin"))
        #expect(turin.hwID.map { $0[...] } == turinReport.chipID.prefix(8))
        #expect(turin.tcb(layout: .turin)?.rawValue == turinReport.reportedTCB.rawValue)

        let vlek = try EndorsementExtensions(try AttestationFixtures.certificate(AttestationFixtures.real("milan_v3_vlek_trustee_vlek.der")))
        #expect(vlek.hwID == nil)
        #expect(vlek.cspID != nil)
    }
}
