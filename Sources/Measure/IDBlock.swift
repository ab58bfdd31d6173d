import Numerals

/// The 96-byte SEV-SNP ID block (`KVM_SEV_SNP_ID_BLOCK_SIZE`; SNP firmware ABI, SNP_LAUNCH_FINISH):
/// the launch digest the guest owner expects, its family/image ids, SVN and policy. The
/// firmware refuses to finish a launch whose digest or policy differs from it.
public struct IDBlock: Sendable, Equatable {
    public static let size = 96
    /// The only version the firmware accepts.
    public static let currentVersion: UInt32 = 1
    /// SMT allowed + the must-be-one bit 17: QEMU's and the tools' default policy.
    public static let defaultPolicy: UInt64 = 0x30000

    /// LD: the expected launch digest (48 bytes).
    public var launchDigest: [UInt8]
    /// FAMILY_ID (16 bytes), chosen by the guest owner.
    public var familyID: [UInt8]
    /// IMAGE_ID (16 bytes), chosen by the guest owner.
    public var imageID: [UInt8]
    public var version: UInt32
    public var guestSVN: UInt32
    /// Must equal the policy the launch starts with.
    public var policy: UInt64

    public init(
        launchDigest: [UInt8], familyID: [UInt8] = .init(repeating: 0, count: 16),
        imageID: [UInt8] = .init(repeating: 0, count: 16), version: UInt32 = IDBlock.currentVersion,
        guestSVN: UInt32 = 0, policy: UInt64 = IDBlock.defaultPolicy
    ) {
        precondition(launchDigest.count == SNPPageInfoChain.digestSize, "LD is 48 bytes")
        precondition(familyID.count == 16 && imageID.count == 16, "FAMILY_ID and IMAGE_ID are 16 bytes")
        self.launchDigest = launchDigest
        self.familyID = familyID
        self.imageID = imageID
        self.version = version
        self.guestSVN = guestSVN
        self.policy = policy
    }

    /// The ABI layout: LD @0, FAMILY_ID @0x30, IMAGE_ID @0x40, VERSION @0x50, GUEST_SVN @0x54,
    /// POLICY @0x58, all little-endian.
    public var bytes: [UInt8] {
        launchDigest + familyID + imageID
            + LittleEndian.bytes(version) + LittleEndian.bytes(guestSVN) + LittleEndian.bytes(policy)
    }

    /// Parses the 96-byte layout (e.g. a decoded `id-block` property); nil if the size is wrong.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        self.init(
            launchDigest: Array(bytes[0..<0x30]), familyID: Array(bytes[0x30..<0x40]),
            imageID: Array(bytes[0x40..<0x50]),
            version: bytes.loadLE(UInt32.self, at: 0x50),
            guestSVN: bytes.loadLE(UInt32.self, at: 0x54),
            policy: bytes.loadLE(UInt64.self, at: 0x58))
    }
}

/// Widths of the SNP ABI ECDSA structures (ABI "ECDSA Signature Format"/"ECDSA Public Key
/// Format"): integers little-endian, zero-extended to 72 bytes (576 bits, room for P-521).
enum SNPECDSALayout {
    static let componentSize = 72
    static let signatureSize = 0x200
    static let publicKeySize = 0x404

    /// A big-endian integer (as swift-crypto returns it) as a 72-byte little-endian field.
    static func littleEndianComponent(fromBigEndian bigEndian: some Collection<UInt8>) -> [UInt8] {
        precondition(bigEndian.count <= componentSize, "component wider than 576 bits")
        return Array(bigEndian.reversed()) + [UInt8](repeating: 0, count: componentSize - bigEndian.count)
    }

    /// The first `width` bytes of a 72-byte little-endian field, big-endian; nil if the field
    /// has set bits beyond `width`.
    static func bigEndianComponent(fromLittleEndian field: ArraySlice<UInt8>, width: Int) -> [UInt8]? {
        guard field.dropFirst(width).allSatisfy({ $0 == 0 }) else { return nil }
        return Array(field.prefix(width).reversed())
    }
}

/// An ECDSA signature in the SNP ABI layout (0x200 bytes): R @0, S @0x48, reserved to 0x1FF.
public struct SNPECDSASignature: Sendable, Equatable {
    public static let size = SNPECDSALayout.signatureSize
    /// The 512 ABI bytes.
    public let bytes: [UInt8]

