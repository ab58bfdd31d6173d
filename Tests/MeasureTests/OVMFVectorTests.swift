import Foundation
import IGVM
import Measure
import Testing

/// sev-snp-measure's vectors (its `tests/test_guest.py`; virtee/sev's `tests/measurement.rs` has
/// most of the same) on its two 4 KiB OVMF fixtures (`Tests/Fixtures/sev-snp-measure`), through the
/// library API.
struct OVMFVectorTests {
    enum Firmware: String, Sendable { case amdSev, x64 }
    enum Kernel: Sendable { case none, devNull(append: String?) }

    struct Vector: Sendable, CustomTestStringConvertible {
        var mode: String
        var firmware: Firmware
        var vcpus = 1
        var signature = VCPUSignature(cpuType: "EPYC-v4")!
        var kernel = Kernel.none
        var features: UInt64 = 0x1
        var vmm = VMMType.qemu
        var ovmfHash: String? = nil
        var expected: String
        var testDescription: String {
            "\(mode) \(firmware) vcpus=\(vcpus) sig=\(signature) features=0x\(String(features, radix: 16)) \(vmm.rawValue)\(ovmfHash == nil ? "" : " seeded") \(kernel)"
        }
    }

    static let amdSevHash =
        "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"

    static let vectors: [Vector] = [
        Vector(mode: "snp:ovmf-hash", firmware: .amdSev, expected: amdSevHash),
        Vector(mode: "snp:ovmf-hash", firmware: .x64,
            expected: "b91e6fec73d2bcc57ad5fd400a426ce02731c22ea92bc894ce675e7c9921a822977d6cf025b85f8ef4f264bff8839d20"),
        Vector(mode: "snp", firmware: .amdSev, kernel: .devNull(append: "console=ttyS0 loglevel=7"), features: 0x21,
            expected: "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"),
        Vector(mode: "snp", firmware: .amdSev, kernel: .devNull(append: "console=ttyS0 loglevel=7"), features: 0x1,
            expected: "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa"),
        Vector(mode: "snp", firmware: .amdSev, kernel: .devNull(append: ""), features: 0x21, ovmfHash: amdSevHash,
            expected: "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198"),
        Vector(mode: "snp", firmware: .amdSev, kernel: .devNull(append: ""), features: 0x1, ovmfHash: amdSevHash,
            expected: "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5"),
        Vector(mode: "snp", firmware: .amdSev, features: 0x21,
            expected: "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b"),
        Vector(mode: "snp", firmware: .amdSev, features: 0x1,
            expected: "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d"),
        Vector(mode: "snp", firmware: .amdSev, vcpus: 4, kernel: .devNull(append: ""), features: 0x21,
            expected: "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942"),
        Vector(mode: "snp", firmware: .amdSev, vcpus: 4, kernel: .devNull(append: ""), features: 0x1,
            expected: "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5"),
        Vector(mode: "snp", firmware: .x64, features: 0x21,
            expected: "28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385"),
        Vector(mode: "snp", firmware: .x64, features: 0x1,
            expected: "da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21523a9ad993afdb6a30b4005"),
        Vector(mode: "snp", firmware: .amdSev, kernel: .devNull(append: ""), features: 0x21, vmm: .ec2,
            expected: "0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb"),
        Vector(mode: "snp", firmware: .amdSev, kernel: .devNull(append: ""), features: 0x1, vmm: .ec2,
            expected: "0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056"),
        Vector(mode: "snp", firmware: .amdSev, signature: VCPUSignature(0), kernel: .devNull(append: ""), vmm: .gce,
            expected: "5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e"),
        Vector(mode: "snp", firmware: .amdSev, vcpus: 4, kernel: .devNull(append: ""), vmm: .gce,
            expected: "5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d"),
        Vector(mode: "seves", firmware: .amdSev, kernel: .devNull(append: ""),
            expected: "13810ae661ea11e2bb205621f582fee268f0367c8f97bc297b7fadef3e12002c"),
        Vector(mode: "seves", firmware: .amdSev, vcpus: 4, kernel: .devNull(append: ""),
            expected: "0dccbcaba8e90b261bd0d2e1863a2f9da714768b7b2a19363cd6ae35aa90de91"),
        Vector(mode: "seves", firmware: .amdSev,
            expected: "f9f0a62976a07b5d58302d0a0b86df8c0c35115054dda5a38764527a4636fa1f"),
        Vector(mode: "sev", firmware: .amdSev, kernel: .devNull(append: "console=ttyS0 loglevel=7"),
            expected: "82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff"),
        Vector(mode: "sev", firmware: .amdSev, kernel: .devNull(append: nil),
            expected: "77f613d7bbcdf12a73782ea9e88b0172aeda50d1a54201cb903594ff52846898"),
        Vector(mode: "sev", firmware: .x64,
            expected: "b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da"),
        Vector(mode: "snp", firmware: .x64, vcpus: 4, signature: VCPUSignature(cpuType: "EPYC-Milan")!,
            expected: "7280e8e910a7438616591092c6500ae408ac90c5b44dd074df188d72ea17aca1108a981653fae13334f477bee945a94b"),
        Vector(mode: "snp", firmware: .x64, signature: VCPUSignature(family: 25, model: 1, stepping: 1),
            expected: "f7dfe301e4b1b73b02932cfa3792f883dbb8f2a714e01e5dcbb35ecaf1c93f3cf5d39f5e943d1de599d239bdc90f8d27"),
        Vector(mode: "snp", firmware: .x64, vcpus: 2, signature: VCPUSignature(cpuType: "EPYC-Genoa")!,
            expected: Hex.encode(Base64.decode("kbo01KUxCtbD33YjdYgbW0bnfCPgq6Lt56Zc3tdUuCHyc1nHOkkKV+NR2W+KsupD")!)),
    ]

