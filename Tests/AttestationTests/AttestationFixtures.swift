import Attestation
import Foundation
import SNPReport
import TestSupport

/// The real reports and certificates under Tests/Fixtures (see the READMEs there).
enum AttestationFixtures {
    static let reports = TestPaths.fixtures.appendingPathComponent("sev-snp-reports")
    static let virtee = TestPaths.fixtures.appendingPathComponent("sev-snp-attestation")

    static func bytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }
    static func real(_ name: String) -> URL { reports.appendingPathComponent("real/\(name)") }
    static func derived(_ name: String) -> URL { reports.appendingPathComponent("derived/\(name)") }
    static func chain(_ name: String) -> URL { reports.appendingPathComponent("chains/\(name)") }

    /// A real report with the certificate that signed it.
    struct Pair: Sendable, CustomStringConvertible {
        var report: String
        var certificate: String
        var product: AMDProduct
        var version: UInt32
        var signingKey: String
        var description: String { report }

        var reportURL: URL { report == "report_milan.bin" ? virtee.appendingPathComponent(report) : real(report) }
        var certificateURL: URL { certificate == "vcek_milan.der" ? virtee.appendingPathComponent(certificate) : real(certificate) }
    }

    /// Every real report whose signing certificate was published with it: Milan v2/v3 (VCEK
    /// and one VLEK), Genoa v2/v3/v5, Turin v5.
    static let pairs: [Pair] = [
        Pair(report: "report_milan.bin", certificate: "vcek_milan.der", product: .milan, version: 2, signingKey: "vcek"),
        Pair(report: "milan_v2_trustee.bin", certificate: "milan_v2_trustee_vcek.der", product: .milan, version: 2, signingKey: "vcek"),
        Pair(report: "milan_v2_azhcl_trustee.bin", certificate: "milan_v2_azhcl_trustee_vcek.der", product: .milan, version: 2, signingKey: "vcek"),
        Pair(report: "milan_v2_gsg.bin", certificate: "milan_v2_gsg_vcek.der", product: .milan, version: 2, signingKey: "vcek"),
        Pair(report: "milan_v2_oak_2024.bin", certificate: "milan_v2_oak_2024_vcek.der", product: .milan, version: 2, signingKey: "vcek"),
        Pair(report: "milan_v3_az_v0.bin", certificate: "milan_v3_az_v0_vcek.der", product: .milan, version: 3, signingKey: "vcek"),
        Pair(report: "milan_v3_az_v1.bin", certificate: "milan_v3_az_v1_vcek.der", product: .milan, version: 3, signingKey: "vcek"),
        Pair(report: "milan_v3_az_v2.bin", certificate: "milan_v3_az_v2_vcek.der", product: .milan, version: 3, signingKey: "vcek"),
        Pair(report: "milan_v3_oak_release.bin", certificate: "milan_v3_oak_release_vcek.der", product: .milan, version: 3, signingKey: "vcek"),
        Pair(report: "milan_v3_vlek_trustee.bin", certificate: "milan_v3_vlek_trustee_vlek.der", product: .milan, version: 3, signingKey: "vlek"),
        Pair(report: "genoa_v2_oak.bin", certificate: "genoa_v2_oak_vcek.der", product: .genoa, version: 2, signingKey: "vcek"),
        Pair(report: "genoa_v3_az.bin", certificate: "genoa_v3_az_vcek.der", product: .genoa, version: 3, signingKey: "vcek"),
        Pair(report: "genoa_v3_routex.bin", certificate: "genoa_v3_routex_vcek.der", product: .genoa, version: 3, signingKey: "vcek"),
        Pair(report: "genoa_v5_oak.bin", certificate: "genoa_v5_oak_vcek.der", product: .genoa, version: 5, signingKey: "vcek"),
        Pair(report: "genoa_v5_routex.bin", certificate: "genoa_v5_routex_vcek.der", product: .genoa, version: 5, signingKey: "vcek"),
        Pair(report: "turin_v5_oak.bin", certificate: "turin_v5_oak_vcek.der", product: .turin, version: 5, signingKey: "vcek"),
    ]

    static func pair(_ report: String) -> Pair { pairs.first { $0.report == report }! }

    static func report(_ pair: Pair) throws -> AttestationReport {
        try AttestationReport(bytes: try bytes(pair.reportURL), product: pair.product)
    }

    static func certificate(_ url: URL) throws -> AMDCertificate {
        try AMDCertificate.certificates(fromFileContents: try bytes(url))[0]
    }

    /// A moment every certificate of the pair is valid at: a day after the VCEK/VLEK was issued
    /// (the trustee VLEK expired on 2025-12-10, so "now" would not do for every pair).
    static func validTime(_ certificate: AMDCertificate) -> Int64 { certificate.validity.notBefore + 86400 }

    /// The go-sev-guest report was made with DEBUG allowed (policy 0xb0000): its expectations
    /// must allow it for the report to verify.
    static func expectations(for pair: Pair) -> AttestationExpectations {
        var e = AttestationExpectations()
        e.policyRules.allowDebug = pair.report == "milan_v2_gsg.bin"
        return e
    }

    /// Verifies a report (bytes) with its pair's certificate and the built-in chain; the names
    /// of the checks that fail.
    static func failingChecks(_ bytes: [UInt8], pair: Pair, certificate: AMDCertificate? = nil,
                              chain: AMDTrustChain? = nil) throws -> [String] {
        let cert = try certificate ?? Self.certificate(pair.certificateURL)
        let report = try AttestationReport(bytes: bytes, product: pair.product)
        let verifier = AttestationVerifier(chain: chain ?? .builtIn(pair.product), expectations: expectations(for: pair), time: validTime(cert))
        return verifier.checks(report, endorsement: cert).filter { !$0.ok }.map(\.name)
    }
}