    /// Wraps 512 ABI bytes (e.g. a stored signature); nil if the size is wrong.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        self.bytes = bytes
    }

    /// From big-endian R and S (each ≤ 72 bytes).
    public init(bigEndianR r: some Collection<UInt8>, s: some Collection<UInt8>) {
        var out = SNPECDSALayout.littleEndianComponent(fromBigEndian: r)
        out += SNPECDSALayout.littleEndianComponent(fromBigEndian: s)
        out += [UInt8](repeating: 0, count: Self.size - out.count)
        bytes = out
    }

    /// `r ‖ s`, each `width` bytes big-endian (the raw form crypto libraries take), or nil if
    /// either integer does not fit.
    public func rawRepresentation(componentWidth width: Int) -> [UInt8]? {
        guard let r = SNPECDSALayout.bigEndianComponent(fromLittleEndian: bytes[0..<72], width: width),
            let s = SNPECDSALayout.bigEndianComponent(fromLittleEndian: bytes[72..<144], width: width)
        else { return nil }
        return r + s
    }
}

/// An ECDSA public key in the SNP ABI layout (0x404 bytes): CURVE u32 @0, QX @4, QY @0x4C,
/// reserved to 0x403. Its SHA-384 is the ID_KEY_DIGEST / AUTHOR_KEY_DIGEST of an attestation
/// report.
public struct SNPECDSAPublicKey: Sendable, Equatable {
    public static let size = SNPECDSALayout.publicKeySize
    /// ABI curve id of P-384 (the only curve ID keys use).
    public static let curveP384: UInt32 = 2

    public let bytes: [UInt8]

    /// From the big-endian affine coordinates of a P-384 point.
    public init(p384BigEndianX x: some Collection<UInt8>, y: some Collection<UInt8>) {
        var out = LittleEndian.bytes(Self.curveP384)
        out += SNPECDSALayout.littleEndianComponent(fromBigEndian: x)
        out += SNPECDSALayout.littleEndianComponent(fromBigEndian: y)
        out += [UInt8](repeating: 0, count: Self.size - out.count)
        bytes = out
    }
}

/// The 4096-byte SEV-SNP ID authentication information (`KVM_SEV_SNP_ID_AUTH_SIZE`; AMD SEV-SNP
/// Firmware ABI specification, publication 56860, §8.18 SNP_LAUNCH_FINISH):
/// the ID key's signature over the ID block, the ID key, and optionally the author key's
/// signature over the ID key plus the author key.
public struct IDAuthentication: Sendable, Equatable {
    public static let size = 4096
    /// ECDSA P-384 with SHA-384, the only algorithm the ABI defines.
    public static let ecdsaP384SHA384: UInt32 = 1

    public var idBlockSignature: SNPECDSASignature
    public var idKey: SNPECDSAPublicKey
    /// Present when an author key signs the ID key (`author-key-enabled=on`).
    public var idKeySignature: SNPECDSASignature?
    public var authorKey: SNPECDSAPublicKey?

    public init(
        idBlockSignature: SNPECDSASignature, idKey: SNPECDSAPublicKey,
        idKeySignature: SNPECDSASignature? = nil, authorKey: SNPECDSAPublicKey? = nil
    ) {
        precondition((idKeySignature == nil) == (authorKey == nil), "author key and its signature go together")
        self.idBlockSignature = idBlockSignature
        self.idKey = idKey
        self.idKeySignature = idKeySignature
        self.authorKey = authorKey
    }

    /// The ABI layout: ID_KEY_ALGO @0, AUTH_KEY_ALGO @4, ID_BLOCK_SIG @0x40, ID_KEY @0x240,
    /// ID_KEY_SIG @0x680, AUTHOR_KEY @0x880, zeros elsewhere. Both algorithm fields are 1, as
    /// sev-snp-measure and virtee/sev write them, author key or not.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        func put(_ field: [UInt8], at offset: Int) { out.replaceSubrange(offset..<offset + field.count, with: field) }
        put(LittleEndian.bytes(Self.ecdsaP384SHA384), at: 0x000)
        put(LittleEndian.bytes(Self.ecdsaP384SHA384), at: 0x004)
        put(idBlockSignature.bytes, at: 0x040)
        put(idKey.bytes, at: 0x240)
        if let idKeySignature { put(idKeySignature.bytes, at: 0x680) }
        if let authorKey { put(authorKey.bytes, at: 0x880) }
        return out
    }
}

