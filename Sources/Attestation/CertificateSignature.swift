import Crypto
import _CryptoExtras
import X509

/// RSASSA-PSS signatures between AMD's certificates (ARK → ARK, ARK → ASK/ASVK,
/// ASK/ASVK → VCEK/VLEK), checked with swift-crypto's `_RSA.Signing` (BoringSSL): PSS padding
/// with a salt as long as the digest, the 48 bytes AMD's parameters name.
public enum CertificateSignature {
    /// Nil when `issuer`'s key signed `subject`, else why not (one clause).
    public static func problem(verifying subject: AMDCertificate, signedBy issuer: AMDCertificate) -> String? {
        guard subject.signatureAlgorithm.isAMDRSAPSS else {
            return "signed with \(subject.signatureAlgorithm), not RSASSA-PSS SHA-384 (salt 48)"
        }
        guard subject.issuer == issuer.subject else {
            return "issued by \(subject.issuerCommonName), not by \(issuer.subjectCommonName)"
        }
        guard let key = _RSA.Signing.PublicKey(issuer.publicKey) else {
            return "\(issuer.subjectCommonName) has no RSA key"
        }
        let signature = _RSA.Signing.RSASignature(rawRepresentation: subject.signature)
        let digest = SHA384.hash(data: subject.tbsBytes)
        guard key.isValidSignature(signature, for: digest, padding: .PSS) else {
            return "the RSA-PSS signature by \(issuer.subjectCommonName) does not verify"
        }
        return nil
    }
}
