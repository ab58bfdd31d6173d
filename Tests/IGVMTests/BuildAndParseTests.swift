import Foundation
import IGVM
import Testing
import TestSupport

/// Files built from Debian's OVMF parse back to the headers that were written.
@Suite struct BuildAndParseTests {
    static let ovmfPath = "/usr/share/OVMF/OVMF_CODE_4M.fd"

    static func ovmf() throws -> OVMFImage {
        try OVMFImage(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: ovmfPath))))
    }

    static let platformSets: [[IGVMPlatformType]] = [[.native], [.sev], [.sevES], [.sevSNP], [.sevSNP, .sevES, .sev, .native]]

    @Test(arguments: platformSets)
    func builtFileParsesBackToItsHeaders(platforms: [IGVMPlatformType]) throws {
        let ovmf = try Self.ovmf()
        let builder = OVMFIGVMBuilder(platforms: platforms, vcpus: 4)
        let writer = try builder.writer(for: ovmf)
        let bytes = writer.serialize()
        let file = try IGVMFile(bytes: bytes)

        #expect(file.platforms == writer.platforms)
        #expect(file.initializations == writer.initializations)
        #expect(file.directives.count == writer.entries.count)
        // Writer and parser are inverses: the parsed file re-serializes to the same bytes.
        #expect(file.writer().serialize() == bytes)
        // Layout: V1 header, variable headers at 24, CRC over header + variable headers.
        #expect(file.fixedHeader.formatVersion == 1)
        #expect(file.fixedHeader.variableHeaderOffset == 24)
        #expect(Int(file.fixedHeader.totalFileSize) == bytes.count)
        var crc = CRC32()
        crc.update(file.fixedHeader.encoded(zeroChecksum: true))
        crc.update(bytes[24..<file.fileDataStart])
        #expect(crc.value == file.fixedHeader.checksum)
        // Page data ends at 4 GiB and carries the firmware bytes.
        let pages = file.directives.compactMap { if case .pageData(let p) = $0 { p } else { nil } }
        let firmwarePages = pages.filter { $0.gpa >= ovmf.gpa }
        #expect(firmwarePages.count == ovmf.bytes.count / 4096)
        #expect(firmwarePages.last?.gpa == 0xFFFF_F000)
        #expect(file.data(of: firmwarePages.last!).map(Array.init) == Array(ovmf.bytes.suffix(4096)))
        // One VMSA per vCPU per SEV-ES/SNP platform, all last, at KVM's GPA.
        let vmsaPlatforms = platforms.filter { $0 == .sevES || $0 == .sevSNP }.count
        let contexts = file.directives.suffix(4 * vmsaPlatforms)
        #expect(contexts.allSatisfy { if case .vpContext(let c) = $0 { c.gpa == igvmKVMVMSAGPA } else { false } })
        #expect(file.directives.filter { if case .vpContext = $0 { true } else { false } }.count == 4 * vmsaPlatforms)
    }

    @Test func sevSNPVMSAsStartAtResetVectorAndResetBlock() throws {
        let ovmf = try Self.ovmf()
        let file = try IGVMFile(bytes: OVMFIGVMBuilder(platforms: [.sevSNP], vcpus: 2).build(ovmf))
        let vmsas = file.directives.compactMap { d -> SEVVMSA? in
            guard case .vpContext(let c) = d, let page = file.data(of: c) else { return nil }
            return SEVVMSA(page: page)
        }
        #expect(vmsas.count == 2)
        #expect(vmsas[0].cs.base == 0xFFFF_0000 && vmsas[0].rip == 0xFFF0)
        let ap = try #require(ovmf.sevESResetEIP)
        #expect(vmsas[1].cs.base == UInt64(ap & 0xFFFF_0000) && vmsas[1].rip == UInt64(ap & 0xFFFF))
        #expect(vmsas.allSatisfy { $0.sevFeatures == 1 && $0.disallowedNonZeroRanges().isEmpty })
        #expect(file.guestPolicy(forMask: 1) == 0x30000)
    }
}