    static func image(_ firmware: Firmware) throws -> OVMFImage {
        try OVMFImage(contentsOf: firmware == .amdSev ? Fixtures.amdSevOVMF : Fixtures.ovmfX64)
    }

    static func hashes(_ kernel: Kernel) -> SEVHashTable? {
        guard case .devNull(let append) = kernel else { return nil }
        return SEVHashTable(kernel: [], initrd: [], cmdline: append)
    }

    @Test("sev-snp-measure vector", arguments: vectors)
    func vector(_ v: Vector) throws {
        let ovmf = try Self.image(v.firmware)
        let parameters = OVMFLaunchParameters(
            vcpus: v.vcpus, signature: v.signature, guestFeatures: v.features, vmm: v.vmm, kernelHashes: Self.hashes(v.kernel))
        let digest: LaunchDigest
        switch v.mode {
        case "snp:ovmf-hash": digest = try LaunchDigest.snpOVMFHash(ovmf)
        case "snp": digest = try LaunchDigest.snp(
            ovmf: ovmf, parameters, ovmfHash: v.ovmfHash.map { LaunchDigest(bytes: Hex.decode($0)!) })
        case "seves": digest = try LaunchDigest.sevES(ovmf: ovmf, parameters)
        default: digest = try LaunchDigest.sev(ovmf: ovmf, kernelHashes: Self.hashes(v.kernel))
        }
        #expect(digest.hex == v.expected)
    }

    @Test("A kernel with an OVMF lacking SNP_KERNEL_HASHES is the documented error")
    func kernelWithoutHashSection() throws {
        let ovmf = try Self.image(.x64)
        let parameters = OVMFLaunchParameters(
            vcpus: 1, signature: VCPUSignature(cpuType: "EPYC-v4")!, guestFeatures: 0x21,
            kernelHashes: Self.hashes(.devNull(append: nil)))
        #expect(throws: MeasurementError(.invalidInput, "Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section")) {
            try LaunchDigest.snp(ovmf: ovmf, parameters)
        }
    }

    @Test("The AmdSev fixture's footer table and metadata as sev-snp-measure reads them")
    func fixtureLayout() throws {
        let ovmf = try Self.image(.amdSev)
        #expect(ovmf.gpa == 0xFFFF_F000)
        #expect(ovmf.sevESResetEIP == 0x80B004)
        #expect(ovmf.sevHashTableGPA == 0x810C00)
        #expect(ovmf.metadataSections.map { [$0.gpa, $0.size, $0.type.rawValue] } == [
            [0x800000, 0x9000, 1], [0x80A000, 0x3000, 1], [0x80D000, 0x1000, 2], [0x80E000, 0x1000, 3],
            [0x80F000, 0x1000, 4], [0x810000, 0x1000, 0x10], [0x811000, 0xF000, 1],
        ])
    }
}
