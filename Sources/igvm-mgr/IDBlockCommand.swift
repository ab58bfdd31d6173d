import ArgumentParser
import IGVM
import JSON
import Launch
import Measure
import FileAccess

/// `igvm-mgr id-block`: sign an SEV-SNP ID block for a launch digest.
struct IDBlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id-block",
        abstract: "Build and sign an SEV-SNP ID block and ID auth for a launch digest.",
        discussion: """
            Prints the base64 values of sev-snp-guest's id-block and id-auth properties, and the \
            ID_KEY_DIGEST / AUTHOR_KEY_DIGEST an attestation report of the launch will carry. \
            Keys are PEM ECDSA P-384 private keys (SEC1 or PKCS#8); signatures are ECDSA \
            P-384 with SHA-384, stored little-endian as the SNP ABI requires. The policy must be \
            the policy the guest is launched with (sev-snp-guest's policy property).
            """)

    @Option(name: .customLong("digest"), help: "Expected launch digest: 96 hex digits (or 64 base64 characters).")
    var digest: String?

    @Option(name: .customLong("config"), help: "A VM definition: its launch digest and policy (as `measure CONFIG`).")
    var config: String?

    @Option(name: .customLong("id-key"), help: "PEM file with the ID key (ECDSA P-384 private key).")
    var idKey: String?

    @Option(name: .customLong("author-key"), help: "PEM file with the author key; sets author-key-enabled.")
    var authorKey: String?

    @Option(name: .customLong("family-id"), help: "FAMILY_ID: 16 bytes as 32 hex digits (dashes allowed). Default zeros.")
    var familyID: String?

    @Option(name: .customLong("image-id"), help: "IMAGE_ID: 16 bytes as 32 hex digits (dashes allowed). Default zeros.")
    var imageID: String?

    @Option(name: .customLong("svn"), help: "GUEST_SVN (default 0).")
    var svn: UInt32 = 0

    @Option(name: .customLong("policy"), help: "SNP guest policy, 0x… or decimal (default 0x30000, or the definition's).")
    var policy: String?

    @Flag(name: .customLong("toml"), help: "Print a [confidential] snippet for a VM definition.")
    var toml = false

    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingFailures {
            let request = try makeRequest()
            let builder = try IDBlockBuilder(
                idKeyPEM: request.idKeyPEM, authorKeyPEM: request.authorKeyPEM)
            let signed = try builder.sign(request.block)
            print(signed)
        }
    }

    private struct Request {
        var block: IDBlock
        var idKeyPEM: String
        var authorKeyPEM: String?
    }

    private func makeRequest() throws -> Request {
        if digest != nil && config != nil { throw CommandLineFailure.usage("give --digest or --config, not both") }
        guard digest != nil || config != nil else { throw CommandLineFailure.usage("missing --digest HEX (or --config CONFIG)") }
        guard let idKey else { throw CommandLineFailure.usage("missing --id-key ID.pem") }
        var policyValue = IDBlock.defaultPolicy
        if let policy {
            guard let value = parseUInt64(policy) else {
                throw CommandLineFailure.usage("--policy: expected a 64-bit number (0x… or decimal), got '\(policy)'")
            }
            policyValue = value
        }
        let ld: [UInt8]
        if let digest {
            guard let bytes = Hex.decode(digest) ?? Base64.decode(digest), bytes.count == 48 else {
                throw CommandLineFailure.usage("--digest: expected a 48-byte launch digest (96 hex digits), got '\(digest)'")
            }
            ld = bytes
        } else {
            let m = try MeasureCommand.measure(definition: config!)
            guard m.mode == .snp else {
                throw CommandLineFailure.failure("\(config!): ID blocks exist for SEV-SNP guests only (this one is \(m.mode.rawValue))")
            }
            if policy != nil && policyValue != m.policy {
                throw CommandLineFailure.usage(
                    "--policy \(policy!) differs from the definition's policy 0x\(String(m.policy, radix: 16)); the firmware requires them equal")
            }
            policyValue = m.policy
            ld = m.digest.bytes
        }
        if let problem = SNPPolicy(policyValue).violations.first {
            throw CommandLineFailure.usage("--policy 0x\(String(policyValue, radix: 16)): \(problem)")
        }
        let block = IDBlock(
            launchDigest: ld, familyID: try sixteenBytes(familyID, option: "--family-id"),
            imageID: try sixteenBytes(imageID, option: "--image-id"), guestSVN: svn, policy: policyValue)
        return Request(
            block: block, idKeyPEM: try readText(idKey, option: "--id-key"),
            authorKeyPEM: try authorKey.map { try readText($0, option: "--author-key") })
    }

    private func sixteenBytes(_ text: String?, option: String) throws -> [UInt8] {
        guard let text else { return [UInt8](repeating: 0, count: 16) }
        guard let bytes = Hex.decode(text.filter { $0 != "-" }), bytes.count == 16 else {
            throw CommandLineFailure.usage("\(option): expected 16 bytes as 32 hex digits, got '\(text)'")
        }
        return bytes
    }

    private func readText(_ path: String, option: String) throws -> String {
        do {
            return String(decoding: try FileContents.read(path, limit: InputFile.Limit.text), as: UTF8.self)
        } catch {
            throw CommandLineFailure.usage("\(option): \(error.description)")
        }
    }

    private func print(_ signed: SignedIDBlock) {
        let idDigest = Hex.encode(signed.idKeyDigest)
        let authorDigest = signed.authorKeyDigest.map { Hex.encode($0) }
        let policyText = "0x" + String(signed.idBlock.policy, radix: 16)
        if output.json {
            var object: JSONObject = [
                "id-block": .string(signed.idBlockBase64),
                "id-auth": .string(signed.idAuthBase64),
                "author-key-enabled": .bool(signed.authorKeyEnabled),
                "policy": .string(policyText),
                "launch-digest": .string(Hex.encode(signed.idBlock.launchDigest)),
                "id-key-digest": .string(idDigest),
            ]
            object["author-key-digest"] = authorDigest.map { .string($0) } ?? .null
            Output.json(.object(object))
        } else if toml {
            Output.line("# launch digest \(Hex.encode(signed.idBlock.launchDigest))")
            Output.line("# ID_KEY_DIGEST \(idDigest)")
            if let authorDigest { Output.line("# AUTHOR_KEY_DIGEST \(authorDigest)") }
            Output.line("[confidential]")
            Output.line("policy = \"\(policyText)\"")
            Output.line("id-block = \"\(signed.idBlockBase64)\"")
            Output.line("id-auth = \"\(signed.idAuthBase64)\"")
            Output.line("author-key-enabled = \(signed.authorKeyEnabled)")
        } else {
            Output.line("id-block: \(signed.idBlockBase64)")
            Output.line("id-auth: \(signed.idAuthBase64)")
            Output.line("author-key-enabled: \(signed.authorKeyEnabled)")
            Output.line("id-key-digest: \(idDigest)")
            if let authorDigest { Output.line("author-key-digest: \(authorDigest)") }
        }
    }
}
