import Crypto
import IGVM
import Measure
import Testing

/// IGVM launch digests in QEMU's order and in igvmmeasure's file order, against chains
/// computed by hand here.
struct IGVMDigestTests {
    /// A directive of the test files, written with the IGVM module's IGVMWriter and parsed back
    /// with IGVMFile (libigvm's rules) before measuring.
    enum D {
        case pageData(gpa: UInt64, mask: UInt32, flags: UInt32, dataType: UInt16, data: [UInt8]?)
        case parameterArea(index: UInt32, size: UInt64)
        case parameterInsert(gpa: UInt64, mask: UInt32, areaIndex: UInt32)
        case vpContext(gpa: UInt64, mask: UInt32, vpIndex: UInt16, vmsa: [UInt8])
    }

    /// An IGVM file with an SEV-SNP platform (mask 1) and a native one (mask 2).
    static func file(_ directives: [D]) throws -> IGVMFile {
        var w = IGVMWriter()
        w.platforms = [
            IGVMSupportedPlatform(compatibilityMask: 1, platformType: .sevSNP),
            IGVMSupportedPlatform(compatibilityMask: 2, platformType: .native),
        ]
        w.initializations = [.guestPolicy(policy: 0x30000, compatibilityMask: 1)]
        for d in directives {
            switch d {
            case let .pageData(gpa, mask, flags, dataType, data):
                w.add(.pageData(IGVMPageData(
                    gpa: gpa, compatibilityMask: mask, flags: IGVMPageDataFlags(rawValue: flags),
                    dataType: IGVMPageDataType(rawValue: dataType)!)), data: data)
            case let .parameterArea(index, size):
                w.add(.parameterArea(IGVMParameterArea(numberOfBytes: size, parameterAreaIndex: index, fileOffset: 0)))
                w.add(.parameter(IGVMParameter(kind: .vpCount, parameterAreaIndex: index, byteOffset: 0)))
            case let .parameterInsert(gpa, mask, areaIndex):
                w.add(.parameterInsert(IGVMParameterInsert(gpa: gpa, compatibilityMask: mask, parameterAreaIndex: areaIndex)))
            case let .vpContext(_, mask, vpIndex, vmsa):
                w.add(.vpContext(IGVMVPContext(gpa: igvmKVMVMSAGPA, compatibilityMask: mask, fileOffset: 0, vpIndex: vpIndex, reserved: 0, format: .sevVMSA)), data: vmsa)
            }
        }
        return try IGVMFile(bytes: w.serialize())
    }

    static func measure(_ directives: [D], cpus: Int? = nil) throws -> IGVMLaunchMeasurement {
        try LaunchDigest.igvm(file: file(directives), cpus: cpus)
    }

    /// A hand-rolled chain: (type, gpa, page bytes or nil for no contents hash).
    static func chain(_ steps: [(UInt8, UInt64, [UInt8]?)]) -> [UInt8] {
        var ld = [UInt8](repeating: 0, count: 48)
        for (type, gpa, page) in steps {
            let contents = page.map { Array(SHA384.hash(data: $0)) } ?? [UInt8](repeating: 0, count: 48)
            ld = SNPPageInfoChainTests.sha384(SNPPageInfoChainTests.pageInfo(ld: ld, contents: contents, type: type, gpa: gpa))
        }
        return ld
    }

    static func page(_ fill: UInt8) -> [UInt8] { [UInt8](repeating: fill, count: 4096) }
    static let zeroPage = [UInt8](repeating: 0, count: 4096)
    static func vmsa(_ marker: UInt8) -> [UInt8] {
        var v = [UInt8](repeating: 0, count: 4096)
        v[0x3B0] = 1  // SEV_FEATURES.SNPActive
        v[0x310] = marker
        return v
    }

