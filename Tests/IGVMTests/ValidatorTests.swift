import IGVM
import Testing

/// The QEMU-loader checks of `IGVMValidator` (docs/background.md, "What QEMU's loader adds"): each
/// minimal file triggers one problem.
@Suite struct ValidatorTests {
    typealias M = MiniFile
    static let v10_2 = QEMUVersion(major: 10, minor: 2, micro: 2)

    func problems(_ bytes: [UInt8], _ platform: IGVMPlatformType = .sevSNP, qemu: QEMUVersion = v10_2,
                  vcpus: Int? = nil, policy: UInt64? = nil) throws -> [IGVMProblem] {
        IGVMValidator(platform: platform, qemuVersion: qemu, vcpus: vcpus, expectedPolicy: policy)
            .validate(try IGVMFile(bytes: bytes))
    }

    func codes(_ p: [IGVMProblem], _ level: IGVMProblem.Level) -> [String] { p.filter { $0.level == level }.map(\.code) }

    static func snpVMSA(_ change: (inout SEVVMSA) -> Void = { _ in }) -> [UInt8] {
        var v = SEVVMSA.resetState(eip: 0xFFFF_FFF0, sevFeatures: 1)
        change(&v)
        return v.bytes
    }

    @Test func cleanFileHasNoProblems() throws {
        let b = M.bytes { $0.add(M.vp(1), data: Self.snpVMSA()) }
        #expect(try problems(b, vcpus: 1, policy: 0x30000).isEmpty)
    }

    @Test func noCompatiblePlatform() throws {
        let p = try problems(M.bytes(.sevSNP), .native)
        #expect(codes(p, .error) == ["no-compatible-platform"])
        #expect(p[0].message.contains("IGVM file does not describe a compatible supported platform"))
    }

    @Test func weakerPlatformIsAFallbackWarning() throws {
        #expect(codes(try problems(M.bytes(.sev), .sevSNP), .warning) == ["platform-fallback"])
    }

    @Test func qemuVersionGates() throws {
        #expect(codes(try problems(M.bytes(), qemu: QEMUVersion(major: 10, minor: 0, micro: 2)), .error) == ["qemu-version"])
        #expect(codes(try problems(M.bytes(.native), .native, qemu: QEMUVersion(major: 10, minor: 1)), .error) == ["qemu-version"])
    }

    @Test func headerWithoutHandlerDependsOnVersion() throws {
        let b = M.bytes { $0.add(M.area(0)); $0.add(.parameter(IGVMParameter(kind: .madt, parameterAreaIndex: 0, byteOffset: 0))); $0.add(M.insert(0)) }
        let old = try problems(b)
        #expect(codes(old, .error) == ["unhandled-header"])
        #expect(old[0].message.contains("IGVM_VHT_MADT") && old[0].offset == 0x80)
        #expect(codes(try problems(b, qemu: QEMUVersion(major: 11, minor: 0)), .error).isEmpty)
    }

    @Test func vpContextIsNotSupportedOnSEV() throws {
        let b = M.bytes(.sev) { $0.add(M.vp(1, gpa: 0), data: []) }
        #expect(codes(try problems(b, .sev), .error) == ["directive-platform"])
    }

    @Test func secretsPageNeedsSNP() throws {
        let b = M.bytes(.sevES) { $0.add(.pageData(IGVMPageData(gpa: 0x2000, compatibilityMask: 1, dataType: .secrets))) }
        #expect(codes(try problems(b, .sevES), .error) == ["page-type"])
    }

    @Test func vmsaGPA() throws {
        let b = M.bytes { $0.add(M.vp(1, gpa: 0x1000), data: Self.snpVMSA()) }
        #expect(codes(try problems(b), .error) == ["vmsa-gpa"])
    }

    @Test func vmsaFieldsOutsideQEMUsList() throws {
        let b = M.bytes { $0.add(M.vp(1), data: Self.snpVMSA { $0.setU64(0x1234, at: 0x240) }) }  // cr2
        let p = try problems(b)
        #expect(codes(p, .error) == ["vmsa-fields"])
        #expect(p[0].message.contains("0x240-0x241"))
    }

