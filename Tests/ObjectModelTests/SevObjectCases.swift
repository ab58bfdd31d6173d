import JSON
import ObjectModel
import Testing

/// One `sev-snp-guest` / `sev-guest` `object-add` (QMP JSON arguments, `id` added per run) and
/// whether QEMU accepts it.
struct SevObjectCase: Sendable, CustomTestStringConvertible {
    var label: String
    var arguments: JSONObject
    var qemuAccepts: Bool
    /// Why (the QEMU line or rule that decides).
    var because: String

    var testDescription: String { "\(label) → \(qemuAccepts ? "accepted" : "rejected") [\(because)]" }

    /// The arguments with an id (unless the case sets its own).
    func arguments(id: String) -> JSONObject {
        var args = arguments
        if args["id"] == nil { args["id"] = .string(id) }
        // Keep qom-type first for readability of failures.
        return JSONObject([("qom-type", args["qom-type"]!)] + args.pairs.filter { $0.key != "qom-type" }.map { ($0.key, $0.value) })
    }
}

enum SevObjectTable {
    static let qapiMandatory = "qapi/qom.json SevCommonProperties: 'reduced-phys-bits': 'uint32' (no '*': mandatory)"
    static let uint32Range = "qapi/qapi-visit-core.c visit_type_uintN: `if (value > max)` → \"Parameter … expects uint32_t\""
    static let uint64Wrap = "qobject/qobject-input-visitor.c qobject_input_type_uint64: falls back to qnum_get_try_int, so -1 is stored as 2^64-1"
    static let notInteger = "qobject_input_type_uint64: a QNum that is a double is neither uint64 nor int64 → \"expects uint64\""
    static let wrongType = "qobject-input-visitor: the QObject has the wrong type → \"Invalid parameter type for …\""
    static let unexpected = "qapi visit_check_struct: a member the struct lacks → \"Parameter … is unexpected\""
    static let idRule = "util/id.c id_wellformed: a letter first, then letters, digits, '-', '.', '_'"
    static let noCheck = "the setter stores the value without checking it"
    static let launchOnly = "QEMU does not check the SNP policy; KVM/the firmware do at SNP_LAUNCH_START"
    static let enumValues = "qapi OnOffAuto: only 'on', 'off', 'auto'"

    static func snp(_ label: String, _ extra: JSONObject, _ accepts: Bool, _ because: String, withReducedPhysBits: Bool = true) -> SevObjectCase {
        var args: JSONObject = ["qom-type": "sev-snp-guest"]
        if withReducedPhysBits { args["reduced-phys-bits"] = 1 }
        for (k, v) in extra.pairs { args[k] = v }
        return SevObjectCase(label: "sev-snp-guest " + label, arguments: args, qemuAccepts: accepts, because: because)
    }

    static func sev(_ label: String, _ extra: JSONObject, _ accepts: Bool, _ because: String, withReducedPhysBits: Bool = true) -> SevObjectCase {
        var args: JSONObject = ["qom-type": "sev-guest"]
        if withReducedPhysBits { args["reduced-phys-bits"] = 1 }
        for (k, v) in extra.pairs { args[k] = v }
        return SevObjectCase(label: "sev-guest " + label, arguments: args, qemuAccepts: accepts, because: because)
    }

    /// Every base64 table row as an sev-snp-guest case.
    static let base64Cases: [SevObjectCase] = Base64Table.cases.map {
        snp("\($0.property) \($0.label)", [$0.property: .string($0.text)], $0.accepted, $0.decidedBy)
    }

