import IGVM
import Testing

/// One minimal file per rule of libigvm's `IgvmFile::new_from_binary` (microsoft/igvm
/// `igvm/src/lib.rs`; docs/background.md, "What libigvm rejects"): it breaks only that
/// rule, and the error names the rule, the byte offset and the IGVMAPI code QEMU prints.
struct RuleCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: @Sendable () -> [UInt8]
    let rule: IGVMParseRule
    let code: Int32
    let offset: Int
    var testDescription: String { name }

    init(_ name: String, _ rule: IGVMParseRule, _ code: Int32, at offset: Int, _ bytes: @escaping @Sendable () -> [UInt8]) {
        self.name = name
        self.rule = rule
        self.code = code
        self.offset = offset
        self.bytes = bytes
    }
}

@Suite struct ParseRuleTests {
    typealias M = MiniFile

    static let cases: [RuleCase] = [
        // Fixed header: size, magic, version, total size, section bounds, checksum.
        RuleCase("16-byte file (libigvm's C test)", .fileTooSmall, -16, at: 0) { Array(1...16) },
        RuleCase("bad magic", .badMagic, -16, at: 0) { M.patched(UInt8(0x4A), at: 0) },
        RuleCase("format version 3", .unsupportedFormatVersion, -16, at: 4) { M.patched(UInt32(3), at: 4) },
        RuleCase("V2 header cut short", .fileTooSmall, -16, at: 0) { Array(M.bytes(version: 2).prefix(28)) },
        RuleCase("V2 architecture 2", .unsupportedArchitecture, -16, at: 0x18) { M.patched(UInt32(2), at: 0x18, M.bytes(version: 2)) },
        RuleCase("V2 page size 8 KiB", .unsupportedPageSize, -25, at: 0x1C) { M.patched(UInt32(0x2000), at: 0x1C, M.bytes(version: 2)) },
        RuleCase("total_file_size short of the file", .totalFileSizeMismatch, -16, at: 0x10) { M.bytes() + [0] },
        RuleCase("variable headers start past the end", .variableHeaderOffsetOutOfFile, -16, at: 8) {
            let b = M.bytes(); return M.patched(UInt32(b.count), at: 8, b)
        },
        RuleCase("no file data section", .noFileDataSection, -16, at: 0xC) {
            var w = M.writer(); w.trailingData = []; return w.serialize()
        },
        RuleCase("variable header size wraps past 4 GiB", .variableHeaderSectionOutOfFile, -16, at: 0xC) {
            M.patched(UInt32(0xFFFF_FFF0), at: 0xC)
        },
        RuleCase("checksum", .checksumMismatch, -18, at: 0x14) { M.patched(UInt32(0xDEAD_BEEF), at: 0x14, repair: false) },
        // Variable-header framing: type, section order, length, truncation.
        RuleCase("4 stray bytes at the end of the section", .truncatedVariableHeader, -17, at: 0x68) { M.patched(UInt32(0x50 + 4), at: 0xC) },
        RuleCase("type 0x201 between sections", .typeOutsideSections, -17, at: 0x48) { M.patched(UInt32(0x201), at: 0x48) },
        RuleCase("optional bit is not honoured", .typeOutsideSections, -17, at: 0x48) { M.patched(UInt32(0x8000_0302), at: 0x48) },
        RuleCase("platform header after initialization", .sectionOrder, -17, at: 0x48) { M.patched(UInt32(0x001), at: 0x48) },
        RuleCase("PAGE_DATA length 20", .unknownTypeOrLength, -11, at: 0x48) { M.patched(UInt32(20), at: 0x4C) },
        RuleCase("unknown platform type code", .unknownTypeOrLength, -9, at: 0x18) { M.patched(UInt32(0x002), at: 0x18) },
        RuleCase("unknown initialization type", .unknownTypeOrLength, -10, at: 0x30) { M.patched(UInt32(0x107), at: 0x30) },
        RuleCase("RESERVED_DO_NOT_USE directive", .unknownTypeOrLength, -11, at: 0x48) { M.patched(UInt32(0x306), at: 0x48) },
        RuleCase("CORIM without the corim feature", .unknownTypeOrLength, -10, at: 0x30) { M.patched(UInt32(0x104), at: 0x30) },
        RuleCase("payload cut by the section end", .truncatedPayload, -11, at: 0x48) { M.patched(UInt32(0x50 - 8), at: 0xC) },
        RuleCase("VP_CONTEXT padding cut by the section end", .truncatedPayload, -11, at: 0x68) {
            let b = M.bytes { $0.add(M.vp(1), data: SEVVMSA.resetState(eip: 0xFFFF_FFF0, sevFeatures: 1).bytes) }
            return M.patched(UInt32(0x50 + 8 + 20), at: 0xC, b)
        },
        // Platform headers.
        RuleCase("platform mask with two bits", .invalidCompatibilityMask, -9, at: 0x20) { M.patched(UInt32(3), at: 0x20) },
        RuleCase("highest_vtl 1", .invalidVTL, -9, at: 0x24) { M.patched(UInt8(1), at: 0x24) },
        RuleCase("platform type 7", .invalidPlatformType, -9, at: 0x25) { M.patched(UInt8(7), at: 0x25) },
        RuleCase("platform version 2", .invalidPlatformVersion, -9, at: 0x26) { M.patched(UInt16(2), at: 0x26) },
        RuleCase("native shared GPA boundary", .invalidSharedGPABoundary, -9, at: 0x28) { M.patched(UInt64(0x1000), at: 0x28, M.bytes(.native)) },
        RuleCase("two sev-snp platforms", .duplicatePlatformType, -12, at: 0x30) {
            M.bytes { $0.platforms.append(IGVMSupportedPlatform(compatibilityMask: 2, platformType: .sevSNP)) }
        },
        RuleCase("no platform header", .noPlatformHeaders, -5, at: 0x18) { M.bytes { $0.platforms = [] } },
        RuleCase("sev-snp in an AArch64 file", .platformArchitecture, -23, at: 0x2D) { M.bytes(version: 2, arch: 1) },
        // Initialization headers.
        RuleCase("GUEST_POLICY reserved", .reservedNotZero, -10, at: 0x44) { M.patched(UInt32(1), at: 0x44) },
        RuleCase("relocation alignment not 4K", .relocationAlignment, -10, at: 0x58) {
            M.bytes { $0.initializations.append(M.region(gpa: 0x100000, alignment: 0x800)) }
        },
        RuleCase("relocation gpa not aligned", .relocationAddress, -10, at: 0x60) {
            M.bytes { $0.initializations.append(M.region(gpa: 0x101000, alignment: 0x2000)) }
        },
        RuleCase("relocation size not 4K", .unalignedSize, -10, at: 0x68) {
            M.bytes { $0.initializations.append(M.region(gpa: 0x100000, size: 0x1800)) }
        },
        RuleCase("page-table used_size > size", .pageTableUsedSizeTooLarge, -10, at: 0x68) {
            M.bytes { $0.initializations.append(M.pageTable(used: 0x3000)) }
        },
        RuleCase("page-table vtl 3", .invalidVTL, -10, at: 0x56) { M.bytes { $0.initializations.append(M.pageTable(vtl: 3)) } },
        RuleCase("page-table gpa not 4K", .unalignedAddress, -10, at: 0x58) {
            M.bytes { $0.initializations.append(M.pageTable(gpa: 0x10800)) }
        },
        RuleCase("CCA zeroes and ones overlap", .onesZeroesOverlap, -10, at: 0x58) {
            M.bytes { $0.initializations.append(M.cca(zeroes: 1, ones: 1)) }
        },
        RuleCase("CCA_POLICY in an x64 file", .headerArchitecture, -24, at: 0x48) { M.bytes { $0.initializations.append(M.cca()) } },
        RuleCase("CCA_POLICY mask without a CCA platform", .ccaPolicyMask, -28, at: 0x58) {
            M.bytes(.cca, version: 2, arch: 1) { $0.initializations.append(M.cca(mask: 2)) }
        },
        RuleCase("two page-table relocations for a mask", .multiplePageTableRelocations, -19, at: 0x70) {
            M.bytes { $0.initializations += [M.pageTable(), M.pageTable(gpa: 0x20000)] }
        },
        RuleCase("overlapping relocation regions", .relocationRegionsOverlap, -20, at: 0x80) {
            M.bytes { $0.initializations += [M.region(gpa: 0x100000), M.region(gpa: 0x101000)] }
        },
        RuleCase("relocation without a VBS VP context", .noMatchingVPContext, -22, at: 0x18) {
            M.bytes { $0.initializations.append(M.region(gpa: 0x100000)) }
        },
        // Directives.
        RuleCase("PAGE_DATA reserved", .reservedNotZero, -11, at: 0x66) { M.patched(UInt16(1), at: 0x66) },
        RuleCase("PAGE_DATA gpa not 4K", .unalignedAddress, -11, at: 0x50) { M.patched(UInt64(0x1001), at: 0x50) },
        RuleCase("PAGE_DATA data type 4", .invalidPageDataType, -11, at: 0x64) { M.patched(UInt16(4), at: 0x64) },
        RuleCase("PAGE_DATA file_offset inside the headers", .fileDataOutOfBounds, -11, at: 0x5C) { M.patched(UInt32(0x18), at: 0x5C) },
        RuleCase("PAGE_DATA data runs past the end", .fileDataOutOfBounds, -11, at: 0x5C) { M.patched(UInt32(0x68), at: 0x5C) },
        RuleCase("PARAMETER_AREA size not 4K", .unalignedSize, -11, at: 0x70) { M.bytes { $0.add(M.area(0, size: 0x800)) } },
        RuleCase("parameter used before its area", .parameterAreaIndex, -13, at: 0x70) {
            M.bytes { $0.add(.parameter(IGVMParameter(kind: .vpCount, parameterAreaIndex: 5, byteOffset: 0))) }
        },
        RuleCase("parameter area declared twice", .parameterAreaIndex, -13, at: 0x90) { M.bytes { $0.add(M.area(0)); $0.add(M.area(0)) } },
        RuleCase("parameter area inserted twice", .parameterAreaIndex, -13, at: 0xAC) {
            M.bytes { $0.add(M.area(0)); $0.add(M.insert(0)); $0.add(M.insert(0, gpa: 0x30000)) }
        },
        RuleCase("PARAMETER_INSERT gpa not 4K", .unalignedAddress, -11, at: 0x88) { M.bytes { $0.add(M.area(0)); $0.add(M.insert(0, gpa: 0x20010)) } },
        RuleCase("PARAMETER_INSERT inside the page-table region", .parameterInsertInPageTable, -21, at: 0xB0) {
            M.bytes { $0.initializations.append(M.pageTable()); $0.add(M.area(0)); $0.add(M.insert(0, gpa: 0x11000)) }
        },
        RuleCase("REQUIRED_MEMORY reserved", .reservedNotZero, -11, at: 0x84) {
            M.patched(UInt32(1), at: 0x84, M.bytes { $0.add(.requiredMemory(IGVMRequiredMemory(gpa: 0, compatibilityMask: 1, numberOfBytes: 0x1000, flags: 0))) })
        },
        RuleCase("REQUIRED_MEMORY size not 4K", .unalignedSize, -11, at: 0x7C) {
            M.bytes { $0.add(.requiredMemory(IGVMRequiredMemory(gpa: 0, compatibilityMask: 1, numberOfBytes: 0x800, flags: 0))) }
        },
        RuleCase("ERROR_RANGE gpa not 4K", .unalignedAddress, -11, at: 0x70) {
            M.bytes { $0.add(.errorRange(IGVMErrorRange(gpa: 0x10, compatibilityMask: 1, sizeBytes: 0x1000))) }
        },
        RuleCase("VP_CONTEXT mask of no single platform", .vpContextPlatform, -11, at: 0x78) { M.bytes { $0.add(M.vp(3), data: []) } },
        RuleCase("SNP VMSA gpa not 4K", .unalignedAddress, -11, at: 0x70) { M.bytes { $0.add(M.vp(1, gpa: 0x123), data: []) } },
        RuleCase("VMSA file_offset 0", .fileDataOutOfBounds, -11, at: 0x7C) {
            M.patched(UInt32(0), at: 0x7C, M.bytes { $0.add(M.vp(1), data: []) })
        },
        RuleCase("native VP context with bytes after its 232", .vpContextTrailingData, -11, at: 0x170) {
            var page = [UInt8](repeating: 0, count: 4096); page[300] = 1
            return M.bytes(.native) { $0.add(M.vp(1, gpa: 0), data: page) }
        },
    ]

