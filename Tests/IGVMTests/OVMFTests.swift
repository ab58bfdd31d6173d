import Crypto
import Foundation
import IGVM
import Testing
import TestSupport

/// OVMF footer table and SEV metadata, checked against sev-snp-measure's fixtures
/// (`Tests/Fixtures/sev-snp-measure`, with upstream's README as `UPSTREAM-README.md`).
@Suite struct OVMFTests {
    static func fixture(_ name: String) throws -> OVMFImage {
        let url = TestPaths.fixtures.appendingPathComponent("sev-snp-measure/\(name)")
        return try OVMFImage(bytes: [UInt8](Data(contentsOf: url)))
    }

    @Test func amdSevSuffixMetadata() throws {
        let ovmf = try Self.fixture("ovmf_AmdSev_suffix.bin")
        #expect(ovmf.gpa == 0xFFFF_F000)
        #expect(ovmf.sevESResetEIP == 0x80B004)
        #expect(ovmf.sevHashTableGPA == 0x810C00 && ovmf.sevHashTableSize == 0x400)
        let expected: [(UInt32, UInt32, OVMFSectionType)] = [
            (0x800000, 0x9000, .snpSecMem), (0x80A000, 0x3000, .snpSecMem), (0x80D000, 0x1000, .snpSecrets),
            (0x80E000, 0x1000, .cpuid), (0x80F000, 0x1000, .svsmCAA), (0x810000, 0x1000, .snpKernelHashes),
            (0x811000, 0xF000, .snpSecMem),
        ]
        #expect(ovmf.metadataSections.map { [$0.gpa, $0.size, $0.type.rawValue] } == expected.map { [$0.0, $0.1, $0.2.rawValue] })
    }

    @Test func ovmfX64SuffixHasNoKernelHashes() throws {
        let ovmf = try Self.fixture("ovmf_OvmfX64_suffix.bin")
        #expect(!ovmf.metadataSections.contains { $0.type == .snpKernelHashes })
        #expect(ovmf.metadataSections.last.map { [$0.gpa, $0.size] } == [0x810000, 0x10000])
    }

    @Test func guidTextRoundTrips() {
        #expect(OVMFGUID.footerTable.description == "96b582de-1fb2-45f7-baea-a366c55a082d")
        #expect(OVMFGUID("not-a-guid") == nil)
    }

    @Test func truncatedFooterTableIsAnError() throws {
        var bytes = [UInt8](try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("sev-snp-measure/ovmf_AmdSev_suffix.bin")))
        let footer = bytes.count - 32 - 18
        bytes[footer] = 0xFF; bytes[footer + 1] = 0xFF  // table size 0xFFFF > image
        #expect(throws: OVMFError.self) { try OVMFImage(bytes: bytes) }
    }

    /// SEV-SNP build from the AmdSev image: metadata pages with SECRETS/CPUID types for the
    /// SNP mask only, then VMSAs with the AP at the reset block's EIP.
    @Test func snpBuildCarriesMetadataPages() throws {
        let ovmf = try Self.fixture("ovmf_AmdSev_suffix.bin")
        let file = try IGVMFile(bytes: OVMFIGVMBuilder(platforms: [.sevSNP, .sevES], vcpus: 2).build(ovmf))
        let pages = file.directives.compactMap { if case .pageData(let p) = $0 { p } else { nil } }
        let low = pages.filter { $0.gpa < 0x1_0000_0000 - 4096 }
        #expect(low.count == (0x9000 + 0x3000 + 0x1000 * 4 + 0xF000) / 4096)
        #expect(low.allSatisfy { $0.compatibilityMask == 1 && $0.fileOffset == 0 })
        #expect(low.filter { $0.dataType == .secrets }.map(\.gpa) == [0x80D000])
        #expect(low.filter { $0.dataType == .cpuidData }.map(\.gpa) == [0x80E000])
        #expect(IGVMValidator(platform: .sevSNP, qemuVersion: QEMUVersion(major: 10, minor: 2), vcpus: 2).validate(file).isEmpty)
        #expect(IGVMValidator(platform: .sevES, qemuVersion: QEMUVersion(major: 10, minor: 2), vcpus: 2).validate(file).isEmpty)
    }

    /// The reset VMSA is byte-compatible with sev-snp-measure's: SHA-384 of the page for EPYC-v4
    /// (RDX 0x800F12) and guest features 0x1 matches the page sev-snp-measure's `vmsa.py` builds.
    @Test func resetVMSAMatchesSevSnpMeasure() throws {
        func sha384(_ bytes: [UInt8]) -> String {
            SHA384.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        }
        let bsp = SEVVMSA.resetState(eip: 0xFFFF_FFF0, rdx: 0x800F12, sevFeatures: 1)
        let ap = SEVVMSA.resetState(eip: 0x80B004, rdx: 0x800F12, sevFeatures: 1)
        #expect(sha384(bsp.bytes) == "77920c4c629ff47e90c0e174fc1ad0eb6fa664f88cd4739488058a8c6cb1a77b3856f55378e9518d0da99452d51c553a")
        #expect(sha384(ap.bytes) == "8413b852790765a310d95867a8b00bfca3a802b5a80830044b45e253fe96222657e11e53fcf63eb0e0afd722385bf7b4")
    }
}
