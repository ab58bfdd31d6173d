import SwiftASN1

/// A certificate's signature algorithm (AlgorithmIdentifier), with RSASSA-PSS parameters
/// decoded (RFC 4055 §3.1). AMD signs its whole hierarchy with RSASSA-PSS, SHA-384, MGF1 with
/// SHA-384 and a 48-byte salt.
public struct SignatureAlgorithm: Sendable, Hashable, CustomStringConvertible {
    public let oid: ASN1ObjectIdentifier
    /// The PSS parameters when `oid` is id-RSASSA-PSS.
    public let pss: PSSParameters?

    public struct PSSParameters: Sendable, Hashable {
        public var hash: ASN1ObjectIdentifier
        public var maskGeneration: ASN1ObjectIdentifier
        public var maskGenerationHash: ASN1ObjectIdentifier?
        public var saltLength: Int
        public var trailerField: Int
    }

    static let rsassaPSS: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 10]
    static let mgf1: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 8]
    static let sha1: ASN1ObjectIdentifier = [1, 3, 14, 3, 2, 26]
    static let sha384: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 2]

    /// The only parameters AMD uses, and the only ones accepted.
    public var isAMDRSAPSS: Bool {
        oid == Self.rsassaPSS && pss == PSSParameters(
            hash: Self.sha384, maskGeneration: Self.mgf1, maskGenerationHash: Self.sha384, saltLength: 48, trailerField: 1)
    }

    public var description: String {
        guard let pss else { return "\(oid)" }
        let hash = pss.hash == Self.sha384 ? "SHA-384" : "\(pss.hash)"
        let mgfHash = pss.maskGenerationHash.map { $0 == Self.sha384 ? "SHA-384" : "\($0)" } ?? "?"
        return "RSASSA-PSS (\(hash), MGF1 \(mgfHash), salt \(pss.saltLength))"
    }

    init(derEncoded node: ASN1Node) throws {
        self = try DER.sequence(node, identifier: .sequence) { nodes in
            guard let oidNode = nodes.next() else { throw CertificateError("an algorithm identifier without an OID") }
            let oid = try ASN1ObjectIdentifier(derEncoded: oidNode)
            var pss: PSSParameters?
            if oid == Self.rsassaPSS {
                guard let parameters = nodes.next() else { throw CertificateError("RSASSA-PSS without parameters") }
                pss = try Self.pssParameters(parameters)
            } else {
                _ = nodes.next()  // NULL or absent
            }
            return SignatureAlgorithm(oid: oid, pss: pss)
        }
    }

    private init(oid: ASN1ObjectIdentifier, pss: PSSParameters?) {
        self.oid = oid
        self.pss = pss
    }

    /// RSASSA-PSS-params: hashAlgorithm [0], maskGenAlgorithm [1], saltLength [2],
    /// trailerField [3], each with its RFC 4055 default (SHA-1, MGF1-SHA-1, 20, 1).
    private static func pssParameters(_ node: ASN1Node) throws -> PSSParameters {
        try DER.sequence(node, identifier: .sequence) { nodes in
            let hash = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { try algorithmOID($0).oid } ?? sha1
            let mask = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) { try algorithmOID($0) }
            let salt = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 2, tagClass: .contextSpecific) { try Int(derEncoded: $0) } ?? 20
            let trailer = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 3, tagClass: .contextSpecific) { try Int(derEncoded: $0) } ?? 1
            var maskHash: ASN1ObjectIdentifier? = sha1
            if let parameters = mask?.parameters { maskHash = try algorithmOID(parameters).oid }
            return PSSParameters(hash: hash, maskGeneration: mask?.oid ?? mgf1, maskGenerationHash: mask == nil ? sha1 : maskHash,
                                 saltLength: salt, trailerField: trailer)
        }
    }

    /// An AlgorithmIdentifier's OID and its parameters node.
    private static func algorithmOID(_ node: ASN1Node) throws -> (oid: ASN1ObjectIdentifier, parameters: ASN1Node?) {
        try DER.sequence(node, identifier: .sequence) { nodes in
            guard let oidNode = nodes.next() else { throw CertificateError("an algorithm identifier without an OID") }
            return (try ASN1ObjectIdentifier(derEncoded: oidNode), nodes.next())
        }
    }
}
