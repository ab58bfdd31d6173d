import IGVM
import Numerals
import SNPReport

/// Verifies one report against a product's chain, its VCEK/VLEK and the relying party's
/// expectations, and returns every check in order — never stopping at the first failure, so
/// that the operator sees all that is wrong at once. A pure function of its inputs and `time`.
public struct AttestationVerifier: Sendable {
    public var chain: AMDTrustChain
    public var expectations: AttestationExpectations
    /// The moment certificate validity is judged at (seconds since the epoch, UTC).
    public var time: Int64

    public init(chain: AMDTrustChain, expectations: AttestationExpectations = .init(), time: Int64) {
        self.chain = chain
        self.expectations = expectations
        self.time = time
    }

    /// Every check; the report is verified when all are `ok`.
    public func checks(_ given: AttestationReport, endorsement: AMDCertificate) -> [AttestationCheck] {
        let report = given.decoded(as: chain.product)
        return authenticity(report, endorsement: endorsement) + AttestationExpectationChecks(expectations).checks(report)
    }

    /// Is the report genuine: signed by a key AMD certified for this chip and TCB?
    func authenticity(_ report: AttestationReport, endorsement: AMDCertificate) -> [AttestationCheck] {
        let product = chain.product.kdsName
        let certified = EndorsementKind(certificate: endorsement)
        let reportKey = report.keyInfo.signingKey
        let kind = certified ?? (reportKey == .vlek ? .vlek : .vcek)
        var out: [AttestationCheck] = []

        out.append(AttestationCheck(
            "signature-algorithm", ok: report.signatureAlgorithm == AttestationReport.ecdsaP384SHA384,
            expected: "1 (ECDSA P-384 with SHA-384)", actual: String(report.signatureAlgorithm)))
        if let cpuid = report.cpuid, cpuid.family != 0 || cpuid.model != 0 {
            out.append(AttestationCheck(
                "product", ok: cpuid.product == chain.product, expected: "\(product) (the chain's)",
                actual: "\(cpuid.product?.kdsName ?? "unknown") (CPUID \(cpuid))"))
        }

        let ark = chain.ark
        let arkProblem = ark.subjectCommonName == "ARK-\(product)"
            ? CertificateSignature.problem(verifying: ark, signedBy: ark) : "the root is \(ark.subjectCommonName), not ARK-\(product)"
        // A self-signature proves nothing about who made a root: say whether it is AMD's as built in.
        let origin = ark.der == AMDTrustChain.builtIn(chain.product).ark.der ? "the built-in one" : "NOT the built-in one (given by file)"
        out.append(.outcome("ark", expected: "ARK-\(product), self-signed", problem: arkProblem, fine: "\(ark.subjectCommonName), self-signed, \(origin)"))

        let intermediateName = kind.intermediateName.lowercased()
        var signer: AMDCertificate?
        if let intermediate = chain.intermediate(for: kind) {
            signer = intermediate
            out.append(.outcome(
                intermediateName, expected: "signed by ARK-\(product)",
                problem: CertificateSignature.problem(verifying: intermediate, signedBy: ark),
                fine: "\(intermediate.subjectCommonName), signed by \(ark.subjectCommonName)"))
        } else {
            out.append(AttestationCheck(intermediateName, ok: false, expected: "signed by ARK-\(product)",
                                        actual: "no \(kind.intermediateName) for \(product) (give --asvk)"))
        }
        let endorsementName = kind.rawValue
        let endorsementProblem: String? = if certified == nil {
            "the certificate is \(endorsement.subjectCommonName), neither SEV-VCEK nor SEV-VLEK"
        } else if let signer {
            CertificateSignature.problem(verifying: endorsement, signedBy: signer)
        } else {
            "no \(kind.intermediateName) to check it with"
        }
        out.append(.outcome(
            endorsementName, expected: "signed by \(signer?.subjectCommonName ?? kind.intermediateName)",
            problem: endorsementProblem, fine: "\(endorsement.subjectCommonName), signed by \(signer?.subjectCommonName ?? "")"))

        out.append(validity([ark, signer, endorsement].compactMap { $0 }))
        out.append(AttestationCheck(
            "signing-key", ok: reportKey.description == kind.rawValue, expected: "\(kind.rawValue) (the certificate's kind)",
            actual: "\(reportKey) (the report's SIGNING_KEY)"))
        out += bindings(report, endorsement: endorsement, kind: kind)
        out.append(.outcome(
            "report-signature", expected: "ECDSA P-384 by the \(kind.name)",
            problem: ReportSignature.problem(verifying: report, with: endorsement), fine: "verifies"))
        return out
    }