    @Test(arguments: [(IGVMPlatformType.sevSNP, UInt64(0)), (.sevES, 1)])
    func sevFeaturesMatchSNP(platform: IGVMPlatformType, features: UInt64) throws {
        let b = M.bytes(platform) { $0.add(M.vp(1), data: Self.snpVMSA { $0.sevFeatures = features }) }
        #expect(codes(try problems(b, platform), .error).contains("sev-features"))
    }

    @Test func vmsaCountMatchesVCPUs() throws {
        let b = M.bytes { $0.add(M.vp(1), data: Self.snpVMSA()); $0.add(M.vp(1, index: 1), data: Self.snpVMSA()) }
        #expect(codes(try problems(b, vcpus: 4), .error) == ["vmsa-count"])
        #expect(codes(try problems(b, vcpus: 1), .error) == ["vmsa-index", "vmsa-count"])
        #expect(try problems(b, vcpus: 2).isEmpty)
    }

    @Test func vmsaShouldBeLast() throws {
        let b = M.bytes { $0.add(M.vp(1), data: Self.snpVMSA()); $0.add(.pageData(IGVMPageData(gpa: 0x5000, compatibilityMask: 1))) }
        #expect(codes(try problems(b), .warning) == ["vmsa-not-last"])
    }

    /// QEMU keeps the latest page run pending until the next PAGE_DATA, so an insert after pages
    /// is measured before them (SEV-SNP); an insert before any page is in file order.
    @Test func insertAfterAPendingRun() throws {
        let b = M.bytes { $0.add(M.area(0)); $0.add(M.insert(0)); $0.add(.pageData(IGVMPageData(gpa: 0x2000, compatibilityMask: 1))) }
        let p = try problems(b)
        #expect(codes(p, .warning) == ["insert-splits-run"])
        #expect(p[0].offset == 0x80 && p[0].message.contains("from offset 0x48"))
        // Unmeasured on SEV-ES: no warning there.
        #expect(try problems(M.bytes(.sevES) { $0.initializations = [.guestPolicy(policy: 0x5, compatibilityMask: 1)]; $0.add(M.area(0)); $0.add(M.insert(0)) }, .sevES).isEmpty)
        // Insert before any page data.
        var w = IGVMWriter()
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: .sevSNP)]
        w.initializations = [.guestPolicy(policy: 0x30000, compatibilityMask: 1)]
        w.add(M.area(0)); w.add(M.insert(0)); w.add(.pageData(IGVMPageData(gpa: 0x2000, compatibilityMask: 1)))
        w.trailingData = [1]
        #expect(try problems(w.serialize()).isEmpty)
    }

    @Test(arguments: [UInt64(0x10000), 0x70000, 0x4_0003_0000])
    func snpPolicyRules(policy: UInt64) throws {
        let b = M.bytes { $0.initializations = [.guestPolicy(policy: policy, compatibilityMask: 1)] }
        #expect(codes(try problems(b), .error) == ["snp-policy"])
    }

    @Test func policyDiffersFromConfig() throws {
        #expect(codes(try problems(M.bytes(), policy: 0x30001), .error) == ["policy-mismatch"])
    }

    /// libigvm 0.4.0 keeps IS_2MB_PAGE and QEMU places a 2 MiB page (`qigvm_process_mem_region`).
    @Test func twoMegabytePageIsAWarning() throws {
        let b = M.bytes { $0.add(.pageData(IGVMPageData(gpa: 0x200000, compatibilityMask: 1, flags: .is2MBPage))) }
        #expect(codes(try problems(b), .warning) == ["2mb-page"])
        #expect(codes(try problems(b), .error).isEmpty)
    }

    @Test func parameterOffsetOutsideArea() throws {
        let b = M.bytes { $0.add(M.area(0)); $0.add(.parameter(IGVMParameter(kind: .vpCount, parameterAreaIndex: 0, byteOffset: 0xFFE))); $0.add(M.insert(0)) }
        #expect(codes(try problems(b), .error) == ["parameter-offset"])
    }

    static func idBlock(version: UInt32 = 1, algorithm: UInt32 = 1, curve: UInt32 = 2) -> IGVMDirective {
        let key = IGVMSNPPublicKey(curve: curve, reserved: 0, qx: [], qy: [])
        let sig = IGVMSNPSignature(r: [], s: [])
        return .snpIDBlock(IGVMSNPIDBlock(
            compatibilityMask: 1, authorKeyEnabled: 0, reserved: [0, 0, 0], ld: [], familyID: [], imageID: [],
            version: version, guestSVN: 0, idKeyAlgorithm: algorithm, authorKeyAlgorithm: 0, idKeySignature: sig,
            idPublicKey: key, authorKeySignature: sig, authorPublicKey: IGVMSNPPublicKey(curve: 0, reserved: 0, qx: [], qy: [])))
    }

    @Test func idBlockChecks() throws {
        #expect(try problems(M.bytes { $0.add(Self.idBlock()) }).isEmpty)
        #expect(codes(try problems(M.bytes { $0.add(Self.idBlock(version: 2)) }), .warning) == ["id-block-version"])
        #expect(codes(try problems(M.bytes { $0.add(Self.idBlock(algorithm: 2)) }), .error) == ["id-block-algorithm"])
        #expect(codes(try problems(M.bytes { $0.add(Self.idBlock(curve: 1)) }), .error) == ["id-block-curve"])
        #expect(codes(try problems(M.bytes { $0.add(Self.idBlock()); $0.add(Self.idBlock()) }), .error) == ["id-block-multiple"])
    }

    @Test func idBlockLaunchDigest() throws {
        let file = try IGVMFile(bytes: M.bytes { $0.add(Self.idBlock()) })
        let digest = [UInt8](repeating: 0xAB, count: 48)
        let p = IGVMValidator(platform: .sevSNP, qemuVersion: Self.v10_2, expectedLaunchDigest: digest).validate(file)
        #expect(codes(p, .error) == ["id-block-ld"])
    }

    /// Spec rules libigvm does not enforce are warnings: VP_CONTEXT padding, header offset.
    @Test func layoutWarnings() throws {
        let b = M.bytes { $0.add(M.vp(1), data: Self.snpVMSA()) }
        let padded = M.patched(UInt32(1), at: 0x68 + 8 + 20, b)
        #expect(codes(try problems(padded), .warning) == ["header-padding"])
        // Variable headers moved to offset 0x1C (4 bytes of slack after the fixed header).
        var moved = Array(b[0..<0x18]) + [0, 0, 0, 0] + Array(b[0x18...])
        moved.replaceSubrange(0x8..<0xC, with: [0x1C, 0, 0, 0])
        let total = UInt32(moved.count)
        moved.replaceSubrange(0x10..<0x14, with: withUnsafeBytes(of: total.littleEndian, Array.init))
        // File offsets of data move by 4 too: patch the VMSA's file_offset.
        let vmsaOffset = 0x1C + 0x50 + 8 + 0xC
        let old = moved[vmsaOffset..<(vmsaOffset + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        moved.replaceSubrange(vmsaOffset..<(vmsaOffset + 4), with: withUnsafeBytes(of: (old + 4).littleEndian, Array.init))
        IGVMChecksum.repair(&moved)
        #expect(codes(try problems(moved), .warning) == ["variable-header-offset"])
    }

    @Test func qemuVersionParsing() {
        #expect(QEMUVersion("10.2.2 (Debian 1:10.2.2+ds-1)") == QEMUVersion(major: 10, minor: 2, micro: 2))
        #expect(QEMUVersion("11.0") == QEMUVersion(major: 11, minor: 0))
        #expect(QEMUVersion("ten") == nil && QEMUVersion("10") == nil)
    }
}
