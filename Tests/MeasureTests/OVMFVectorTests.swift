import Foundation
import Measure
import Testing

/// sev-snp-measure's vectors (ref-igvm-snp.md §7.1) on its two 4 KiB OVMF fixtures.
struct OVMFVectorTests {
    /// The AmdSevX64 fixture's footer table and metadata as ref §7.1 documents them; used to
    /// check the digest algorithm independently of the OVMF parser.
    static func documentedAmdSev() throws -> OVMFMeasurementInput {
        OVMFMeasurementInput(
            image: try Fixtures.bytes(URL(fileURLWithPath: Fixtures.amdSevOVMF)), apResetEIP: 0x80B004,
            hashTableGPA: 0x810C00,
            sections: [
                .init(gpa: 0x800000, size: 0x9000, type: 1), .init(gpa: 0x80A000, size: 0x3000, type: 1),
                .init(gpa: 0x80D000, size: 0x1000, type: 2), .init(gpa: 0x80E000, size: 0x1000, type: 3),
                .init(gpa: 0x80F000, size: 0x1000, type: 4), .init(gpa: 0x810000, size: 0x1000, type: 0x10),
                .init(gpa: 0x811000, size: 0xF000, type: 1),
            ])
    }

    static let epycV4 = VCPUSignature(cpuType: "EPYC-v4")!
    static let emptyKernel = SEVHashTable(kernel: [], initrd: [], cmdline: "")

    @Test("snp, documented AmdSev layout, 4 vCPUs with /dev/null kernel, features 0x21 and 0x1",
        arguments: [
            (UInt64(0x21), "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942"),
            (UInt64(0x1), "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5"),
        ])
    func documentedLayout(features: UInt64, expected: String) throws {
        let digest = try LaunchDigest.snp(
            ovmf: Self.documentedAmdSev(),
            OVMFLaunchParameters(vcpus: 4, signature: Self.epycV4, guestFeatures: features, kernelHashes: Self.emptyKernel))
        #expect(digest.hex == expected)
    }
}
