import Foundation
import JSON
import Testing
import TestSupport

/// `attest verify --config`: the expectations come from what igvm-mgr would launch. SEV-SNP
/// cannot launch on this host, so the report is assembled here and signed by a TEST KEY standing
/// in for a VCEK, under a TEST chain (ARK-Milan / SEV-Milan look-alikes made by Python
/// `cryptography`, RSA-PSS SHA-384 like AMD's). Nothing of it is AMD's: the chain and signature
/// paths are shown on real AMD data in AttestationTests; this test shows the launch's values.
@Suite(.enabled(if: PythonCryptography.tool.testsRun, Comment(rawValue: PythonCryptography.tool.skipReason)))
struct AttestConfigCLITests {
    static let amdSev = MeasureConfigTests.amdSev
    static let virtee = TestPaths.fixtures.appendingPathComponent("virtee-sev")

    /// `chain DIR CHIPHEX BL TEE SNP UCODE`: a TEST ARK, ASK and VCEK (with AMD's extension
    /// OIDs) and the VCEK's private key. `sign KEY FILE`: signs bytes 0x000-0x29F of FILE in
    /// place, R and S as 72-byte little-endian integers at 0x2A0 and 0x2E8.
    static let script = #"""
    import sys, datetime
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa, padding, utils

    PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "igvm-mgr TEST, not AMD"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(subject, issuer, key, signer, extensions=()):
        now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
             .public_key(key.public_key()).serial_number(1)
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365 * 20)))
        for oid, value in extensions:
            b = b.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False)
        return b.sign(signer, hashes.SHA384(), rsa_padding=PSS)

    def integer(v):
        body = v.to_bytes(1, "big") if v < 128 else b"\x00" + v.to_bytes(1, "big")
        return b"\x02" + bytes([len(body)]) + body

    if sys.argv[1] == "chain":
        out, chip = sys.argv[2], bytes.fromhex(sys.argv[3])
        bl, tee, snp, ucode = (int(v) for v in sys.argv[4:8])
        ark_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ask_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        vcek_key = ec.generate_private_key(ec.SECP384R1())
        arc = "1.3.6.1.4.1.3704.1."
        ext = [(arc + "3.1", integer(bl)), (arc + "3.2", integer(tee)), (arc + "3.3", integer(snp)),
               (arc + "3.8", integer(ucode)), (arc + "4", b"\x04\x40" + chip)]
        certs = {"ark.pem": cert("ARK-Milan", "ARK-Milan", ark_key, ark_key),
                 "ask.pem": cert("SEV-Milan", "ARK-Milan", ask_key, ark_key)}
        for file, c in certs.items():
            open(out + "/" + file, "wb").write(c.public_bytes(serialization.Encoding.PEM))
        open(out + "/vcek.der", "wb").write(cert("SEV-VCEK", "SEV-Milan", vcek_key, ask_key, ext).public_bytes(serialization.Encoding.DER))
        open(out + "/vcek_key.pem", "wb").write(vcek_key.private_bytes(serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    else:
        key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
        data = bytearray(open(sys.argv[3], "rb").read())
        r, s = utils.decode_dss_signature(key.sign(bytes(data[:0x2A0]), ec.ECDSA(hashes.SHA384())))
        data[0x2A0:0x2E8] = r.to_bytes(72, "little")
        data[0x2E8:0x330] = s.to_bytes(72, "little")
        open(sys.argv[3], "wb").write(data)
    """#

    /// The digest of this definition, as MeasureConfigTests has it from sev-snp-measure's rules
    /// (AmdSev OVMF, 4 vCPUs EPYC-v4, kernel hashes of /dev/null with an empty command line).
    static let digest = "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5"
    static let hostData = [UInt8](0..<32)
    static let chipID = [UInt8](repeating: 0x5C, count: 64)

    /// MeasureConfigTests' definition with host-data (and `extra`: the ID block) added.
    static func definition(extra: String) -> String {
        MeasureConfigTests.snpDefinition(
            firmware: "[firmware]\nbios = \"\(amdSev)\"",
            extra: "kernel-hashes = true\nhost-data = \"\(Data(hostData).base64EncodedString())\"\n\(extra)",
            tail: "[kernel]\nkernel = \"\(EmptyFile.path)\"\ninitrd = \"\(EmptyFile.path)\"\nappend = \"\"")
    }

    /// An SNP report as the firmware would write it for this launch (version 2, VCEK-signed,
    /// REPORTED_TCB bl 3 / tee 0 / snp 8 / ucode 115), unsigned.
    static func report(measurement: [UInt8], idKeyDigest: [UInt8], authorKeyDigest: [UInt8], nonce: [UInt8]) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 1184)
        func put(_ offset: Int, _ value: [UInt8]) { b.replaceSubrange(offset..<offset + value.count, with: value) }
        let tcb: [UInt8] = [3, 0, 0, 0, 0, 0, 8, 115]
        put(0x00, [2, 0, 0, 0]); put(0x08, [0, 0, 3, 0, 0, 0, 0, 0]); put(0x34, [1, 0, 0, 0]); put(0x38, tcb)
        put(0x48, [1, 0, 0, 0])  // AUTHOR_KEY_EN, SIGNING_KEY 0 (VCEK)
        put(0x50, nonce); put(0x90, measurement); put(0xC0, hostData); put(0xE0, idKeyDigest); put(0x110, authorKeyDigest)
        put(0x180, tcb); put(0x1A0, chipID); put(0x1E0, tcb); put(0x1F0, tcb)
        return b
    }

    static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = text.startIndex
        while i < text.endIndex {
            let j = text.index(i, offsetBy: 2)
            out.append(UInt8(text[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    @Test("--config: a report carrying the definition's digest, policy, host-data and ID/author key digests verifies; one bit of MEASUREMENT flipped fails the measurement check alone, naming both values")
    func configExpectations() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try PythonCryptography.run(Self.script, ["chain", dir.path, Self.chipID.map { String(format: "%02x", $0) }.joined(), "3", "0", "8", "115"])
        try #require(made.status == 0, "\(made.stderr)")

        // The ID block of this launch, signed with virtee's test keys, goes into the definition.
        let plain = dir.appendingPathComponent("plain.toml")
        try Self.definition(extra: "").write(to: plain, atomically: true, encoding: .utf8)
        let idBlock = try IGVMManagerBinary.run([
            "id-block", "--config", plain.path, "--id-key", Self.virtee.appendingPathComponent("test_id_key.pem").path,
            "--author-key", Self.virtee.appendingPathComponent("test_auth_key.pem").path, "--json"])
        try #require(idBlock.status == 0, "\(idBlock.stderr)")
        let ids = try JSON.decode(idBlock.stdout)
        #expect(ids["launch-digest"]?.stringValue == Self.digest)
        let config = dir.appendingPathComponent("vm.toml")
        try Self.definition(extra: """
            id-block = "\(ids["id-block"]!.stringValue!)"
            id-auth = "\(ids["id-auth"]!.stringValue!)"
            author-key-enabled = true
            """).write(to: config, atomically: true, encoding: .utf8)

        let nonce = [UInt8](repeating: 0xAB, count: 32)
        let idKeyDigest = Self.hex(ids["id-key-digest"]!.stringValue!), authorKeyDigest = Self.hex(ids["author-key-digest"]!.stringValue!)
        func signedReport(_ name: String, measurement: [UInt8]) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try Data(Self.report(measurement: measurement, idKeyDigest: idKeyDigest, authorKeyDigest: authorKeyDigest, nonce: nonce + [UInt8](repeating: 0, count: 32)))
                .write(to: URL(fileURLWithPath: path))
            let signed = try PythonCryptography.run(Self.script, ["sign", dir.appendingPathComponent("vcek_key.pem").path, path])
            try #require(signed.status == 0, "\(signed.stderr)")
            return path
        }
        let verify = ["attest", "verify", "--vcek", dir.appendingPathComponent("vcek.der").path,
                      "--ark", dir.appendingPathComponent("ark.pem").path, "--ask", dir.appendingPathComponent("ask.pem").path,
                      "--config", config.path, "--report-data", nonce.map { String(format: "%02x", $0) }.joined()]

        let good = try IGVMManagerBinary.run(verify + [try signedReport("good.bin", measurement: Self.hex(Self.digest)), "--json"])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        let json = try JSON.decode(good.stdout)
        #expect(json["verified"]?.boolValue == true)
        let checks = Dictionary(uniqueKeysWithValues: (json["checks"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0) })
        #expect(checks["measurement"]?["actual"]?.stringValue == Self.digest)
        #expect(checks["host-data"]?["expected"]?.stringValue == Self.hostData.map { String(format: "%02x", $0) }.joined())
        #expect(checks["policy"]?["expected"]?.stringValue == "0x30000 (smt, reserved-must-be-one)")
        #expect(checks["id-key-digest"]?["expected"]?.stringValue == ids["id-key-digest"]?.stringValue)
        #expect(checks["author-key-digest"]?["expected"]?.stringValue == ids["author-key-digest"]?.stringValue)
        #expect(checks["report-data"]?["ok"]?.boolValue == true)
        #expect(checks["report-signature"]?["ok"]?.boolValue == true)
        #expect(checks["ark"]?["actual"]?.stringValue == "ARK-Milan, self-signed, NOT the built-in one (given by file)")

        var flipped = Self.hex(Self.digest)
        flipped[47] ^= 0x01
        let flippedHex = flipped.map { String(format: "%02x", $0) }.joined()
        let bad = try IGVMManagerBinary.run(verify + [try signedReport("flipped.bin", measurement: flipped)])
        #expect(bad.status == 1)
        let failed = bad.stdout.split(separator: "\n").filter { $0.hasPrefix("✘") }
        #expect(failed == ["✘ measurement: expected \(Self.digest), got \(flippedHex)"], "\(bad.stdout)")
    }

    @Test("--config of a guest with no launch digest, and of a missing file: one line, exit 1 and 2")
    func configErrors() throws {
        let report = TestPaths.fixtures.appendingPathComponent("sev-snp-attestation/report_milan.bin").path
        let vcek = TestPaths.fixtures.appendingPathComponent("sev-snp-attestation/vcek_milan.der").path
        let plain = try IGVMManagerBinary.run(["attest", "verify", report, "--vcek", vcek, "--config", ExampleConfigs.path("tcg-plain")])
        #expect(plain.status == 1)
        #expect(plain.stderr.contains("an ordinary guest has no launch digest") && plain.stderr.split(separator: "\n").count == 1, "\(plain.stderr)")
        let missing = try IGVMManagerBinary.run(["attest", "verify", report, "--vcek", vcek, "--config", "/nonexistent/vm.toml"])
        #expect(missing.status == 2)
        #expect(missing.stderr.hasPrefix("igvm-mgr: error: /nonexistent/vm.toml"))
    }
}
