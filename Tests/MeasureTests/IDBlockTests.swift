import Crypto
import Foundation
import Measure
import Testing

/// ID block and ID auth against the peers' own vectors: sev-snp-measure's `tests/test_id_block.py`
/// (keys in `Tests/Fixtures/sev-snp-measure/keyfile`) and virtee/sev's `tests/id-block.rs` (keys
/// and stored signatures in `Tests/Fixtures/virtee-sev`).
struct IDBlockTests {
    struct KeySuite: Sendable, CustomTestStringConvertible {
        let name: String
        let idKey: URL
        let authorKey: URL
        let launchDigest: [UInt8]
        let expectedIDBlock: String
        let expectedIDKeyDigest: String
        let expectedAuthorKeyDigest: String
        var testDescription: String { name }
    }

    static let suites: [KeySuite] = [
        KeySuite(
            name: "sev-snp-measure test_id_block.py",
            idKey: Fixtures.sevSNPMeasure.appendingPathComponent("keyfile/id_key_test.pem"),
            authorKey: Fixtures.sevSNPMeasure.appendingPathComponent("keyfile/author_key_test.pem"),
            launchDigest: Base64.decode("B28FLQi9p6cAqipgjFyqawDrrSl7bWioWkWx5mmlWLZ+G5HShKMB/mPE+gdQRn7t")!,
            expectedIDBlock:
                "B28FLQi9p6cAqipgjFyqawDrrSl7bWioWkWx5mmlWLZ+G5HShKMB/mPE+gdQRn7tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAwAAAAAA",
            expectedIDKeyDigest: "hwt+NcU/inLQ0yL3WrKvgmJ5Kq9leWIs5BMcPyHyied8sFYKXjuQs5MuZ07HCcsU",
            expectedAuthorKeyDigest: "YxEcNLv8Ckk4+aAJvQdJgNgXIyPmFZnJ/TNtqGcySOHcqY0L6PdjdqEGuK/UwKBX"),
        KeySuite(
            name: "virtee/sev tests/id-block.rs",
            idKey: Fixtures.virteeSEV.appendingPathComponent("test_id_key.pem"),
            authorKey: Fixtures.virteeSEV.appendingPathComponent("test_auth_key.pem"),
            launchDigest: Hex.decode(
                "a14d638341e5674628fe1e02fbedebe5e5ab4faf1dd72d8966068e615bb99efd13d214b35c231715b38e263dc6059745")!,
            expectedIDBlock:
                "oU1jg0HlZ0Yo/h4C++3r5eWrT68d1y2JZgaOYVu5nv0T0hSzXCMXFbOOJj3GBZdFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAwAAAAAA",
            expectedIDKeyDigest: "WfssaG36T+9J84M5qndckAUcKNVzg93DuvO160sUlt87DbvcuuX+J2d6ZEggdz/i",
            expectedAuthorKeyDigest: "7tgRafsMteDsNHlPEo/U4MSkb2fGWhrfqB/LJLzAiMJyNpt//D6ytq9qQoShs2xf"),
    ]

    @Test("ID block and key digests byte for byte", arguments: suites)
    func idBlockAndKeyDigests(suite: KeySuite) throws {
        let builder = try IDBlockBuilder(
            idKeyPEM: Fixtures.text(suite.idKey), authorKeyPEM: Fixtures.text(suite.authorKey))
        let block = IDBlock(launchDigest: suite.launchDigest)
        #expect(block.bytes.count == IDBlock.size)
        #expect(Base64.encode(block.bytes) == suite.expectedIDBlock)
        #expect(Base64.encode(builder.idKeyDigest) == suite.expectedIDKeyDigest)
        #expect(builder.authorKeyDigest.map(Base64.encode) == suite.expectedAuthorKeyDigest)

        let signed = try builder.sign(block)
        #expect(signed.idBlockBase64 == suite.expectedIDBlock)
        #expect(Base64.encode(signed.idKeyDigest) == suite.expectedIDKeyDigest)
        #expect(signed.authorKeyDigest.map(Base64.encode) == suite.expectedAuthorKeyDigest)
    }

