import Crypto
import Measure
import Testing

/// The PAGE_INFO chain, checked against a PAGE_INFO assembled field by field here.
struct SNPPageInfoChainTests {
    /// An independent PAGE_INFO (ABI table "Layout of the PAGE_INFO structure").
    static func pageInfo(ld: [UInt8], contents: [UInt8], type: UInt8, gpa: UInt64) -> [UInt8] {
        var info = ld + contents
        info += [0x70, 0x00, type, 0x00, 0, 0, 0, 0]
        for i in 0..<8 { info.append(UInt8(truncatingIfNeeded: gpa >> (8 * UInt64(i)))) }
        #expect(info.count == 112)
        return info
    }

    static func sha384(_ bytes: [UInt8]) -> [UInt8] { Array(SHA384.hash(data: bytes)) }

    @Test("One page of each kind folds in as PAGE_INFO = LD ‖ contents ‖ 0x70 ‖ type ‖ 0 ‖ perms ‖ gpa")
    func handComputedChain() {
        var page = [UInt8](repeating: 0, count: 4096)
        for i in page.indices { page[i] = UInt8(i % 251) }
        var vmsa = [UInt8](repeating: 0, count: 4096)
        vmsa[0x3E8] = 1

        var chain = SNPPageInfoChain()
        chain.addNormalPages(gpa: 0xFFFF_F000, bytes: page)
        chain.addContentlessPages(.zero, gpa: 0x80_0000, length: 0x2000)
        chain.addContentlessPages(.secrets, gpa: 0x80_D000, length: 0x1000)
        chain.addContentlessPages(.cpuid, gpa: 0x80_E000, length: 0x1000)
        chain.addContentlessPages(.unmeasured, gpa: 0x1000, length: 0x1000)
        chain.addVMSA(vmsa)

        let zero48 = [UInt8](repeating: 0, count: 48)
        var ld = zero48
        ld = Self.sha384(Self.pageInfo(ld: ld, contents: Self.sha384(page), type: 1, gpa: 0xFFFF_F000))
        ld = Self.sha384(Self.pageInfo(ld: ld, contents: zero48, type: 3, gpa: 0x80_0000))
        ld = Self.sha384(Self.pageInfo(ld: ld, contents: zero48, type: 3, gpa: 0x80_1000))
        ld = Self.sha384(Self.pageInfo(ld: ld, contents: zero48, type: 5, gpa: 0x80_D000))
        ld = Self.sha384(Self.pageInfo(ld: ld, contents: zero48, type: 6, gpa: 0x80_E000))
        ld = Self.sha384(Self.pageInfo(ld: ld, contents: zero48, type: 4, gpa: 0x1000))
        ld = Self.sha384(Self.pageInfo(ld: ld, contents: Self.sha384(vmsa), type: 2, gpa: 0xFFFF_FFFF_F000))
        #expect(chain.digest == ld)
    }

    @Test("A seed replaces the zero start, as --snp-ovmf-hash does")
    func seed() {
        let seed = [UInt8](repeating: 0x5A, count: 48)
        var chain = SNPPageInfoChain(seed: seed)
        #expect(chain.digest == seed)
        chain.addContentlessPages(.zero, gpa: 0, length: 0x1000)
        #expect(chain.digest == Self.sha384(Self.pageInfo(ld: seed, contents: [UInt8](repeating: 0, count: 48), type: 3, gpa: 0)))
    }

    @Test("SHA-384 of a zero page is the well-known constant")
    func zeroPageHash() {
        #expect(Hex.encode(SNPPageInfoChain.zeroPageHash) ==
            "c0e59a3e3ffbd3b5c75428fb36432facabc745944296ff515f737c4fef4efc64586809f7a16f56354a1eaecf2aa8d774")
    }
}

struct VCPUSignatureTests {
    @Test("CPU model signatures (sev-snp-measure's CPU type table)", arguments: [
        ("EPYC", 0x800F12), ("EPYC-v4", 0x800F12), ("EPYC-IBPB", 0x800F12), ("EPYC-Rome", 0x830F10),
        ("EPYC-Rome-v3", 0x830F10), ("EPYC-Milan", 0xA00F11), ("EPYC-Milan-v2", 0xA00F11),
        ("EPYC-Genoa", 0xA10F10), ("EPYC-Turin", 0xB00F00),
    ] as [(String, UInt32)])
    func cpuTypes(name: String, signature: UInt32) {
        #expect(VCPUSignature(cpuType: name)?.value == signature)
    }

    @Test func familyModelStepping() {
        #expect(VCPUSignature(family: 25, model: 1, stepping: 1).value == 0xA00F11)
        #expect(VCPUSignature(family: 6, model: 0x55, stepping: 4).value == 0x50654)
        #expect(VCPUSignature(cpuType: "Skylake") == nil)
        #expect(VCPUSignature.qemuCPUTypes.count == 16)
    }
}

struct SEVHashTableTests {
    @Test("Layout of QEMU's padded SevHashTable")
    func layout() {
        let table = SEVHashTable(kernel: [], initrd: nil, cmdline: nil)
        let bytes = table.bytes
        #expect(bytes.count == 176)
        #expect(Hex.encode(bytes[0..<16]) == "06d63894224fc94cb479a793d411fd21")
        #expect(bytes[16] == 168 && bytes[17] == 0)
        #expect(bytes[34] == 50 && bytes[35] == 0)  // cmdline entry length
        // cmdline absent hashes as a single NUL; initrd absent and the empty kernel as empty.
        #expect(Hex.encode(bytes[36..<68]) == Hex.encode(SHA256.hash(data: [0])))
        #expect(Hex.encode(bytes[86..<118]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Hex.encode(bytes[136..<168]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(bytes[168...].allSatisfy { $0 == 0 })
        #expect(SEVHashTable(kernel: [], initrd: nil, cmdline: "").bytes == bytes)
        let page = table.page(offset: 0xC00)
        #expect(page.count == 4096 && Array(page[0xC00..<0xC00 + 176]) == bytes)
    }
}

struct EncodingTests {
    @Test func base64RoundTrip() {
        for n in 0..<10 {
            let bytes = (0..<n).map { UInt8($0 * 37 & 0xFF) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.decode("Zm8") == nil)
        #expect(Base64.decode("Zm=8") == nil)
        #expect(Base64.decode("Zm8*") == nil)
    }

    @Test func hex() {
        #expect(Hex.decode("0xA0ff") == [0xA0, 0xFF])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.encode([0, 0x1F]) == "001f")
    }
}