    @Test("A small file: data pages, a zero page, secrets, CPUID, an insert, two VMSAs — hand-computed")
    func smallFile() throws {
        let directives: [D] = [
            .pageData(gpa: 0x1000, mask: 1, flags: 0, dataType: 0, data: Self.page(1)),
            .pageData(gpa: 0x2000, mask: 1, flags: 0, dataType: 0, data: Array(Self.page(2).prefix(100))),
            .pageData(gpa: 0x3000, mask: 1, flags: 0, dataType: 0, data: nil),
            .pageData(gpa: 0x4000, mask: 1, flags: 0, dataType: 1, data: nil),
            .pageData(gpa: 0x5000, mask: 1, flags: 0, dataType: 2, data: Self.page(9)),
            .pageData(gpa: 0x6000, mask: 2, flags: 0, dataType: 0, data: Self.page(7)),  // other platform
            .parameterArea(index: 0, size: 0x2000),
            .parameterInsert(gpa: 0x10000, mask: 1, areaIndex: 0),
            .vpContext(gpa: 0xFFFF_FFFF_F000, mask: 1, vpIndex: 0, vmsa: Self.vmsa(0)),
            .vpContext(gpa: 0xFFFF_FFFF_F000, mask: 1, vpIndex: 1, vmsa: Self.vmsa(1)),
        ]
        var padded = Array(Self.page(2).prefix(100))
        padded += [UInt8](repeating: 0, count: 4096 - 100)
        // QEMU submits a page run only when the next page directive of the platform or the end
        // of the file ends it, so the CPUID page (the last run) is still pending when the insert
        // is measured; the insert covers both pages of its area.
        let qemu = Self.chain([
            (1, 0x1000, Self.page(1)), (1, 0x2000, padded), (1, 0x3000, Self.zeroPage), (5, 0x4000, nil),
            (4, 0x10000, nil), (4, 0x11000, nil), (6, 0x5000, nil),
            (2, 0xFFFF_FFFF_F000, Self.vmsa(0)), (2, 0xFFFF_FFFF_F000, Self.vmsa(1)),
        ])
        let file = Self.chain([
            (1, 0x1000, Self.page(1)), (1, 0x2000, padded), (1, 0x3000, Self.zeroPage), (5, 0x4000, nil), (6, 0x5000, nil),
            (4, 0x10000, nil),
            (2, 0xFFFF_FFFF_F000, Self.vmsa(0)), (2, 0xFFFF_FFFF_F000, Self.vmsa(1)),
        ])
        let m = try Self.measure(directives)
        #expect(m.cpus == 2)
        #expect(m.qemu.bytes == qemu)
        #expect(m.file.bytes == file)
        #expect(m.differences == [
            "PARAMETER_INSERT directive #8 (GPA 0x10000) comes while the page run of directives #4–#4 (GPA 0x5000) is still pending: QEMU measures the insert first and the run when it ends",
            "PARAMETER_INSERT directive #8 inserts a 2-page area: QEMU measures every page as UNMEASURED, igvmmeasure only the first",
        ])
    }

    @Test("A PARAMETER_INSERT inside a contiguous run is measured before the run by QEMU")
    func groupingCaveat() throws {
        let directives: [D] = [
            .parameterArea(index: 0, size: 0x1000),
            .pageData(gpa: 0x1000, mask: 1, flags: 0, dataType: 0, data: Self.page(1)),
            .pageData(gpa: 0x2000, mask: 1, flags: 0, dataType: 0, data: Self.page(2)),
            .parameterInsert(gpa: 0x8000, mask: 1, areaIndex: 0),
            .pageData(gpa: 0x3000, mask: 1, flags: 0, dataType: 0, data: Self.page(3)),
            .vpContext(gpa: 0xFFFF_FFFF_F000, mask: 1, vpIndex: 0, vmsa: Self.vmsa(0)),
        ]
        let m = try Self.measure(directives)
        // The insert breaks the index sequence, so page 0x3000 starts a new run: QEMU submits
        // the insert, then the run 0x1000–0x2000 (flushed by page 0x3000), then 0x3000.
        #expect(m.qemu.bytes == Self.chain([
            (4, 0x8000, nil), (1, 0x1000, Self.page(1)), (1, 0x2000, Self.page(2)), (1, 0x3000, Self.page(3)),
            (2, 0xFFFF_FFFF_F000, Self.vmsa(0)),
        ]))
        #expect(m.file.bytes == Self.chain([
            (1, 0x1000, Self.page(1)), (1, 0x2000, Self.page(2)), (4, 0x8000, nil), (1, 0x3000, Self.page(3)),
            (2, 0xFFFF_FFFF_F000, Self.vmsa(0)),
        ]))
        #expect(m.qemu != m.file)
        #expect(m.differences.count == 1)
        #expect(m.differences.first?.contains("PARAMETER_INSERT directive #4") == true)
    }

    @Test("Runs break on data/zero, flags, type, GPA gaps; results equal in both orders")
    func runBreaksKeepOrder() throws {
        let directives: [D] = [
            .pageData(gpa: 0x1000, mask: 1, flags: 0, dataType: 0, data: Self.page(1)),
            .pageData(gpa: 0x2000, mask: 1, flags: 0, dataType: 0, data: nil),
            .pageData(gpa: 0x3000, mask: 1, flags: 2, dataType: 0, data: Self.page(3)),  // unmeasured
            .pageData(gpa: 0x9000, mask: 1, flags: 0, dataType: 0, data: Self.page(4)),
            .vpContext(gpa: 0xFFFF_FFFF_F000, mask: 1, vpIndex: 0, vmsa: Self.vmsa(0)),
        ]
        let m = try Self.measure(directives)
        #expect(m.qemu == m.file)
        #expect(m.differences.isEmpty)
        #expect(m.qemu.bytes == Self.chain([
            (1, 0x1000, Self.page(1)), (1, 0x2000, Self.zeroPage), (4, 0x3000, nil), (1, 0x9000, Self.page(4)),
            (2, 0xFFFF_FFFF_F000, Self.vmsa(0)),
        ]))
    }

    @Test("More vCPUs than VMSAs is refused; fewer measures only the first ones")
    func vcpuCount() throws {
        let directives: [D] = [
            .pageData(gpa: 0x1000, mask: 1, flags: 0, dataType: 0, data: Self.page(1)),
            .vpContext(gpa: 0xFFFF_FFFF_F000, mask: 1, vpIndex: 0, vmsa: Self.vmsa(0)),
            .vpContext(gpa: 0xFFFF_FFFF_F000, mask: 1, vpIndex: 1, vmsa: Self.vmsa(1)),
        ]
        #expect(throws: MeasurementError.self) {
            try Self.measure(directives, cpus: 3)
        }
        let one = try Self.measure(directives, cpus: 1)
        #expect(one.qemu.bytes == Self.chain([(1, 0x1000, Self.page(1)), (2, 0xFFFF_FFFF_F000, Self.vmsa(0))]))
        #expect(one.differences.count == 1)
    }
}