    static let snpCases: [SevObjectCase] = [
        snp("minimal", [:], true, "only reduced-phys-bits is mandatory"),
        snp("without reduced-phys-bits", [:], false, qapiMandatory, withReducedPhysBits: false),
        snp("every property", [
            "sev-device": "/dev/sev", "cbitpos": 51, "kernel-hashes": true, "policy": 0x30000,
            "guest-visible-workarounds": .string(Base64Table.encoded(16)), "id-block": .string(Base64Table.encoded(96)),
            "id-auth": .string(Base64Table.encoded(4096)), "author-key-enabled": true,
            "host-data": .string(Base64Table.encoded(32)), "vcek-disabled": true,
        ], true, "all values in range and all blobs the right length"),
        snp("policy -1", ["policy": -1], true, uint64Wrap),
        snp("policy 2^64-1", ["policy": JSON(UInt64.max)], true, "uint64 accepts its whole range"),
        snp("policy 1.5", ["policy": 1.5], false, notInteger),
        snp("policy as a string", ["policy": "0x30000"], false, wrongType),
        snp("policy bit 17 clear", ["policy": 0x10000], true, launchOnly),
        snp("policy MIGRATE_MA and DEBUG", ["policy": 0xE0000], true, launchOnly),
        snp("cbitpos 2^32", ["cbitpos": 4_294_967_296], false, uint32Range),
        snp("cbitpos -1", ["cbitpos": -1], false, uint32Range + " (-1 wraps to 2^64-1 first)"),
        snp("reduced-phys-bits 2^32-1", ["reduced-phys-bits": 4_294_967_295], true, "uint32 accepts its whole range"),
        snp("kernel-hashes as a string", ["kernel-hashes": "on"], false, wrongType),
        snp("author-key-enabled as an integer", ["author-key-enabled": 1], false, wrongType),
        snp("vcek-required (a posted patch's name, never released)", ["vcek-required": true], false, unexpected),
        snp("unknown property", ["foo": "bar"], false, unexpected),
        snp("sev-guest's handle", ["handle": 1], false, unexpected),
        snp("id starting with a digit", ["id": "1sev"], false, idRule),
        snp("id with '.', '-', '_'", ["id": "sev.a-b_c"], true, idRule),
        snp("non-ASCII id", ["id": "sévère"], false, idRule),
        snp("empty id", ["id": ""], false, idRule),
        snp("sev-device with , = newline", ["sev-device": "a,b=c\nd,,e}"], true, noCheck),
        snp("id-block VERSION 2 (launch error only)", ["id-block": .string(QEMUBase64.encode(idBlock(version: 2, policy: 0x30000))),
                                                      "id-auth": .string(Base64Table.encoded(4096))], true, "QEMU checks only the decoded length"),
        snp("author-key-enabled without id-auth", ["author-key-enabled": true], true, noCheck),
    ]

    static let sevCases: [SevObjectCase] = [
        sev("minimal", [:], true, "only reduced-phys-bits is mandatory"),
        sev("without reduced-phys-bits", [:], false, qapiMandatory, withReducedPhysBits: false),
        sev("SEV-ES policy 0x5", ["policy": 5], true, "policy bit 2 selects SEV-ES; not checked by QEMU"),
        sev("policy 2^32-1", ["policy": 4_294_967_295], true, "uint32 accepts its whole range"),
        sev("policy 2^32", ["policy": 4_294_967_296], false, uint32Range),
        sev("policy -1", ["policy": -1], false, uint32Range + " (-1 wraps to 2^64-1 first)"),
        sev("handle 7", ["handle": 7], true, "uint32"),
        sev("handle -1", ["handle": -1], false, uint32Range),
        sev("legacy-vm-type on", ["legacy-vm-type": "on"], true, enumValues),
        sev("legacy-vm-type auto", ["legacy-vm-type": "auto"], true, enumValues),
        sev("legacy-vm-type true", ["legacy-vm-type": true], false, wrongType),
        sev("legacy-vm-type yes", ["legacy-vm-type": "yes"], false, enumValues),
        sev("dh-cert-file missing on disk", ["dh-cert-file": "/nonexistent/cert.b64"], true, "the file is read at launch, not by the setter"),
        sev("session-file with , and =", ["session-file": "/tmp/a,b=c"], true, noCheck),
        sev("sev-snp-guest's id-block", ["id-block": .string(Base64Table.encoded(96))], false, unexpected),
        sev("kernel-hashes", ["kernel-hashes": true], true, "bool"),
        sev("cbitpos 51 and sev-device", ["cbitpos": 51, "sev-device": "/dev/sev"], true, "uint32, str"),
    ]

    static let all: [SevObjectCase] = base64Cases + snpCases + sevCases

    /// A 96-byte ID block with VERSION and POLICY set (SNP firmware ABI layout, publication 56860,
    /// §8.18; docs/background.md, "ID block and ID authentication information").
    static func idBlock(version: UInt32, policy: UInt64) -> [UInt8] {
        var block = [UInt8](repeating: 0xAB, count: 96)
        for i in 0..<4 { block[0x50 + i] = UInt8(truncatingIfNeeded: version >> (8 * i)) }
        for i in 0..<8 { block[0x58 + i] = UInt8(truncatingIfNeeded: policy >> (8 * i)) }
        return block
    }

    /// What the model says QEMU does with these arguments: no `.qemu` problem when reading them
    /// and validating the object.
    static func modelAccepts(_ arguments: JSONObject) -> (Bool, [Problem]) {
        let (object, problems) = QOMObject.read(arguments.pairs.map { ($0.key, PropertyInput.json($0.value)) })
        let all = problems + (object?.validate() ?? [])
        let qemu = all.filter { $0.level == .qemu }
        return (qemu.isEmpty, qemu)
    }
}
