import Attestation
import Foundation
import IGVM
import SNPReport
import Testing

/// The report parser: sizes, versions, every field at its ABI offset, both TCB layouts.
struct ReportParserTests {
    @Test("the virtee Milan report's fields: version 2, policy 0x30000, VMPL 0, ECDSA P-384, MEASUREMENT 7a1e5c26…841f, no CPUID")
    func virteeMilanFields() throws {
        let report = try AttestationFixtures.report(AttestationFixtures.pair("report_milan.bin"))
        #expect(report.version == 2)
        #expect(report.policy.rawValue == 0x30000)
        #expect(report.policy.setBitNames == ["smt", "reserved-must-be-one"])
        #expect(report.vmpl == 0)
        #expect(report.signatureAlgorithm == 1)
        let measurement = report.measurement.map { String(format: "%02x", $0) }.joined()
        #expect(measurement.hasPrefix("7a1e5c26") && measurement.hasSuffix("841f"))
        #expect(report.cpuid == nil)
        #expect(report.launchMitigationVector == nil)
        #expect(report.reportedTCB.bootloader == 3 && report.reportedTCB.snp == 8 && report.reportedTCB.microcode == 115)
    }

    /// Each field read at the offset the ABI gives it: a report of distinct byte patterns,
    /// one per field, read back field by field.
    @Test("every field comes from its ABI offset (a synthetic report with one marker value per field)")
    func fieldOffsets() throws {
        var bytes = [UInt8](repeating: 0, count: 1184)
        func put(_ offset: Int, _ value: [UInt8]) { bytes.replaceSubrange(offset..<offset + value.count, with: value) }
        func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * $0)) } }
        put(0x00, le(5, 4)); put(0x04, le(0x11223344, 4)); put(0x08, le(0x000_1_0003_1f05, 8))
        put(0x10, [UInt8](repeating: 0xF1, count: 16)); put(0x20, [UInt8](repeating: 0xF2, count: 16))
        put(0x30, le(2, 4)); put(0x34, le(1, 4)); put(0x38, le(0x0102030405060708, 8)); put(0x40, le(0b1010_0101, 8))
        put(0x48, le(0b0111, 4)); put(0x50, [UInt8](repeating: 0xA5, count: 64)); put(0x90, [UInt8](repeating: 0xB6, count: 48))
        put(0xC0, [UInt8](repeating: 0xC7, count: 32)); put(0xE0, [UInt8](repeating: 0xD8, count: 48)); put(0x110, [UInt8](repeating: 0xE9, count: 48))
        put(0x140, [UInt8](repeating: 0x14, count: 32)); put(0x160, [UInt8](repeating: 0x16, count: 32))
        put(0x180, [0x10, 0x20, 0x30, 0x40, 0, 0, 0, 0x80]); put(0x188, [0x1A, 0x02, 0x01])
        put(0x1A0, [UInt8](repeating: 0x1A, count: 64)); put(0x1E0, le(0x1E, 8)); put(0x1E8, [7, 55, 1]); put(0x1EC, [6, 54, 1])
        put(0x1F0, le(0x1F0, 8)); put(0x1F8, le(0x1F8, 8)); put(0x200, le(0x200, 8))

        let r = try AttestationReport(bytes: bytes)
        #expect(r.version == 5 && r.guestSVN == 0x11223344 && r.policy.rawValue == 0x1_0003_1f05)
        #expect(r.familyID == [UInt8](repeating: 0xF1, count: 16) && r.imageID == [UInt8](repeating: 0xF2, count: 16))
        #expect(r.vmpl == 2 && r.signatureAlgorithm == 1 && r.currentTCB.rawValue == 0x0102030405060708)
        #expect(r.platformInfo.setBitNames == ["smt-enabled", "ecc-enabled", "alias-check-complete", "tio-enabled"])
        #expect(r.keyInfo.authorKeyEnabled && r.keyInfo.maskChipKey && r.keyInfo.signingKey == .vlek)
        #expect(r.reportData == [UInt8](repeating: 0xA5, count: 64) && r.measurement == [UInt8](repeating: 0xB6, count: 48))
        #expect(r.hostData == [UInt8](repeating: 0xC7, count: 32) && r.idKeyDigest == [UInt8](repeating: 0xD8, count: 48))
        #expect(r.authorKeyDigest == [UInt8](repeating: 0xE9, count: 48))
        #expect(r.reportID == [UInt8](repeating: 0x14, count: 32) && r.reportIDMigrationAgent == [UInt8](repeating: 0x16, count: 32))
        #expect(r.cpuid == CPUIdentity(family: 0x1A, model: 0x02, stepping: 0x01) && r.cpuidProduct == .turin)
        // Turin layout, chosen by the CPUID: [FMC, BL, TEE, SNP, 0, 0, 0, UCODE].
        #expect(r.tcbLayout == .turin)
        #expect((r.reportedTCB.fmc, r.reportedTCB.bootloader, r.reportedTCB.tee, r.reportedTCB.snp, r.reportedTCB.microcode) == (0x10, 0x20, 0x30, 0x40, 0x80))
        #expect(r.chipID == [UInt8](repeating: 0x1A, count: 64) && r.committedTCB.rawValue == 0x1E && r.launchTCB.rawValue == 0x1F0)
        #expect(r.currentVersion.description == "1.55.7" && r.committedVersion.description == "1.54.6")
        #expect(r.launchMitigationVector == 0x1F8 && r.currentMitigationVector == 0x200)

        // The same bytes as version 3: no mitigation vectors; as version 2: no CPUID either,
        // and the Milan/Genoa layout [BL, TEE, 0, 0, 0, 0, SNP, UCODE] unless told Turin.
        put(0x00, le(3, 4))
        let v3 = try AttestationReport(bytes: bytes)
        #expect(v3.launchMitigationVector == nil && v3.cpuid != nil)
        put(0x00, le(2, 4))
        let v2 = try AttestationReport(bytes: bytes)
        #expect(v2.cpuid == nil && v2.tcbLayout == .milanGenoa)
        #expect((v2.reportedTCB.bootloader, v2.reportedTCB.tee, v2.reportedTCB.snp, v2.reportedTCB.microcode) == (0x10, 0x20, 0, 0x80))
        #expect(v2.reportedTCB.fmc == nil)
        #expect(try AttestationReport(bytes: bytes, product: .turin).reportedTCB.fmc == 0x10)
    }

    @Test("sizes other than 1184 and versions other than 2, 3, 5 are refused with one line naming them",
          arguments: [0, 1, 672, 1183, 1185, 4096])
    func wrongSize(_ size: Int) {
        #expect(throws: ReportParseError(.wrongSize, "an SEV-SNP attestation report is 1184 bytes, got \(size)")) {
            try AttestationReport(bytes: [UInt8](repeating: 2, count: size))
        }
    }

    @Test("unknown versions are refused", arguments: [0 as UInt32, 1, 4, 6, 0xFFFF_FFFF])
    func unknownVersion(_ version: UInt32) {
        var bytes = [UInt8](repeating: 0, count: 1184)
        for i in 0..<4 { bytes[i] = UInt8(truncatingIfNeeded: version >> UInt32(8 * i)) }
        #expect(throws: ReportParseError(.unknownVersion, "attestation report version \(version) is not one this tool knows (2, 3, 5)")) {
            try AttestationReport(bytes: bytes)
        }
    }

    @Test("hex text (with newlines, either case) reads as the same report; odd digits and short hex are refused")
    func hexText() throws {
        let raw = try AttestationFixtures.bytes(AttestationFixtures.pair("genoa_v5_oak.bin").reportURL)
        var text = raw.map { String(format: "%02X", $0) }.joined()
        for at in stride(from: 64, to: text.count, by: 65) { text.insert("\n", at: text.index(text.startIndex, offsetBy: at)) }
        let fromHex = try AttestationReport(rawOrHex: Array(text.utf8))
        #expect(fromHex.bytes == raw)
        #expect(throws: ReportParseError.self) { try AttestationReport(rawOrHex: Array("abc".utf8)) }
        #expect(throws: ReportParseError(.wrongSize, "an SEV-SNP attestation report is 1184 bytes, got 2")) {
            try AttestationReport(rawOrHex: Array("abcd".utf8))
        }
    }

    @Test("TCB layouts: Milan/Genoa [BL, TEE, 0, 0, 0, 0, SNP, UCODE] and Turin [FMC, BL, TEE, SNP, 0, 0, 0, UCODE] round-trip")
    func tcbLayouts() {
        let milan = TCBVersion(layout: .milanGenoa, bootloader: 3, tee: 0, snp: 8, microcode: 115)
        #expect(milan.rawValue == 0x7308_0000_0000_0003)
        let turin = TCBVersion(layout: .turin, fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 0x47)
        #expect(turin.rawValue == 0x4700_0000_0200_0100)
        #expect(turin.parts.map(\.name) == ["fmc", "bootloader", "tee", "snp", "microcode"])
        #expect(milan.description == "bootloader 3, tee 0, snp 8, microcode 115 (0x7308000000000003)")
    }

    static let productCases: [(UInt8, UInt8, AMDProduct?)] = [
        (0x19, 0x01, .milan), (0x19, 0x11, .genoa), (0x19, 0xA0, .genoa),
        (0x1A, 0x02, .turin), (0x1A, 0x11, .turin), (0x17, 0x31, nil), (0x19, 0x61, nil),
    ]

    @Test("products from CPUID family/model", arguments: productCases)
    func products(_ family: UInt8, _ model: UInt8, _ product: AMDProduct?) {
        #expect(AMDProduct(cpuidFamily: family, model: model) == product)
    }
}
