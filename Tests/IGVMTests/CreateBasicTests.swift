import IGVM
import Testing

/// microsoft/igvm's `igvm_c/test_data` `create_basic` file, reproduced with `IGVMWriter`, and the
/// expectations of its C tests (`igvm_c/tests/igvm_test.c`).
@Suite struct CreateBasicTests {
    static func createBasic() -> [UInt8] {
        var w = IGVMWriter()
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: .vsmIsolation)]
        w.initializations = [.guestPolicy(policy: 0x30000, compatibilityMask: 1), .guestPolicy(policy: 0x30000, compatibilityMask: 2)]
        let data = (1...4).map { [UInt8](repeating: UInt8($0), count: 4096) }
        for (i, page) in [0, 1, 2, 4, 10, 11, 12, 14].enumerated() {
            w.add(.pageData(IGVMPageData(gpa: UInt64(page) * 4096, compatibilityMask: 1)), data: data[i % 4])
        }
        w.add(.parameterArea(IGVMParameterArea(numberOfBytes: 4096, parameterAreaIndex: 0, fileOffset: 0)))
        w.add(.parameter(IGVMParameter(kind: .vpCount, parameterAreaIndex: 0, byteOffset: 0)))
        w.add(.parameterInsert(IGVMParameterInsert(gpa: 20 * 4096, compatibilityMask: 1, parameterAreaIndex: 0)))
        return w.serialize()
    }

    @Test func headerCountsMatchTheCTests() throws {
        let file = try IGVMFile(bytes: Self.createBasic())
        #expect(file.platforms.count == 1)
        #expect(file.initializations.count == 2)
        #expect(file.directives.count == 11)
        #expect(file.platforms[0].platformType == .vsmIsolation && file.platforms[0].compatibilityMask == 1)
        #expect(file.initializations == [.guestPolicy(policy: 0x30000, compatibilityMask: 1), .guestPolicy(policy: 0x30000, compatibilityMask: 2)])
    }

    @Test func layoutDeduplicatesFileData() throws {
        let bytes = Self.createBasic()
        let file = try IGVMFile(bytes: bytes)
        // 24 fixed + 24 platform + 2×24 policy + 8×32 pages + 24 area + 16 vp count + 24 insert.
        #expect(file.fileDataStart == 24 + 392)
        // Four distinct 4 KiB blocks: pages 10-14 reuse the data of pages 0-4.
        #expect(bytes.count == 24 + 392 + 4 * 4096)
        guard case .pageData(let p0) = file.directives[0], case .pageData(let p4) = file.directives[4] else {
            Issue.record("directives 0 and 4 are not PAGE_DATA"); return
        }
        #expect(p0.fileOffset == UInt32(file.fileDataStart) && p4.fileOffset == p0.fileOffset)
    }

    /// `test_directive_header`: igvm_get_header(DIRECTIVE, 1) is PAGE_DATA gpa 0x1000, NORMAL,
    /// mask 1, file_offset 0 (offsets are relative to the header's own data), flags 0.
    @Test func directiveOneAsTheCAPIReturnsIt() throws {
        let file = try IGVMFile(bytes: Self.createBasic())
        let h = file.cAPIDirectiveHeader(at: 1)
        func u32(_ o: Int) -> UInt32 { h[o..<(o + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u64(_ o: Int) -> UInt64 { h[o..<(o + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        #expect(u32(0) == IGVMHeaderType.pageData.rawValue && u32(4) == 24)
        #expect(u64(8) == 0x1000)  // gpa
        #expect(u32(8 + 8) == 1)  // compatibility_mask
        #expect(u32(8 + 0xC) == 0)  // file_offset
        #expect(u32(8 + 0x10) == 0)  // flags
        #expect(h[8 + 0x14] == 0 && h[8 + 0x15] == 0)  // data_type NORMAL
        guard case .parameterArea(let area) = file.directives[8], case .parameter(let count) = file.directives[9],
              case .parameterInsert(let insert) = file.directives[10] else {
            Issue.record("directives 8-10 are not area, VP count, insert"); return
        }
        #expect(area.numberOfBytes == 0x1000 && area.parameterAreaIndex == 0 && area.fileOffset == 0)
        #expect(count.kind == .vpCount && count.parameterAreaIndex == 0 && count.byteOffset == 0)
        #expect(insert.gpa == 0x14000 && insert.compatibilityMask == 1 && insert.parameterAreaIndex == 0)
    }

    /// `test_associated_data` / `test_no_associated_data`.
    @Test func associatedData() throws {
        let file = try IGVMFile(bytes: Self.createBasic())
        let data = try #require(file.cAPIDirectiveData(at: 3))
        #expect(data.count == 0x1000 && data.allSatisfy { $0 == 4 })
        #expect(file.cAPIDirectiveData(at: 9) == nil)
    }

    @Test func rewritingIsByteIdentical() throws {
        let bytes = Self.createBasic()
        #expect(try IGVMFile(bytes: bytes).writer().serialize() == bytes)
    }
}

@Suite struct InspectorTests {
    @Test func createBasicReport() throws {
        let report = IGVMInspector.report(try IGVMFile(bytes: CreateBasicTests.createBasic()))
        #expect(report.platforms.count == 1)
        let p = report.platforms[0]
        #expect(p.type == .vsmIsolation && p.compatibilityMask == 1 && p.policy == 0x30000 && p.pageCount == 8)
        // Pages 0-2, 4, 10-12, 14 merge into four ranges.
        #expect(p.gpaRanges == [0x0..<0x3000, 0x4000..<0x5000, 0xA000..<0xD000, 0xE000..<0xF000])
        #expect(report.directiveCounts.map(\.type) == ["IGVM_VHT_PARAMETER_AREA", "IGVM_VHT_PAGE_DATA", "IGVM_VHT_PARAMETER_INSERT", "IGVM_VHT_VP_COUNT_PARAMETER"])
        #expect(report.directiveCounts.map(\.count) == [1, 8, 1, 1])
        #expect(report.parameterAreas.count == 1)
        let area = report.parameterAreas[0]
        #expect(area.index == 0 && area.size == 0x1000 && area.insertedAt == 0x14000 && area.insertMask == 1)
        #expect(area.uses.map(\.kind) == ["IGVM_VHT_VP_COUNT_PARAMETER"] && area.uses.map(\.byteOffset) == [0])
        #expect(report.textLines.contains("parameter area 0: 0x1000 bytes, IGVM_VHT_VP_COUNT_PARAMETER@0x0, inserted at 0x14000 (mask 0x1)"))
        #expect(report.textLines.contains("    8 pages, 0 VMSAs, GPA ranges: 0x0-0x2FFF, 0x4000-0x4FFF, 0xA000-0xCFFF, 0xE000-0xEFFF"))
    }

    @Test func snpPolicyBitsAreNamed() {
        #expect(SNPPolicy(0x0B_0000 | 0x0105).setBitNames == ["smt", "reserved-must-be-one", "debug"])
        #expect(SNPPolicy(0x0B_0105).abiMajor == 1 && SNPPolicy(0x0B_0105).abiMinor == 5)
        #expect(SNPPolicy(0x30000).violations.isEmpty)
    }
}

@Suite struct ChecksumTests {
    /// CRC-32/ISO-HDLC check value (crc32fast, zlib).
    @Test func crc32CheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test func repairMakesABrokenChecksumValid() throws {
        var b = CreateBasicTests.createBasic()
        let good = Array(b[0x14..<0x18])
        b[0x14] ^= 0x5A
        #expect(throws: IGVMParseError.self) { _ = try IGVMFile(bytes: b) }
        #expect(IGVMChecksum.repair(&b))
        #expect(Array(b[0x14..<0x18]) == good)
        var short = [UInt8](repeating: 0, count: 10)
        #expect(IGVMChecksum.repair(&short) == false)
    }
}
