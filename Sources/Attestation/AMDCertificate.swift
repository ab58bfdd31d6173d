import SwiftASN1
import X509

/// One certificate of AMD's SEV-SNP hierarchy (ARK, ASK, ASVK, VCEK, VLEK), parsed with
/// swift-asn1 down to the parts a verifier needs.
///
/// Not `X509.Certificate`: swift-certificates refuses certificates signed with RSASSA-PSS
/// (`Certificate.Signature` knows PKCS#1 v1.5 only, "not deployed in the WebPKI"), and every
/// certificate here is. The outer structure (RFC 5280 §4.1) is read here; the names, the
/// public key and the extensions are swift-certificates' own public types.
public struct AMDCertificate: Sendable {
    /// The DER bytes.
    public let der: [UInt8]
    /// The signed part (`tbsCertificate`, its full DER encoding).
    public let tbsBytes: ArraySlice<UInt8>
    /// `signatureAlgorithm` of the outer structure.
    public let signatureAlgorithm: SignatureAlgorithm
    /// The signature value (the BIT STRING's bytes).
    public let signature: ArraySlice<UInt8>
    public let serialNumber: ArraySlice<UInt8>
    public let issuer: DistinguishedName
    public let subject: DistinguishedName
    public let validity: Validity
    public let publicKey: Certificate.PublicKey
    public let extensions: [Certificate.Extension]

    /// Parses DER.
    public init(derEncoded der: [UInt8]) throws(CertificateError) {
        do {
            self = try Self.parse(der)
        } catch let error as CertificateError {
            throw error
        } catch {
            throw CertificateError("not a DER X.509 certificate AMD issues: \(error)")
        }
    }

    /// Parses one PEM `CERTIFICATE` block.
    public init(pem: String) throws(CertificateError) {
        let documents = try Self.pemDocuments(pem)
        guard documents.count == 1 else {
            throw CertificateError("expected one PEM certificate, found \(documents.count)")
        }
        try self.init(derEncoded: documents[0])
    }