    @Test(arguments: cases)
    func brokenRuleIsNamedWithOffsetAndCode(_ c: RuleCase) throws {
        let error = #expect(throws: IGVMParseError.self) { try IGVMFile(bytes: c.bytes()) }
        #expect(error?.rule == c.rule)
        #expect(error?.offset == c.offset, "offset \(String(error?.offset ?? -1, radix: 16))")
        #expect(error?.code.rawValue == c.code)
        let text = error.map { "\($0)" } ?? ""
        // Where libigvm panics QEMU prints no code; the text says QEMU aborts instead.
        let says = error?.outcome == .panics ? "QEMU aborts" : "\(c.code)"
        #expect(text.contains(c.rule.rawValue) && text.contains("0x" + String(c.offset, radix: 16, uppercase: true))
                && text.contains(says))
    }

    /// libigvm panics (the C API aborts QEMU) instead of returning an error: a u32 wrap of the
    /// variable-header bounds (`IgvmFile::new_from_binary`), a VBS context's VTL mix, vp_index
    /// or file_offset (`IgvmDirectiveHeader::new_from_binary_split`), a relocation alignment of 0.
    @Test func panicsAreMarked() throws {
        let panicking: [[UInt8]] = [
            MiniFile.patched(UInt32(0xFFFF_FFF0), at: 0xC),
            RuleFile.vbs([(0, RuleFile.rip), (2, RuleFile.rsp)]),
            RuleFile.vbs([(0, RuleFile.rip)], vpIndex: 1),
            RuleFile.vbsContextPastTheEnd(),
            MiniFile.bytes { $0.initializations.append(MiniFile.region(gpa: 0x100000, alignment: 0)) },
        ]
        for bytes in panicking {
            let error = #expect(throws: IGVMParseError.self) { try IGVMFile(bytes: bytes) }
            #expect(error?.outcome == .panics && error?.qemuMessage == nil, "\(String(describing: error))")
        }
        let refused = #expect(throws: IGVMParseError.self) { try IGVMFile(bytes: MiniFile.patched(UInt32(3), at: 4)) }
        #expect(refused?.outcome == .returnsError && refused?.qemuMessage == "Unable to parse IGVM file FILE: -16")
    }

    /// VBS registers are converted with libigvm's `X86Register::try_from` list (registers.rs).
    @Test func vbsRegistersFromLibigvmsList() throws {
        #expect(throws: Never.self) { try IGVMFile(bytes: RuleFile.vbs([(0, RuleFile.rip), (0, RuleFile.rsp), (0, 0x0008_007A)])) }
        let error = #expect(throws: IGVMParseError.self) { try IGVMFile(bytes: RuleFile.vbs([(0, 0x0006_0006)])) }  // LDTR
        #expect(error?.rule == .vbsRegister && error?.code == .invalidBinaryDirectiveHeader)
    }

    /// What libigvm 0.4.0 (QEMU 10.1/10.2) refuses and main accepts, or refuses otherwise: a
    /// CCA platform type or policy header, an SEV VMSA page with bytes after the 0x670-byte save area.
    @Test func libigvm040DiffersFromMain() throws {
        let cca = MiniFile.bytes(.cca, version: 2, arch: 1)
        #expect(throws: Never.self) { try IGVMFile(bytes: cca, release: .main) }
        let old = #expect(throws: IGVMParseError.self) { try IGVMFile(bytes: cca, release: .v0_4_0) }
        #expect(old?.rule == .invalidPlatformType && old?.code.rawValue == -9)

        let policy = MiniFile.bytes { $0.initializations.append(MiniFile.cca()) }
        #expect((try? IGVMFile(bytes: policy, release: .main)) == nil)  // x64 file: INVALID_HEADER_ARCH there
        let unknown = #expect(throws: IGVMParseError.self) { try IGVMFile(bytes: policy, release: .v0_4_0) }
        #expect(unknown?.rule == .unknownTypeOrLength && unknown?.code.rawValue == -10 && unknown?.offset == 0x48)

        let tail = RuleFile.snpVMSAWithTail()
        #expect(throws: Never.self) { try IGVMFile(bytes: tail, release: .main) }
        let rejected = #expect(throws: IGVMParseError.self) { try IGVMFile(bytes: tail, release: .v0_4_0) }
        #expect(rejected?.rule == .vpContextTrailingData && rejected?.code.rawValue == -11)
    }

    @Test func baseFileIsAccepted() throws {
        let file = try IGVMFile(bytes: MiniFile.bytes())
        #expect(file.platformOffsets == [0x18] && file.initializationOffsets == [0x30] && file.directiveOffsets == [0x48])
    }

    /// libigvm skips VP_CONTEXT's 4 padding bytes without checking them; so do we.
    @Test func nonZeroVPContextPaddingIsAccepted() throws {
        let b = MiniFile.bytes { $0.add(MiniFile.vp(1), data: SEVVMSA.resetState(eip: 0xFFFF_FFF0, sevFeatures: 1).bytes) }
        let file = try IGVMFile(bytes: MiniFile.patched(UInt32(0xFFFF_FFFF), at: 0x68 + 8 + 20, b))
        #expect(file.directives.count == 2)
    }
}
