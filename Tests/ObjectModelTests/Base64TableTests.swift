import JSON
import ObjectModel
import Testing

/// The model's verdict on every base64 table row (QEMU's own verdict: `QEMUParityTests`).
@Suite struct Base64TableTests {
    @Test(arguments: Base64Table.cases)
    func decodedLengthAndVerdict(_ row: Base64Case) {
        switch QEMUBase64.decode(row.text) {
        case .success(let bytes): #expect(bytes.count == row.decodesTo)
        case .failure: #expect(row.decodesTo == nil)
        }
        var guest = SevSnpGuest(id: "sev0", reducedPhysBits: 1)
        switch row.property {
        case "guest-visible-workarounds": guest.guestVisibleWorkarounds = Base64Blob(text: row.text, length: SevSnpGuest.guestVisibleWorkaroundsLength)
        case "id-block": guest.idBlock = Base64Blob(text: row.text, length: SevSnpGuest.idBlockLength)
        case "id-auth": guest.idAuth = Base64Blob(text: row.text, length: SevSnpGuest.idAuthLength)
        default: guest.hostData = Base64Blob(text: row.text, length: SevSnpGuest.hostDataLength)
        }
        let qemuProblems = guest.validate().filter { $0.level == .qemu && $0.property == row.property }
        #expect(qemuProblems.isEmpty == row.accepted, "\(qemuProblems)")
        for p in qemuProblems {
            #expect(!p.description.contains("\n"))
            if let n = row.decodesTo {
                #expect(p.message.hasPrefix("decodes to \(n) byte"), "\(p)")
            } else {
                #expect(p.message.hasPrefix("not base64"), "\(p)")
            }
        }
    }

    @Test func messageIsRightWhereQEMUsIsWrong() {
        // QEMU says "parameter length of 15 exceeds max of 16" for a blob that is too short.
        let problems = ObjectSpec.validate("sev-snp-guest,id=sev0,reduced-phys-bits=1,guest-visible-workarounds=" + Base64Table.encoded(15))
        #expect(problems.map(\.description) == ["sev0.guest-visible-workarounds: decodes to 15 bytes, must be 16"])
        let short = ObjectSpec.validate("sev-snp-guest,id=sev0,reduced-phys-bits=1,id-auth=x,id-block=" + Base64Table.encoded(95))
        #expect(short.map(\.description).contains("sev0.id-block: decodes to 95 bytes, must be 96"))
    }

    @Test func encodeMatchesKnownVectors() throws {
        // RFC 4648 §10 test vectors.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(QEMUBase64.encode(Array(plain.utf8)) == encoded)
            #expect(try QEMUBase64.decode(encoded).get() == Array(plain.utf8))
        }
    }
}

/// The model's verdict on every sev-snp-guest / sev-guest case (QEMU's: `QEMUParityTests`).
@Suite struct SevObjectModelTests {
    @Test(arguments: SevObjectTable.snpCases + SevObjectTable.sevCases)
    func modelVerdict(_ row: SevObjectCase) {
        let (accepts, problems) = SevObjectTable.modelAccepts(row.arguments(id: "obj0"))
        #expect(accepts == row.qemuAccepts, "\(problems.map(\.description))")
    }
}
