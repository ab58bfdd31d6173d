import Crypto
import Measure
import SNPReport
import X509

/// The report's own signature: ECDSA P-384 over SHA-384 of bytes 0x000–0x29F, by the VCEK or
/// VLEK. R and S are stored as 72-byte little-endian integers (SNP ABI "ECDSA Signature
/// Format"); a set byte above the 48 a P-384 integer has makes the signature invalid rather than
/// being cut off, so every one of the 72 bytes counts.
public enum ReportSignature {
    /// Nil when `certificate`'s key signed `report`, else why not.
    public static func problem(verifying report: AttestationReport, with certificate: AMDCertificate) -> String? {
        guard let key = P384.Signing.PublicKey(certificate.publicKey) else {
            return "\(certificate.subjectCommonName) has no ECDSA P-384 key"
        }
        return problem(verifying: report, with: key)
    }

    public static func problem(verifying report: AttestationReport, with key: P384.Signing.PublicKey) -> String? {
        guard let field = SNPECDSASignature(bytes: Array(report.signatureField)),
              let raw = field.rawRepresentation(componentWidth: 48)
        else { return "R or S has bits set above 384 (bytes 48–71 of a 72-byte component)" }
        guard let signature = try? P384.Signing.ECDSASignature(rawRepresentation: raw) else {
            return "R or S is not a P-384 scalar"
        }
        guard key.isValidSignature(signature, for: SHA384.hash(data: report.signedBytes)) else {
            return "the ECDSA P-384 signature over bytes 0x000-0x29F does not verify"
        }
        return nil
    }
}