    @Test("A fresh signature verifies with the public keys, and a changed block does not", arguments: suites)
    func freshSignatureVerifies(suite: KeySuite) throws {
        let builder = try IDBlockBuilder(
            idKeyPEM: Fixtures.text(suite.idKey), authorKeyPEM: Fixtures.text(suite.authorKey))
        let signed = try builder.sign(IDBlock(launchDigest: suite.launchDigest))
        #expect(signed.idAuth.bytes.count == IDAuthentication.size)
        #expect(signed.verify())
        #expect(signed.authorKeyEnabled)

        // Independent check with swift-crypto's own verifier on the big-endian form.
        let sig = try #require(signed.idAuth.idBlockSignature.rawRepresentation(componentWidth: 48))
        let ecdsa = try P384.Signing.ECDSASignature(rawRepresentation: sig)
        let idPublic = try P384.Signing.PrivateKey(pemRepresentation: Fixtures.text(suite.idKey)).publicKey
        #expect(idPublic.isValidSignature(ecdsa, for: signed.idBlock.bytes))

        var tampered = signed.idBlock
        tampered.guestSVN = 1
        #expect(!SignedIDBlock(idBlock: tampered, idAuth: signed.idAuth).verify())
    }

    @Test("The 4096-byte id-auth of virtee/sev, assembled from the stored signatures")
    func storedSignatureAuthBlock() throws {
        let builder = try IDBlockBuilder(
            idKeyPEM: Fixtures.text(Fixtures.virteeSEV.appendingPathComponent("test_id_key.pem")),
            authorKeyPEM: Fixtures.text(Fixtures.virteeSEV.appendingPathComponent("test_auth_key.pem")))
        let idSig = try #require(
            SNPECDSASignature(bytes: Fixtures.bytes(Fixtures.virteeSEV.appendingPathComponent("test_id_sig.bin"))))
        let authSig = try #require(
            SNPECDSASignature(bytes: Fixtures.bytes(Fixtures.virteeSEV.appendingPathComponent("test_auth_sig.bin"))))
        let expected = try Fixtures.bytes(Fixtures.virteeSEV.appendingPathComponent("test_auth_block.bin"))
        let block = IDBlock(launchDigest: Self.suites[1].launchDigest)
        let signed = builder.assemble(block, idBlockSignature: idSig, idKeySignature: authSig)
        #expect(signed.idAuth.bytes.count == 4096)
        #expect(signed.idAuth.bytes == expected)
        // The stored author signature is over the ID key structure and must verify.
        let authorKey = try #require(signed.idAuth.authorKey)
        #expect(IDBlockBuilder.verify(authSig, of: signed.idAuth.idKey.bytes, by: authorKey))
    }

    @Test("Without an author key the author fields stay zero")
    func noAuthorKey() throws {
        let builder = try IDBlockBuilder(
            idKeyPEM: Fixtures.text(Fixtures.virteeSEV.appendingPathComponent("test_id_key.pem")))
        let signed = try builder.sign(
            IDBlock(
                launchDigest: [UInt8](repeating: 0xAB, count: 48), familyID: [UInt8](repeating: 1, count: 16),
                imageID: [UInt8](repeating: 2, count: 16), guestSVN: 7, policy: 0x30000))
        let bytes = signed.idAuth.bytes
        #expect(bytes[0x680..<0x1000].allSatisfy { $0 == 0 })
        #expect(!signed.authorKeyEnabled)
        #expect(signed.authorKeyDigest == nil)
        #expect(signed.verify())
        #expect(IDBlock(bytes: signed.idBlock.bytes) == signed.idBlock)
    }

    @Test("A non-P-384 key is refused with a clear message")
    func wrongCurve() throws {
        let p256 = P256.Signing.PrivateKey().pemRepresentation
        #expect(throws: IDBlockError("ID key: not a PEM-encoded ECDSA P-384 private key (SNP ID keys must be P-384)")) {
            try IDBlockBuilder(idKeyPEM: p256)
        }
    }
}
