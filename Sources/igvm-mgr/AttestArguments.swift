import FileAccess
import Attestation
import Foundation
import Measure

/// The byte-string options of `attest verify`, read strictly: a wrong length is a usage error.
enum ExpectationArguments {
    static func bytes(_ text: String, count: Int, option: String) throws -> [UInt8] {
        guard let bytes = Hex.decode(text), bytes.count == count else {
            throw CommandLineFailure.usage("\(option) \(text): expected \(count) bytes as \(2 * count) hex digits")
        }
        return bytes
    }

    /// 32 bytes, base64 as QEMU's host-data takes it, or 64 hex digits.
    static func hostData(_ text: String) throws -> [UInt8] {
        if text.count == 64, let bytes = Hex.decode(text) { return bytes }
        guard let bytes = Base64.decode(text), bytes.count == 32 else {
            throw CommandLineFailure.usage("--expect-host-data \(text): expected 32 bytes as base64 (44 characters) or 64 hex digits")
        }
        return bytes
    }

    /// Up to 64 bytes of hex, zero-padded to REPORT_DATA's 64 (as snpguest pads a short nonce).
    static func reportData(_ text: String) throws -> [UInt8] {
        guard let bytes = Hex.decode(text), bytes.count <= 64 else {
            throw CommandLineFailure.usage("--report-data \(text): expected at most 64 bytes as hex (128 digits)")
        }
        return bytes + [UInt8](repeating: 0, count: 64 - bytes.count)
    }
}

/// Certificate files named on the command line.
enum CertificateFiles {
    /// The one certificate in `path` that `matches` (a cert_chain file holds ASK and ARK): exit 2
    /// when the file cannot be read or holds none.
    static func single(_ path: String, role: String, matches: (AMDCertificate) -> Bool) throws -> AMDCertificate {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path, limit: InputFile.Limit.text)  // a PEM or DER certificate
        } catch {
            throw CommandLineFailure.usage("\(role): \(error.description)")
        }
        let certificates: [AMDCertificate]
        do {
            certificates = try AMDCertificate.certificates(fromFileContents: bytes)
        } catch {
            throw CommandLineFailure.usage("\(role) \(path): \(error.description)")
        }
        guard let match = certificates.first(where: matches) else {
            let names = certificates.map(\.subjectCommonName).joined(separator: ", ")
            throw CommandLineFailure.usage("\(role) \(path): holds \(names), not the certificate \(role) takes")
        }
        return match
    }
}

/// A folder of certificates as `snpguest fetch ca`/`fetch vcek` writes them.
struct CertificateFolder {
    var endorsement: String?
    var ark: String?
    var ask: String?
    var asvk: String?

    init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandLineFailure.usage("--certs \(path): not a folder")
        }
        func find(_ names: [String]) -> String? {
            names.map { "\(path)/\($0)" }.first { FileManager.default.fileExists(atPath: $0) }
        }
        endorsement = find(["vcek.der", "vcek.pem", "vlek.der", "vlek.pem"])
        ark = find(["ark.pem", "ark.der"])
        ask = find(["ask.pem", "ask.der"])
        asvk = find(["asvk.pem", "asvk.der"])
        guard endorsement != nil else {
            throw CommandLineFailure.usage("--certs \(path): no vcek.der, vcek.pem, vlek.der or vlek.pem in it")
        }
    }
}
