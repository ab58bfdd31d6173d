import Attestation
import IGVM
import JSON
import Measure
import SNPReport

/// Every field of an attestation report, decoded, for `attest show` and `attest verify --json`:
/// one ordered list so that the text and the JSON forms cannot drift apart.
struct ReportPresentation {
    let report: AttestationReport
    /// The product the TCB fields were decoded for, and how it was chosen.
    let product: AMDProduct?
    let productSource: String

    /// Name, JSON value, text value.
    var fields: [(name: String, json: JSON, text: String)] {
        let r = report
        var out: [(String, JSON, String)] = []
        func add(_ name: String, _ json: JSON, _ text: String? = nil) { out.append((name, json, text ?? json.stringValue ?? "\(json)")) }
        func bytes(_ name: String, _ value: [UInt8]) { add(name, .string(Hex.encode(value))) }
        func number(_ name: String, _ value: UInt64) { add(name, .unsigned(value), String(value)) }

        number("version", UInt64(r.version))
        number("guest-svn", UInt64(r.guestSVN))
        add("policy", .object(["value": .string(hex64(r.policy.rawValue)), "abi": .string("\(r.policy.abiMajor).\(r.policy.abiMinor)"),
                               "bits": .array(r.policy.setBitNames.map(JSON.string))]),
            "\(hex64(r.policy.rawValue)) abi \(r.policy.abiMajor).\(r.policy.abiMinor) [\(r.policy.setBitNames.joined(separator: ", "))]")
        bytes("family-id", r.familyID)
        bytes("image-id", r.imageID)
        number("vmpl", UInt64(r.vmpl))
        add("signature-algorithm", .unsigned(UInt64(r.signatureAlgorithm)),
            "\(r.signatureAlgorithm)\(r.signatureAlgorithm == AttestationReport.ecdsaP384SHA384 ? " (ECDSA P-384 with SHA-384)" : " (unknown)")")
        tcb("current-tcb", r.currentTCB, &out)
        add("platform-info", .object(["value": .string(hex64(r.platformInfo.rawValue)), "bits": .array(r.platformInfo.setBitNames.map(JSON.string))]),
            "\(hex64(r.platformInfo.rawValue)) [\(r.platformInfo.setBitNames.joined(separator: ", "))]")
        add("key-info", .object([
            "value": .string(hex64(UInt64(r.keyInfo.rawValue))), "author-key-enabled": .bool(r.keyInfo.authorKeyEnabled),
            "mask-chip-key": .bool(r.keyInfo.maskChipKey), "signing-key": .string(r.keyInfo.signingKey.description),
        ]), "signing key \(r.keyInfo.signingKey), author key \(r.keyInfo.authorKeyEnabled ? "enabled" : "disabled"), chip key \(r.keyInfo.maskChipKey ? "masked" : "not masked")")
        bytes("report-data", r.reportData)
        bytes("measurement", r.measurement)
        bytes("host-data", r.hostData)
        bytes("id-key-digest", r.idKeyDigest)
        bytes("author-key-digest", r.authorKeyDigest)
        bytes("report-id", r.reportID)
        bytes("report-id-ma", r.reportIDMigrationAgent)
        tcb("reported-tcb", r.reportedTCB, &out)
        if let cpuid = r.cpuid {
            add("cpuid", .object(["family": .unsigned(UInt64(cpuid.family)), "model": .unsigned(UInt64(cpuid.model)),
                                  "stepping": .unsigned(UInt64(cpuid.stepping)), "product": cpuid.product.map { .string($0.rawValue) } ?? .null]),
                "\(cpuid)\(cpuid.product.map { " (\($0.kdsName))" } ?? "")")
        } else {
            add("cpuid", .null, "- (report version 2 has none)")
        }
        bytes("chip-id", r.chipID)
        tcb("committed-tcb", r.committedTCB, &out)
        add("current-version", .string(r.currentVersion.description))
        add("committed-version", .string(r.committedVersion.description))
        tcb("launch-tcb", r.launchTCB, &out)
        if let launch = r.launchMitigationVector, let current = r.currentMitigationVector {
            add("launch-mit-vector", .string(hex64(launch)))
            add("current-mit-vector", .string(hex64(current)))
        }
        let signature = Array(r.signatureField)
        add("signature", .object(["r": .string(Hex.encode(signature[0..<72])), "s": .string(Hex.encode(signature[72..<144]))]),
            "r \(Hex.encode(signature[0..<72])) s \(Hex.encode(signature[72..<144])) (72 bytes each, little-endian)")
        return out
    }

    private func tcb(_ name: String, _ tcb: TCBVersion, _ out: inout [(String, JSON, String)]) {
        var o: JSONObject = ["value": .string(hex64(tcb.rawValue)), "layout": .string(tcb.layout.rawValue)]
        for part in tcb.parts { o[part.name] = .unsigned(UInt64(part.value)) }
        out.append((name, .object(o), tcb.description))
    }

    var json: JSON {
        var o: JSONObject = [:]
        o["tcb-product"] = product.map { .string($0.rawValue) } ?? .null
        for field in fields { o[field.name] = field.json }
        return .object(o)
    }

    /// Aligned `name: value` lines, then `extra` rows in the same columns.
    func printText(extra: [(name: String, text: String)] = []) {
        let rows = fields.map { ($0.name, $0.text) } + [("tcb-layout", "\(report.tcbLayout.rawValue) (\(productSource))")] + extra.map { ($0.name, $0.text) }
        let width = rows.map(\.0.count).max() ?? 0
        for (name, text) in rows {
            Output.line(name + ":" + String(repeating: " ", count: width - name.count + 2) + text)
        }
    }
}

func hex64(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
