import Numerals

/// The checks on one `sev-snp-guest`: what QEMU's setters refuse (`.qemu`), what KVM or the SNP
/// firmware refuse at SNP_LAUNCH_START / SNP_LAUNCH_FINISH (`.launch`), and warnings.
struct SevSnpGuestRules {
    let guest: SevSnpGuest
    let facts: FirmwareFacts

    /// ID block field offsets (AMD SEV-SNP Firmware ABI specification, publication 56860, §8.18
    /// SNP_LAUNCH_FINISH, "ID Block"; QEMU's `struct sev_id_block` in `backends/igvm.c`).
    static let idBlockVersionOffset = 0x50
    static let idBlockPolicyOffset = 0x58
    static let idAuthFullSize = 4096

    func problems() -> [Problem] {
        let id = guest.id
        var problems = SevCommon.validate(id: id, reducedPhysBits: guest.reducedPhysBits,
                                          kernelHashes: guest.kernelHashes, facts: facts)
        func blob(_ name: String, _ value: Base64Blob?, rule: Base64Blob.LengthRule) -> [UInt8]? {
            guard let value else { return nil }
            // The property's rule decides, whatever rule a hand-built blob carries.
            switch Base64Blob(text: value.text, length: rule).decoded() {
            case .success(let bytes):
                if let odd = QEMUBase64.nonCanonical(value.text, decoded: bytes) {
                    problems.append(Problem(.launch, object: id, property: name, odd))
                }
                return bytes
            case .failure(let p):
                problems.append(Problem(.qemu, object: id, property: name, p.description))
                return nil
            }
        }
        _ = blob("guest-visible-workarounds", guest.guestVisibleWorkarounds, rule: SevSnpGuest.guestVisibleWorkaroundsLength)
        let idBlock = blob("id-block", guest.idBlock, rule: SevSnpGuest.idBlockLength)
        let idAuth = blob("id-auth", guest.idAuth, rule: SevSnpGuest.idAuthLength)
        _ = blob("host-data", guest.hostData, rule: SevSnpGuest.hostDataLength)

        let policy = guest.effectivePolicy
        problems += policyProblems(policy)

        if let idBlock {
            let version = idBlock.loadLE(UInt32.self, at: Self.idBlockVersionOffset)
            if version != 1 {
                problems.append(Problem(.launch, object: id, property: "id-block",
                    "VERSION (offset 0x50) is \(version), the firmware accepts only 1"))
            }
            let blockPolicy = idBlock.loadLE(UInt64.self, at: Self.idBlockPolicyOffset)
            if blockPolicy != policy.rawValue {
                problems.append(Problem(.launch, object: id, property: "id-block",
                    "POLICY (offset 0x58) is \(hex(blockPolicy, uppercase: false)) but the guest policy is \(policy): the firmware rejects the launch"))
            }
        }
        if let idAuth, idAuth.count < Self.idAuthFullSize {
            problems.append(Problem(.launch, object: id, property: "id-auth",
                "decodes to \(idAuth.count) bytes: QEMU accepts up to 4096, but the firmware reads a full 4096-byte ID authentication structure"))
        }
        if guest.idBlock != nil, guest.idAuth == nil {
            problems.append(Problem(.launch, object: id, property: "id-block",
                "set without id-auth: the firmware needs the ID authentication structure that signs the ID block"))
        }
        if guest.idAuth != nil, guest.idBlock == nil {
            problems.append(Problem(.launch, object: id, property: "id-auth",
                "set without id-block: there is no ID block for it to authenticate"))
        }
        if guest.authorKeyEnabled == true, guest.idAuth == nil {
            problems.append(Problem(.launch, object: id, property: "author-key-enabled",
                "on without id-auth: the author key lives in the ID authentication structure"))
        }
        return problems
    }

    func policyProblems(_ policy: SNPPolicy) -> [Problem] {
        let id = guest.id
        var problems: [Problem] = []
        if !policy.contains(.reservedMustBeOne) {
            problems.append(Problem(.launch, object: id, property: "policy",
                "\(policy): bit 17 is reserved and must be 1 (SNP_LAUNCH_START fails)"))
        }
        let high = policy.reservedBitsSet
        if high != 0 {
            problems.append(Problem(.launch, object: id, property: "policy",
                "\(policy): bits 63:26 must be zero (set: \(hex(high, uppercase: false)))"))
        }
        if policy.contains(.migrateMA) {
            problems.append(Problem(.launch, object: id, property: "policy",
                "\(policy): MIGRATE_MA (bit 18) is set, which KVM rejects"))
        }
        if policy.contains(.debug) {
            problems.append(Problem(.warning, object: id, property: "policy",
                "\(policy): DEBUG (bit 19) is set, so the host may debug (read) guest memory"))
        }
        return problems
    }
}
