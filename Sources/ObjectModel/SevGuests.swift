import JSON

/// `-object sev-snp-guest`: an AMD SEV-SNP guest (QEMU ≥ 9.1; properties of QEMU 10.2.2).
///
/// `nil` means "not set": QEMU's default applies (see each property). Base64 blobs keep their text
/// exactly (see `Base64Blob`); `validate()` decodes them as QEMU does.
public struct SevSnpGuest: QOMObjectType {
    public static let qomType = "sev-snp-guest"
    public static let hexProperties: Set<String> = ["policy"]

    /// `guest-visible-workarounds` decodes to exactly 16 bytes (`sizeof(start->gosvw)`).
    public static let guestVisibleWorkaroundsLength = Base64Blob.LengthRule.exactly(16)
    /// `id-block` decodes to exactly 96 bytes (`KVM_SEV_SNP_ID_BLOCK_SIZE`).
    public static let idBlockLength = Base64Blob.LengthRule.exactly(96)
    /// `id-auth` decodes to at most 4096 bytes (`KVM_SEV_SNP_ID_AUTH_SIZE`); the firmware needs all 4096.
    public static let idAuthLength = Base64Blob.LengthRule.atMost(4096)
    /// `host-data` decodes to exactly 32 bytes (`sizeof(finish->host_data)`).
    public static let hostDataLength = Base64Blob.LengthRule.exactly(32)

    public var id: String
    /// `sev-device` (default `/dev/sev`).
    public var sevDevice: String?
    /// `cbitpos` (default: from host CPUID; checked against the host at KVM init).
    public var cbitpos: UInt32?
    /// `reduced-phys-bits`: mandatory in QAPI (QEMU: "Parameter 'reduced-phys-bits' is missing").
    public var reducedPhysBits: UInt32?
    /// `kernel-hashes` (default false): measured direct kernel boot.
    public var kernelHashes: Bool?
    /// `policy` (default 0x30000).
    public var policy: SNPPolicy?
    /// `guest-visible-workarounds` (default all-zero), 16 bytes.
    public var guestVisibleWorkarounds: Base64Blob?
    /// `id-block` (default none), 96 bytes.
    public var idBlock: Base64Blob?
    /// `id-auth` (default none), ≤ 4096 bytes for QEMU, 4096 for the firmware.
    public var idAuth: Base64Blob?
    /// `author-key-enabled` (default false).
    public var authorKeyEnabled: Bool?
    /// `host-data` (default all-zero), 32 bytes.
    public var hostData: Base64Blob?
    /// `vcek-disabled` (default false).
    public var vcekDisabled: Bool?

    public init(
        id: String, sevDevice: String? = nil, cbitpos: UInt32? = nil, reducedPhysBits: UInt32? = nil,
        kernelHashes: Bool? = nil, policy: SNPPolicy? = nil, guestVisibleWorkarounds: String? = nil,
        idBlock: String? = nil, idAuth: String? = nil, authorKeyEnabled: Bool? = nil,
        hostData: String? = nil, vcekDisabled: Bool? = nil
    ) {
        self.id = id
        self.sevDevice = sevDevice
        self.cbitpos = cbitpos
        self.reducedPhysBits = reducedPhysBits
        self.kernelHashes = kernelHashes
        self.policy = policy
        self.guestVisibleWorkarounds = guestVisibleWorkarounds.map { Base64Blob(text: $0, length: Self.guestVisibleWorkaroundsLength) }
        self.idBlock = idBlock.map { Base64Blob(text: $0, length: Self.idBlockLength) }
        self.idAuth = idAuth.map { Base64Blob(text: $0, length: Self.idAuthLength) }
        self.authorKeyEnabled = authorKeyEnabled
        self.hostData = hostData.map { Base64Blob(text: $0, length: Self.hostDataLength) }
        self.vcekDisabled = vcekDisabled
    }

    /// The policy the guest launches with: `policy` or QEMU's default.
    public var effectivePolicy: SNPPolicy { policy ?? .qemuDefault }

    public init(id: String, reading r: inout PropertyReader) {
        self.init(id: id)
        (sevDevice, cbitpos, reducedPhysBits, kernelHashes) = SevCommon.read(&r)
        policy = r.uint64("policy").map(SNPPolicy.init(rawValue:))
        guestVisibleWorkarounds = r.string("guest-visible-workarounds").map { Base64Blob(text: $0, length: Self.guestVisibleWorkaroundsLength) }
        idBlock = r.string("id-block").map { Base64Blob(text: $0, length: Self.idBlockLength) }
        idAuth = r.string("id-auth").map { Base64Blob(text: $0, length: Self.idAuthLength) }
        authorKeyEnabled = r.bool("author-key-enabled")
        hostData = r.string("host-data").map { Base64Blob(text: $0, length: Self.hostDataLength) }
        vcekDisabled = r.bool("vcek-disabled")
    }

    public var properties: JSONObject {
        var p = SevCommon.properties(sevDevice, cbitpos, reducedPhysBits, kernelHashes)
        p["policy"] = policy.map { JSON($0.rawValue) }
        p["guest-visible-workarounds"] = guestVisibleWorkarounds.map { JSON($0.text) }
        p["id-block"] = idBlock.map { JSON($0.text) }
        p["id-auth"] = idAuth.map { JSON($0.text) }
        p["author-key-enabled"] = authorKeyEnabled.map { JSON($0) }
        p["host-data"] = hostData.map { JSON($0.text) }
        p["vcek-disabled"] = vcekDisabled.map { JSON($0) }
        return p
    }