    /// Every certificate valid at `time`.
    private func validity(_ certificates: [AMDCertificate]) -> AttestationCheck {
        let at = UnixTime.rfc3339(time)
        for certificate in certificates where !certificate.validity.contains(time) {
            return AttestationCheck(
                "certificate-validity", ok: false, expected: "every certificate valid at \(at)",
                actual: "\(certificate.subjectCommonName) is valid \(UnixTime.rfc3339(certificate.validity.notBefore)) to \(UnixTime.rfc3339(certificate.validity.notAfter))")
        }
        return AttestationCheck("certificate-validity", ok: true, expected: "every certificate valid at \(at)", actual: "all valid")
    }

    /// The certificate speaks for this chip (hwID = CHIP_ID) and this TCB (its SPLs =
    /// REPORTED_TCB, not CURRENT_TCB: the firmware signs with the key of the reported TCB).
    private func bindings(_ report: AttestationReport, endorsement: AMDCertificate, kind: EndorsementKind) -> [AttestationCheck] {
        let extensions: EndorsementExtensions
        do {
            extensions = try EndorsementExtensions(endorsement)
        } catch {
            return [AttestationCheck("reported-tcb", ok: false, expected: "the certificate's TCB extensions", actual: error.description)]
        }
        var out: [AttestationCheck] = []
        if kind == .vcek {
            // Turin VCEKs carry 8 bytes: the first 8 of CHIP_ID (VCEK specification 57230, Turin).
            let chip = chain.product == .turin ? Array(report.chipID.prefix(8)) : report.chipID
            if let hwID = extensions.hwID {
                out.append(.bytes("chip-id", expected: hwID, actual: chip))
            } else {
                out.append(AttestationCheck("chip-id", ok: false, expected: "the VCEK's hwID", actual: "the VCEK has no hwID extension"))
            }
        }
        let layout = chain.product.tcbLayout
        if let certified = extensions.tcb(layout: layout) {
            out.append(AttestationCheck(
                "reported-tcb", ok: certified.rawValue == report.reportedTCB.rawValue,
                expected: certified.description + " (the \(kind.name)'s)", actual: report.reportedTCB.description))
        } else {
            out.append(AttestationCheck("reported-tcb", ok: false, expected: "the \(kind.name)'s TCB extensions",
                                        actual: "missing blSPL, teeSPL, snpSPL, ucodeSPL\(layout == .turin ? " or fmcSPL" : "")"))
        }
        return out
    }
}

/// The relying party's expectations, checked against a report (authenticity aside).
struct AttestationExpectationChecks {
    let expectations: AttestationExpectations
    init(_ expectations: AttestationExpectations) { self.expectations = expectations }

    func checks(_ report: AttestationReport) -> [AttestationCheck] {
        let e = expectations
        var out: [AttestationCheck] = []
        if let m = e.measurement { out.append(.bytes("measurement", expected: m, actual: report.measurement)) }
        if let h = e.hostData { out.append(.bytes("host-data", expected: h, actual: report.hostData)) }
        if let p = e.policy {
            out.append(AttestationCheck("policy", ok: p == report.policy.rawValue, expected: policyText(p), actual: policyText(report.policy.rawValue)))
        }
        let violations = e.policyRules.violations(report.policy)
        out.append(AttestationCheck(
            "policy-rules", ok: violations.isEmpty, expected: e.policyRules.summary,
            actual: violations.isEmpty ? policyText(report.policy.rawValue) : violations.joined(separator: "; ")))
        if let d = e.idKeyDigest { out.append(.bytes("id-key-digest", expected: d, actual: report.idKeyDigest)) }
        if let d = e.authorKeyDigest { out.append(.bytes("author-key-digest", expected: d, actual: report.authorKeyDigest)) }
        if let v = e.vmpl { out.append(AttestationCheck("vmpl", ok: v == report.vmpl, expected: String(v), actual: String(report.vmpl))) }
        if let r = e.reportData { out.append(.bytes("report-data", expected: r, actual: report.reportData)) }
        if let minimum = e.minimumTCB {
            let shortfalls = minimum.shortfalls(report.reportedTCB)
            out.append(AttestationCheck(
                "minimum-tcb", ok: shortfalls.isEmpty, expected: "at least \(minimum)",
                actual: shortfalls.isEmpty ? report.reportedTCB.description : shortfalls.joined(separator: ", ")))
        }
        return out
    }

    private func policyText(_ value: UInt64) -> String {
        let names = SNPPolicy(value).setBitNames
        return hex(value, uppercase: false) + (names.isEmpty ? "" : " (\(names.joined(separator: ", ")))")
    }
}
