import Crypto
import Numerals

/// Why an ID block could not be built.
public struct IDBlockError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// An ID block with its ID authentication information, ready for `sev-snp-guest`'s `id-block`,
/// `id-auth` and `author-key-enabled` properties.
public struct SignedIDBlock: Sendable, Equatable {
    public let idBlock: IDBlock
    public let idAuth: IDAuthentication

    public init(idBlock: IDBlock, idAuth: IDAuthentication) {
        self.idBlock = idBlock
        self.idAuth = idAuth
    }

    /// `id-block` property value (base64 of the 96 bytes).
    public var idBlockBase64: String { Base64.encode(idBlock.bytes) }
    /// `id-auth` property value (base64 of the 4096 bytes).
    public var idAuthBase64: String { Base64.encode(idAuth.bytes) }
    /// `author-key-enabled` property value.
    public var authorKeyEnabled: Bool { idAuth.authorKey != nil }
    /// ID_KEY_DIGEST an attestation report of this launch carries.
    public var idKeyDigest: [UInt8] { Array(SHA384.hash(data: idAuth.idKey.bytes)) }
    /// AUTHOR_KEY_DIGEST an attestation report carries (nil without an author key).
    public var authorKeyDigest: [UInt8]? { idAuth.authorKey.map { Array(SHA384.hash(data: $0.bytes)) } }

    /// Checks both signatures as the firmware does: the ID key over the 96-byte ID block and,
    /// if present, the author key over the 0x404-byte ID key structure.
    public func verify() -> Bool {
        guard IDBlockBuilder.verify(idAuth.idBlockSignature, of: idBlock.bytes, by: idAuth.idKey) else { return false }
        if let authorKey = idAuth.authorKey, let sig = idAuth.idKeySignature {
            return IDBlockBuilder.verify(sig, of: idAuth.idKey.bytes, by: authorKey)
        }
        return true
    }
}

/// Signs ID blocks with an ID key and an optional author key (ECDSA P-384 over SHA-384).
///
/// ```swift
/// let builder = try IDBlockBuilder(idKeyPEM: idPEM, authorKeyPEM: authorPEM)
/// let signed = try builder.sign(IDBlock(launchDigest: digest.bytes))
/// print(signed.idBlockBase64, signed.idAuthBase64)
/// ```
public struct IDBlockBuilder: Sendable {
    public let idKey: P384.Signing.PrivateKey
    public let authorKey: P384.Signing.PrivateKey?

    public init(idKey: P384.Signing.PrivateKey, authorKey: P384.Signing.PrivateKey? = nil) {
        self.idKey = idKey
        self.authorKey = authorKey
    }

    /// Loads PEM private keys (SEC1 `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`, curve P-384).
    public init(idKeyPEM: String, authorKeyPEM: String? = nil) throws(IDBlockError) {
        let id = try Self.privateKey(pem: idKeyPEM, role: "ID key")
        let author = try authorKeyPEM.map { pem throws(IDBlockError) in try Self.privateKey(pem: pem, role: "author key") }
        self.init(idKey: id, authorKey: author)
    }

    static func privateKey(pem: String, role: String) throws(IDBlockError) -> P384.Signing.PrivateKey {
        do {
            return try P384.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw IDBlockError("\(role): not a PEM-encoded ECDSA P-384 private key (SNP ID keys must be P-384)")
        }
    }

    /// The ABI form of a P-384 public key.
    public static func abiPublicKey(_ key: P384.Signing.PublicKey) -> SNPECDSAPublicKey {
        let raw = Array(key.rawRepresentation)  // x ‖ y, big-endian, 48 bytes each
        return SNPECDSAPublicKey(p384BigEndianX: raw[0..<48], y: raw[48..<96])
    }

    /// ID_KEY_DIGEST of the ID key.
    public var idKeyDigest: [UInt8] { Array(SHA384.hash(data: Self.abiPublicKey(idKey.publicKey).bytes)) }
    /// AUTHOR_KEY_DIGEST of the author key, if any.
    public var authorKeyDigest: [UInt8]? {
        authorKey.map { Array(SHA384.hash(data: Self.abiPublicKey($0.publicKey).bytes)) }
    }

    /// Signs `block` with the ID key and the ID key with the author key. ECDSA signatures are
    /// randomized, so two calls give different (equally valid) ID auth structures.
    public func sign(_ block: IDBlock) throws(IDBlockError) -> SignedIDBlock {
        let idPublic = Self.abiPublicKey(idKey.publicKey)
        let blockSignature = try Self.sign(block.bytes, with: idKey)
        let idKeySignature = try authorKey.map { key throws(IDBlockError) in try Self.sign(idPublic.bytes, with: key) }
        return assemble(block, idBlockSignature: blockSignature, idKeySignature: idKeySignature)
    }

    /// Assembles the ID auth structure from existing signatures (a signing service's output, or
    /// stored test vectors).
    public func assemble(
        _ block: IDBlock, idBlockSignature: SNPECDSASignature, idKeySignature: SNPECDSASignature?
    ) -> SignedIDBlock {
        let author = authorKey.map { Self.abiPublicKey($0.publicKey) }
        let auth = IDAuthentication(
            idBlockSignature: idBlockSignature, idKey: Self.abiPublicKey(idKey.publicKey),
            idKeySignature: author == nil ? nil : idKeySignature, authorKey: idKeySignature == nil ? nil : author)
        return SignedIDBlock(idBlock: block, idAuth: auth)
    }

    static func sign(_ message: [UInt8], with key: P384.Signing.PrivateKey) throws(IDBlockError) -> SNPECDSASignature {
        do {
            let raw = Array(try key.signature(for: SHA384.hash(data: message)).rawRepresentation)
            return SNPECDSASignature(bigEndianR: raw[0..<48], s: raw[48..<96])
        } catch {
            throw IDBlockError("ECDSA signing failed: \(error)")
        }
    }

    /// Checks an ABI-format ECDSA P-384/SHA-384 signature of `message` against an ABI-format key.
    public static func verify(_ signature: SNPECDSASignature, of message: [UInt8], by key: SNPECDSAPublicKey) -> Bool {
        guard key.bytes.loadLE(UInt32.self, at: 0) == SNPECDSAPublicKey.curveP384,
            let raw = signature.rawRepresentation(componentWidth: 48),
            let x = SNPECDSALayout.bigEndianComponent(fromLittleEndian: key.bytes[4..<76], width: 48),
            let y = SNPECDSALayout.bigEndianComponent(fromLittleEndian: key.bytes[76..<148], width: 48),
            let publicKey = try? P384.Signing.PublicKey(rawRepresentation: x + y),
            let ecdsa = try? P384.Signing.ECDSASignature(rawRepresentation: raw)
        else { return false }
        return publicKey.isValidSignature(ecdsa, for: SHA384.hash(data: message))
    }
}