/// An SNP IGVM built from the AmdSev OVMF fixture by the IGVM module's OVMFIGVMBuilder
/// (buildigvm's layout), measured and compared with a chain written out page by page.
struct BuiltIGVMDigestTests {
    @Test("OVMFIGVMBuilder output: digest equals the hand-computed chain, in both orders")
    func builtFromFixture() throws {
        let ovmf = try OVMFImage(contentsOf: Fixtures.amdSevOVMF)
        let bytes = try OVMFIGVMBuilder(platforms: [.sevSNP], vcpus: 2).build(ovmf)
        let m = try LaunchDigest.igvm(file: IGVMFile(bytes: bytes))

        var steps: [(UInt8, UInt64, [UInt8]?)] = [(1, 0xFFFF_F000, ovmf.bytes)]
        func zeroPages(_ gpa: UInt64, _ size: UInt64) {
            for a in stride(from: gpa, to: gpa + size, by: 0x1000) { steps.append((1, a, IGVMDigestTests.zeroPage)) }
        }
        zeroPages(0x800000, 0x9000)  // SEC_MEM, measured NORMAL (QEMU's IGVM path), not ZERO
        zeroPages(0x80A000, 0x3000)
        steps.append((5, 0x80D000, nil))  // SECRETS
        steps.append((6, 0x80E000, nil))  // CPUID
        zeroPages(0x80F000, 0x1000)  // SVSM CAA
        zeroPages(0x810000, 0x1000)  // kernel hashes (empty: QEMU fills nothing with IGVM)
        zeroPages(0x811000, 0xF000)
        steps.append((2, 0xFFFF_FFFF_F000, SEVVMSA.resetState(eip: 0xFFFF_FFF0, sevFeatures: 1).bytes))
        steps.append((2, 0xFFFF_FFFF_F000, SEVVMSA.resetState(eip: 0x80B004, sevFeatures: 1).bytes))

        #expect(m.cpus == 2)
        #expect(m.qemu.bytes == IGVMDigestTests.chain(steps))
        #expect(m.file == m.qemu)
        #expect(m.differences.isEmpty)
        // One vCPU: only the BSP's VMSA, and the orders now disagree on the VMSA count.
        let one = try LaunchDigest.igvm(file: IGVMFile(bytes: bytes), cpus: 1)
        #expect(one.qemu.bytes == IGVMDigestTests.chain(Array(steps.dropLast())))
        #expect(one.file == m.file)
    }
}