    /// Every `CERTIFICATE` block of a PEM text, as DER.
    static func pemDocuments(_ text: String) throws(CertificateError) -> [[UInt8]] {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: text)
        } catch {
            throw CertificateError("not PEM: \(error)")
        }
        return documents.filter { $0.discriminator == "CERTIFICATE" }.map(\.derBytes)
    }

    /// Reads a certificate file in either encoding: PEM text or DER bytes (AMD's KDS serves
    /// VCEKs as DER and chains as PEM). A PEM file may hold several (`cert_chain`).
    public static func certificates(fromFileContents bytes: [UInt8]) throws(CertificateError) -> [AMDCertificate] {
        if bytes.first == 0x30 { return [try AMDCertificate(derEncoded: bytes)] }
        let ders = try pemDocuments(String(decoding: bytes, as: UTF8.self))
        guard !ders.isEmpty else { throw CertificateError("neither DER nor a PEM CERTIFICATE block") }
        var out: [AMDCertificate] = []
        for der in ders { out.append(try AMDCertificate(derEncoded: der)) }
        return out
    }

    private static func parse(_ der: [UInt8]) throws -> AMDCertificate {
        let root = try DER.parse(der)
        return try DER.sequence(root, identifier: .sequence) { nodes in
            guard let tbsNode = nodes.next(), let algorithmNode = nodes.next(), let signatureNode = nodes.next() else {
                throw CertificateError("a certificate has three parts: tbsCertificate, signatureAlgorithm, signature")
            }
            let outerAlgorithm = try SignatureAlgorithm(derEncoded: algorithmNode)
            let signature = try ASN1BitString(derEncoded: signatureNode)
            let tbs = try TBS(tbsNode)
            guard tbs.signatureAlgorithm == outerAlgorithm else {
                throw CertificateError("the signature algorithm inside the signed part differs from the outer one")
            }
            return AMDCertificate(
                der: der, tbsBytes: tbsNode.encodedBytes, signatureAlgorithm: outerAlgorithm, signature: signature.bytes,
                serialNumber: tbs.serialNumber, issuer: tbs.issuer, subject: tbs.subject, validity: tbs.validity,
                publicKey: tbs.publicKey, extensions: tbs.extensions)
        }
    }

    private init(der: [UInt8], tbsBytes: ArraySlice<UInt8>, signatureAlgorithm: SignatureAlgorithm, signature: ArraySlice<UInt8>,
                 serialNumber: ArraySlice<UInt8>, issuer: DistinguishedName, subject: DistinguishedName, validity: Validity,
                 publicKey: Certificate.PublicKey, extensions: [Certificate.Extension]) {
        self.der = der
        self.tbsBytes = tbsBytes
        self.signatureAlgorithm = signatureAlgorithm
        self.signature = signature
        self.serialNumber = serialNumber
        self.issuer = issuer
        self.subject = subject
        self.validity = validity
        self.publicKey = publicKey
        self.extensions = extensions
    }

    /// TBSCertificate (RFC 5280 §4.1): version [0], serial, signature, issuer, validity,
    /// subject, subjectPublicKeyInfo, issuerUniqueID [1], subjectUniqueID [2], extensions [3].
    private struct TBS {
        var serialNumber: ArraySlice<UInt8>
        var signatureAlgorithm: SignatureAlgorithm
        var issuer: DistinguishedName
        var validity: Validity
        var subject: DistinguishedName
        var publicKey: Certificate.PublicKey
        var extensions: [Certificate.Extension]

        init(_ node: ASN1Node) throws {
            self = try DER.sequence(node, identifier: .sequence) { nodes in
                let version = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { try Int(derEncoded: $0) } ?? 0
                guard version == 2 else { throw CertificateError("X.509 version \(version + 1), AMD issues version 3") }
                guard let serialNode = nodes.next(), let algorithmNode = nodes.next(), let issuerNode = nodes.next(),
                      let validityNode = nodes.next(), let subjectNode = nodes.next(), let keyNode = nodes.next()
                else { throw CertificateError("the signed part of the certificate is incomplete") }
                let serial = try ArraySlice<UInt8>(derEncoded: serialNode)
                let algorithm = try SignatureAlgorithm(derEncoded: algorithmNode)
                let issuer = try DistinguishedName(derEncoded: issuerNode)
                let validity = try Validity(derEncoded: validityNode)
                let subject = try DistinguishedName(derEncoded: subjectNode)
                let key = try Certificate.PublicKey(derEncoded: keyNode)
                // issuerUniqueID [1] and subjectUniqueID [2] are skipped; extensions are [3].
                var extensions: [Certificate.Extension] = []
                let extensionsTag = ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific)
                while let node = nodes.next() {
                    guard node.identifier == extensionsTag else { continue }
                    extensions = try DER.explicitlyTagged(node, tagNumber: 3, tagClass: .contextSpecific) { node in
                        try DER.sequence(of: Certificate.Extension.self, identifier: .sequence, rootNode: node)
                    }
                }
                return TBS(serialNumber: serial, signatureAlgorithm: algorithm, issuer: issuer, validity: validity,
                           subject: subject, publicKey: key, extensions: extensions)
            }
        }

        init(serialNumber: ArraySlice<UInt8>, signatureAlgorithm: SignatureAlgorithm, issuer: DistinguishedName, validity: Validity,
             subject: DistinguishedName, publicKey: Certificate.PublicKey, extensions: [Certificate.Extension]) {
            self.serialNumber = serialNumber
            self.signatureAlgorithm = signatureAlgorithm
            self.issuer = issuer
            self.validity = validity
            self.subject = subject
            self.publicKey = publicKey
            self.extensions = extensions
        }
    }

    /// The subject's common name (`ARK-Milan`, `SEV-Milan`, `SEV-VCEK`, `SEV-VLEK`).
    public var subjectCommonName: String { Self.commonName(subject) }
    public var issuerCommonName: String { Self.commonName(issuer) }

    static func commonName(_ name: DistinguishedName) -> String {
        for rdn in name {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return attribute.value.description
            }
        }
        return ""
    }

    /// The extension with this OID's value bytes, if present.
    public func extensionValue(_ oid: ASN1ObjectIdentifier) -> ArraySlice<UInt8>? {
        extensions.first { $0.oid == oid }?.value
    }
}