    public func validate(facts: FirmwareFacts) -> [Problem] {
        SevSnpGuestRules(guest: self, facts: facts).problems()
    }
}

/// `-object sev-guest`: an AMD SEV guest, or SEV-ES when policy bit 2 (`SEVPolicy.encryptedState`)
/// is set (properties of QEMU 10.2.2).
public struct SevGuest: QOMObjectType {
    public static let qomType = "sev-guest"
    public static let hexProperties: Set<String> = ["policy"]

    public var id: String
    /// `sev-device` (default `/dev/sev`).
    public var sevDevice: String?
    /// `cbitpos` (default: from host CPUID).
    public var cbitpos: UInt32?
    /// `reduced-phys-bits`: mandatory in QAPI.
    public var reducedPhysBits: UInt32?
    /// `kernel-hashes` (default false).
    public var kernelHashes: Bool?
    /// `dh-cert-file`: the guest owner's base64 DH certificate file (read at launch).
    public var dhCertFile: String?
    /// `session-file`: the guest owner's base64 session parameters file (read at launch).
    public var sessionFile: String?
    /// `policy` (u32, default 0x1 = NODBG).
    public var policy: SEVPolicy?
    /// `handle` (u32, default 0: a new launch context).
    public var handle: UInt32?
    /// `legacy-vm-type` (on/off/auto, default auto).
    public var legacyVMType: OnOffAuto?

    public init(
        id: String, sevDevice: String? = nil, cbitpos: UInt32? = nil, reducedPhysBits: UInt32? = nil,
        kernelHashes: Bool? = nil, dhCertFile: String? = nil, sessionFile: String? = nil,
        policy: SEVPolicy? = nil, handle: UInt32? = nil, legacyVMType: OnOffAuto? = nil
    ) {
        self.id = id
        self.sevDevice = sevDevice
        self.cbitpos = cbitpos
        self.reducedPhysBits = reducedPhysBits
        self.kernelHashes = kernelHashes
        self.dhCertFile = dhCertFile
        self.sessionFile = sessionFile
        self.policy = policy
        self.handle = handle
        self.legacyVMType = legacyVMType
    }

    /// The policy the guest launches with: `policy` or QEMU's default (0x1).
    public var effectivePolicy: SEVPolicy { policy ?? .qemuDefault }
    /// SEV-ES is selected by policy bit 2.
    public var isSevES: Bool { effectivePolicy.contains(.encryptedState) }

    public init(id: String, reading r: inout PropertyReader) {
        self.init(id: id)
        (sevDevice, cbitpos, reducedPhysBits, kernelHashes) = SevCommon.read(&r)
        dhCertFile = r.string("dh-cert-file")
        sessionFile = r.string("session-file")
        policy = r.uint32("policy").map(SEVPolicy.init(rawValue:))
        handle = r.uint32("handle")
        legacyVMType = r.enumeration("legacy-vm-type", as: OnOffAuto.self)
    }

    public var properties: JSONObject {
        var p = SevCommon.properties(sevDevice, cbitpos, reducedPhysBits, kernelHashes)
        p["dh-cert-file"] = dhCertFile.map { JSON($0) }
        p["session-file"] = sessionFile.map { JSON($0) }
        p["policy"] = policy.map { JSON($0.rawValue) }
        p["handle"] = handle.map { JSON($0) }
        p["legacy-vm-type"] = legacyVMType.map { JSON($0.rawValue) }
        return p
    }

    public func validate(facts: FirmwareFacts) -> [Problem] {
        var problems = SevCommon.validate(id: id, reducedPhysBits: reducedPhysBits, kernelHashes: kernelHashes, facts: facts)
        if !effectivePolicy.contains(.noDebug) {
            problems.append(Problem(.warning, object: id, property: "policy",
                "\(effectivePolicy): NODBG (bit 0) is clear, so the host may debug (read) guest memory"))
        }
        return problems
    }
}

/// The properties `sev-guest` and `sev-snp-guest` share (QAPI `SevCommonProperties`).
enum SevCommon {
    static func read(_ r: inout PropertyReader) -> (String?, UInt32?, UInt32?, Bool?) {
        (r.string("sev-device"), r.uint32("cbitpos"), r.uint32("reduced-phys-bits"), r.bool("kernel-hashes"))
    }

    static func properties(_ sevDevice: String?, _ cbitpos: UInt32?, _ reducedPhysBits: UInt32?, _ kernelHashes: Bool?) -> JSONObject {
        var p = JSONObject()
        p["sev-device"] = sevDevice.map { JSON($0) }
        p["cbitpos"] = cbitpos.map { JSON($0) }
        p["reduced-phys-bits"] = reducedPhysBits.map { JSON($0) }
        p["kernel-hashes"] = kernelHashes.map { JSON($0) }
        return p
    }

    static func validate(id: String, reducedPhysBits: UInt32?, kernelHashes: Bool?, facts: FirmwareFacts) -> [Problem] {
        var problems: [Problem] = []
        if reducedPhysBits == nil {
            problems.append(Problem(.qemu, object: id, property: "reduced-phys-bits",
                "missing: QEMU requires it (mandatory in QAPI SevCommonProperties)"))
        }
        if kernelHashes == true, facts.directKernel == false {
            problems.append(Problem(.warning, object: id, property: "kernel-hashes",
                "on, but no kernel is booted directly (-kernel): there is nothing to hash"))
        }
        return problems
    }
}
