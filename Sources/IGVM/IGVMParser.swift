import Numerals

/// libigvm's `IgvmFile::new_from_binary`, check for check (microsoft/igvm `igvm/src/lib.rs`;
/// docs/background.md, "What libigvm rejects"). Phase 1 walks the headers, decoding and
/// checking each on its own; phase 2 checks the platform set, phase 3 the initialization
/// headers together, phase 4 the directives together — the same order libigvm uses, so the
/// first error matches.
struct IGVMParser {
    let bytes: [UInt8]
    let release: LibIGVMRelease
    var fixed = IGVMFixedHeader(formatVersion: 0, variableHeaderOffset: 0, variableHeaderSize: 0,
                                totalFileSize: 0, checksum: 0)
    /// Architecture from the fixed header (V1 implies x64).
    var isAArch64 = false
    var fileDataStart: UInt32 = 0
    var platforms: [IGVMSupportedPlatform] = []
    var initializations: [IGVMInitializationHeader] = []
    var directives: [IGVMDirective] = []
    var platformOffsets: [Int] = []
    var initializationOffsets: [Int] = []
    var directiveOffsets: [Int] = []
    /// libigvm's `mask_map`: later platform headers with the same mask replace earlier ones.
    var maskMap: [UInt32: IGVMPlatformType] = [:]

    init(_ bytes: [UInt8], release: LibIGVMRelease = .main) {
        self.bytes = bytes
        self.release = release
    }

    private func fail(_ offset: Int, _ rule: IGVMParseRule, _ code: IGVMAPIResult, _ detail: String) -> IGVMParseError {
        IGVMParseError(offset: offset, rule: rule, code: code, detail: detail)
    }

    /// Where libigvm panics instead of returning an error (QEMU aborts).
    private func panic(_ offset: Int, _ rule: IGVMParseRule, _ code: IGVMAPIResult, _ detail: String) -> IGVMParseError {
        IGVMParseError(offset: offset, rule: rule, code: code, detail: detail, outcome: .panics)
    }

    mutating func parse() throws(IGVMParseError) -> IGVMFile {
        try parseFixedHeader()
        try walkVariableHeaders()
        try checkPlatforms()
        let (vpIdents, pageTableRegions) = try checkInitializations()
        try checkDirectives(vpIdents: vpIdents, pageTableRegions: pageTableRegions)
        return IGVMFile(bytes: bytes, fixedHeader: fixed, platforms: platforms,
                        initializations: initializations, directives: directives,
                        platformOffsets: platformOffsets, initializationOffsets: initializationOffsets,
                        directiveOffsets: directiveOffsets)
    }

    // MARK: Fixed header

    private mutating func parseFixedHeader() throws(IGVMParseError) {
        guard bytes.count >= 24 else {
            throw fail(0, .fileTooSmall, .invalidFixedHeader,
                       "file is \(bytes.count) bytes, shorter than the 24-byte fixed header")
        }
        let r = LEReader(bytes)
        guard r.u32(0) == igvmMagic else {
            throw fail(0, .badMagic, .invalidFixedHeader, "magic is \(hex(r.u32(0))), not \"IGVM\" (0x4D564749)")
        }
        fixed = IGVMFixedHeader(formatVersion: r.u32(4), variableHeaderOffset: r.u32(8),
                                variableHeaderSize: r.u32(0xC), totalFileSize: r.u32(0x10),
                                checksum: r.u32(0x14))
        switch fixed.formatVersion {
        case 1: break
        case 2:
            guard bytes.count >= 32 else {
                throw fail(0, .fileTooSmall, .invalidFixedHeader,
                           "file is \(bytes.count) bytes, shorter than the 32-byte V2 fixed header")
            }
            let arch = r.u32(0x18), pageSize = r.u32(0x1C)
            guard arch == 0 || arch == 1 else {
                throw fail(0x18, .unsupportedArchitecture, .invalidFixedHeader,
                           "V2 architecture \(arch) is neither 0 (x64) nor 1 (AArch64)")
            }
            guard UInt64(pageSize) == igvmPageSize else {
                throw fail(0x1C, .unsupportedPageSize, .unsupportedPageSize, "V2 page size \(hex(pageSize)) is not 0x1000")
            }
            fixed.architecture = arch
            fixed.pageSize = pageSize
            isAArch64 = arch == 1
        default:
            throw fail(4, .unsupportedFormatVersion, .invalidFixedHeader,
                       "format version \(fixed.formatVersion) is neither 1 nor 2")
        }
        guard Int(fixed.totalFileSize) == bytes.count else {
            throw fail(0x10, .totalFileSizeMismatch, .invalidFixedHeader,
                       "total_file_size \(hex(fixed.totalFileSize)) differs from the file length \(hex(bytes.count))")
        }
        guard Int(fixed.variableHeaderOffset) < bytes.count else {
            throw fail(8, .variableHeaderOffsetOutOfFile, .invalidFixedHeader,
                       "variable_header_offset \(hex(fixed.variableHeaderOffset)) is not inside the file")
        }
        // libigvm adds the two u32 fields with wrapping arithmetic.
        fileDataStart = fixed.variableHeaderOffset &+ fixed.variableHeaderSize
        guard Int(fileDataStart) < bytes.count else {
            throw fail(0xC, .noFileDataSection, .invalidFixedHeader,
                       "variable_header_offset + variable_header_size = \(hex(fileDataStart)) leaves no file data "
                           + "before the end of the file (\(hex(bytes.count)))")
        }
        guard Int(fixed.variableHeaderOffset) + Int(fixed.variableHeaderSize) <= bytes.count else {
            // The u32 sum wrapped: libigvm panics in `split_at` (`IgvmFile::new_from_binary`).
            throw panic(0xC, .variableHeaderSectionOutOfFile, .invalidFixedHeader,
                        "variable_header_size \(hex(fixed.variableHeaderSize)) runs past the end of the file "
                            + "(the u32 sum wraps)")
        }
        var crc = CRC32()
        crc.update(fixed.encoded(zeroChecksum: true))
        let vhStart = Int(fixed.variableHeaderOffset)
        crc.update(bytes[vhStart..<(vhStart + Int(fixed.variableHeaderSize))])
        guard crc.value == fixed.checksum else {
            throw fail(0x14, .checksumMismatch, .invalidChecksum,
                       "checksum \(hex(fixed.checksum)) but the CRC-32 of the fixed header (checksum zeroed) "
                           + "and the variable headers is \(hex(crc.value))")
        }
    }

    // MARK: Phase 1: walk

    private mutating func walkVariableHeaders() throws(IGVMParseError) {
        var pos = Int(fixed.variableHeaderOffset)
        let end = pos + Int(fixed.variableHeaderSize)
        var stage = IGVMSection.platform
        while pos < end {
            guard end - pos >= 8 else {
                throw fail(pos, .truncatedVariableHeader, .invalidBinaryVariableHeaderSection,
                           "only \(end - pos) bytes left in the variable-header section, less than a type/length pair")
            }
            let r = LEReader(bytes, at: pos)
            let typeCode = r.u32(0), length = r.u32(4)
            guard let section = IGVMSection(typeCode: typeCode) else {
                throw fail(pos, .typeOutsideSections, .invalidBinaryVariableHeaderSection,
                           "header type \(hex(typeCode)) is in no section (platform 0x1-0x100, initialization "
                               + "0x101-0x200, directive 0x301-0x400; the optional bit is not honoured)")
            }
            switch (stage, section) {
            case (.initialization, .platform), (.directive, .platform), (.directive, .initialization):
                throw fail(pos, .sectionOrder, .invalidBinaryVariableHeaderSection,
                           "\(section.rawValue) header type \(hex(typeCode)) after a \(stage.rawValue) header")
            default: stage = section
            }
            let code: IGVMAPIResult = switch section {
            case .platform: .invalidBinaryPlatformHeader
            case .initialization: .invalidBinaryInitializationHeader
            case .directive: .invalidBinaryDirectiveHeader
            }
            guard let type = IGVMHeaderType(rawValue: typeCode), let expected = type.payloadLength,
                  type != .corimDocument, type != .corimSignature, Int(length) == expected,
                  type != .ccaPolicy || release != .v0_4_0 else {
                let known = IGVMHeaderType(rawValue: typeCode)
                let why: String
                if let known, known == .corimDocument || known == .corimSignature {
                    why = "\(known.cName) needs libigvm's optional `corim` feature, which the C library does not enable"
                } else if known == .ccaPolicy && release == .v0_4_0 {
                    // CCA support (platform, policy, VP context) came after 0.4.0.
                    why = "IGVM_VHT_CCA_POLICY is not a header libigvm 0.4.0 knows"
                } else if let known, let expected = known.payloadLength {
                    why = "\(known.cName) length is \(length), libigvm requires exactly \(expected)"
                } else {
                    why = "header type \(hex(typeCode)) is not one libigvm accepts"
                }
                throw fail(pos, .unknownTypeOrLength, code, why)
            }
            // libigvm reads the payload from the rest of the section; VP_CONTEXT consumes its
            // 4 padding bytes too (unchecked), the other payloads are multiples of 8.
            let consumed = type == .vpContext ? 24 : expected
            guard end - (pos + 8) >= consumed else {
                throw fail(pos, .truncatedPayload, code,
                           "\(type.cName) needs \(consumed) payload bytes, only \(end - pos - 8) left in the section")
            }
            let p = pos + 8
            switch section {
            case .platform:
                platforms.append(try decodePlatform(at: p))
                platformOffsets.append(pos)
            case .initialization:
                initializations.append(try decodeInitialization(type, at: p))
                initializationOffsets.append(pos)
            case .directive:
                directives.append(try decodeDirective(type, at: p))
                directiveOffsets.append(pos)
            }
            pos = p + consumed
        }
    }

    private mutating func decodePlatform(at p: Int) throws(IGVMParseError) -> IGVMSupportedPlatform {
        let r = LEReader(bytes, at: p)
        let mask = r.u32(0), vtl = r.u8(4), rawType = r.u8(5), version = r.u16(6), boundary = r.u64(8)
        let code = IGVMAPIResult.invalidBinaryPlatformHeader
        guard mask.nonzeroBitCount == 1 else {
            throw fail(p, .invalidCompatibilityMask, code, "platform compatibility_mask \(hex(mask)) must have exactly one bit set")
        }
        guard vtl == 0 || vtl == 2 else {
            throw fail(p + 4, .invalidVTL, code, "highest_vtl \(vtl) must be 0 or 2")
        }
        // libigvm 0.4.0 knows no CCA platform (`IgvmPlatformHeader::validate`: any other type is
        // InvalidPlatformType); CCA came later.
        guard let type = IGVMPlatformType(rawValue: rawType), type != .cca || release != .v0_4_0 else {
            throw fail(p + 5, .invalidPlatformType, code, "platform_type \(rawType) is not a known platform")
        }
        guard version == 1 else {
            throw fail(p + 6, .invalidPlatformVersion, code, "\(type.name) platform_version \(version) must be 1")
        }
        if (type == .native || type == .vsmIsolation) && boundary != 0 {
            throw fail(p + 8, .invalidSharedGPABoundary, code,
                       "\(type.name) shared_gpa_boundary \(hex(boundary)) must be 0")
        }
        maskMap[mask] = type
        return IGVMSupportedPlatform(compatibilityMask: mask, platformType: type, highestVTL: vtl,
                                     platformVersion: version, sharedGPABoundary: boundary)
    }

    private func checkVTL(_ vtl: UInt8, at offset: Int, _ code: IGVMAPIResult) throws(IGVMParseError) {
        guard vtl <= 2 else { throw fail(offset, .invalidVTL, code, "vtl \(vtl) is not 0, 1 or 2") }
    }

    private func decodeInitialization(_ type: IGVMHeaderType, at p: Int) throws(IGVMParseError) -> IGVMInitializationHeader {
        let r = LEReader(bytes, at: p)
        let code = IGVMAPIResult.invalidBinaryInitializationHeader
        let page = igvmPageSize
        switch type {
        case .guestPolicy:
            guard r.u32(0xC) == 0 else {
                throw fail(p + 0xC, .reservedNotZero, code, "GUEST_POLICY reserved field is \(hex(r.u32(0xC))), must be 0")
            }
            return .guestPolicy(policy: r.u64(0), compatibilityMask: r.u32(8))
        case .ccaPolicy:
            guard r.u32(4) == 0, r.isZero(0x1A, 6) else {
                throw fail(p + 4, .reservedNotZero, code, "CCA_POLICY reserved fields must be 0")
            }
            let policy = IGVMCCAPolicy(compatibilityMask: r.u32(0), attributesRequiredZeroes: r.u64(8),
                                       attributesRequiredOnes: r.u64(0x10), hashAlgorithm: r.u8(0x18),
                                       lfaPolicy: r.u8(0x19))
            guard policy.attributesRequiredZeroes & policy.attributesRequiredOnes == 0 else {
                throw fail(p + 8, .onesZeroesOverlap, code, "CCA_POLICY required-zeroes and required-ones masks overlap")
            }
            return .ccaPolicy(policy)
        case .relocatableRegion:
            let region = IGVMRelocatableRegion(
                compatibilityMask: r.u32(0), vpIndex: r.u16(4), vtl: r.u8(6), flags: r.u8(7),
                relocationAlignment: r.u64(8), relocationRegionGPA: r.u64(0x10),
                relocationRegionSize: r.u64(0x18), minimumRelocationGPA: r.u64(0x20),
                maximumRelocationGPA: r.u64(0x28))
            try checkVTL(region.vtl, at: p + 6, code)
            guard region.relocationRegionSize % page == 0 else {
                throw fail(p + 0x18, .unalignedSize, code, "relocation_region_size \(hex(region.relocationRegionSize)) is not 4 KiB aligned")
            }
            guard region.relocationAlignment % page == 0 else {
                throw fail(p + 8, .relocationAlignment, code, "relocation_alignment \(hex(region.relocationAlignment)) is not a multiple of 4 KiB")
            }
            guard region.relocationAlignment != 0 else {
                // `IgvmInitializationHeader::validate` takes the GPAs modulo the alignment.
                throw panic(p + 8, .relocationAlignment, code, "relocation_alignment is 0 (libigvm divides by it)")
            }
            for (field, value, off) in [("relocation_region_gpa", region.relocationRegionGPA, 0x10),
                                        ("minimum_relocation_gpa", region.minimumRelocationGPA, 0x20),
                                        ("maximum_relocation_gpa", region.maximumRelocationGPA, 0x28)]
            where value % region.relocationAlignment != 0 {
                throw fail(p + off, .relocationAddress, code,
                           "\(field) \(hex(value)) is not aligned to relocation_alignment \(hex(region.relocationAlignment))")
            }
            return .relocatableRegion(region)
        case .pageTableRelocationRegion:
            guard r.u8(7) == 0 else {
                throw fail(p + 7, .reservedNotZero, code, "PAGE_TABLE_RELOCATION reserved byte is \(r.u8(7)), must be 0")
            }
            let region = IGVMPageTableRelocation(compatibilityMask: r.u32(0), vpIndex: r.u16(4), vtl: r.u8(6),
                                                 gpa: r.u64(8), size: r.u64(0x10), usedSize: r.u64(0x18))
            try checkVTL(region.vtl, at: p + 6, code)
            guard region.gpa % page == 0 else {
                throw fail(p + 8, .unalignedAddress, code, "page-table gpa \(hex(region.gpa)) is not 4 KiB aligned")
            }
            guard region.size % page == 0 else {
                throw fail(p + 0x10, .unalignedSize, code, "page-table size \(hex(region.size)) is not 4 KiB aligned")
            }
            guard region.usedSize % page == 0 else {
                throw fail(p + 0x18, .unalignedSize, code, "page-table used_size \(hex(region.usedSize)) is not 4 KiB aligned")
            }
            guard region.usedSize <= region.size else {
                throw fail(p + 0x18, .pageTableUsedSizeTooLarge, code,
                           "page-table used_size \(hex(region.usedSize)) exceeds size \(hex(region.size))")
            }
            return .pageTableRelocation(region)
        default:
            throw fail(p - 8, .unknownTypeOrLength, code, "\(type.cName) is not an initialization header")
        }
    }

    /// libigvm's `extract_file_data`: `file_offset` 0 means none; otherwise the range must lie in
    /// the file-data section (offset computed with u32 wrapping, as libigvm does).
    private func checkFileData(_ fileOffset: UInt32, _ size: UInt64, field: Int, what: String) throws(IGVMParseError) {
        guard fileOffset != 0 else { return }
        let start = UInt64(fileOffset &- fileDataStart)
        let available = UInt64(bytes.count - Int(fileDataStart))
        guard start <= available, size <= available - start else {
            throw fail(field, .fileDataOutOfBounds, .invalidBinaryDirectiveHeader,
                       "\(what) file_offset \(hex(fileOffset)) + \(hex(size)) bytes is not inside the file-data "
                           + "section \(hex(fileDataStart))..<\(hex(bytes.count))")
        }
    }

    private func checkGPA(_ gpa: UInt64, at offset: Int, _ what: String) throws(IGVMParseError) {
        guard gpa % igvmPageSize == 0 else {
            throw fail(offset, .unalignedAddress, .invalidBinaryDirectiveHeader, "\(what) gpa \(hex(gpa)) is not 4 KiB aligned")
        }
    }

    private func decodeDirective(_ type: IGVMHeaderType, at p: Int) throws(IGVMParseError) -> IGVMDirective {
        let r = LEReader(bytes, at: p)
        let code = IGVMAPIResult.invalidBinaryDirectiveHeader
        switch type {
        case .parameterArea:
            let area = IGVMParameterArea(numberOfBytes: r.u64(0), parameterAreaIndex: r.u32(8), fileOffset: r.u32(0xC))
            try checkFileData(area.fileOffset, area.numberOfBytes, field: p + 0xC, what: "PARAMETER_AREA")
            guard area.numberOfBytes % igvmPageSize == 0 else {
                throw fail(p, .unalignedSize, code, "PARAMETER_AREA number_of_bytes \(hex(area.numberOfBytes)) is not a multiple of 4 KiB")
            }
            return .parameterArea(area)
        case .pageData:
            let fileOffset = r.u32(0xC)
            try checkFileData(fileOffset, igvmPageSize, field: p + 0xC, what: "PAGE_DATA")
            guard r.u16(0x16) == 0 else {
                throw fail(p + 0x16, .reservedNotZero, code, "PAGE_DATA reserved field is \(hex(r.u16(0x16))), must be 0")
            }
            try checkGPA(r.u64(0), at: p, "PAGE_DATA")
            guard let dataType = IGVMPageDataType(rawValue: r.u16(0x14)) else {
                throw fail(p + 0x14, .invalidPageDataType, code, "PAGE_DATA data_type \(r.u16(0x14)) is not 0-3")
            }
            return .pageData(IGVMPageData(gpa: r.u64(0), compatibilityMask: r.u32(8), fileOffset: fileOffset,
                                          flags: IGVMPageDataFlags(rawValue: r.u32(0x10)), dataType: dataType))
        case .parameterInsert:
            try checkGPA(r.u64(0), at: p, "PARAMETER_INSERT")
            return .parameterInsert(IGVMParameterInsert(gpa: r.u64(0), compatibilityMask: r.u32(8), parameterAreaIndex: r.u32(0xC)))
        case .vpContext:
            return .vpContext(try decodeVPContext(r, at: p))
        case .requiredMemory:
            guard r.u32(0x14) == 0 else {
                throw fail(p + 0x14, .reservedNotZero, code, "REQUIRED_MEMORY reserved field is \(hex(r.u32(0x14))), must be 0")
            }
            let mem = IGVMRequiredMemory(gpa: r.u64(0), compatibilityMask: r.u32(8), numberOfBytes: r.u32(0xC), flags: r.u32(0x10))
            try checkGPA(mem.gpa, at: p, "REQUIRED_MEMORY")
            guard UInt64(mem.numberOfBytes) % igvmPageSize == 0 else {
                throw fail(p + 0xC, .unalignedSize, code, "REQUIRED_MEMORY number_of_bytes \(hex(mem.numberOfBytes)) is not 4 KiB aligned")
            }
            return .requiredMemory(mem)
        case .errorRange:
            try checkGPA(r.u64(0), at: p, "ERROR_RANGE")
            return .errorRange(IGVMErrorRange(gpa: r.u64(0), compatibilityMask: r.u32(8), sizeBytes: r.u32(0xC)))
        case .snpIDBlock:
            return .snpIDBlock(Self.decodeIDBlock(r))
        case .vbsMeasurement:
            return .vbsMeasurement(IGVMVBSMeasurement(
                compatibilityMask: r.u32(0), version: r.u32(4), productID: r.u32(8), moduleID: r.u32(0xC),
                securityVersion: r.u32(0x10), policyFlags: r.u32(0x14), bootDigestAlgo: r.u32(0x18),
                signingAlgo: r.u32(0x1C), bootMeasurementDigest: r.array(0x20, 64), signature: r.array(0x60, 256),
                publicKey: r.array(0x160, 512)))
        default:
            guard let kind = IGVMParameterKind(headerType: type) else {
                throw fail(p - 8, .unknownTypeOrLength, code, "\(type.cName) is not a directive libigvm accepts")
            }
            return .parameter(IGVMParameter(kind: kind, parameterAreaIndex: r.u32(0), byteOffset: r.u32(4)))
        }
    }

    static func decodeIDBlock(_ r: LEReader) -> IGVMSNPIDBlock {
        func sig(_ o: Int) -> IGVMSNPSignature { IGVMSNPSignature(r: r.array(o, 72), s: r.array(o + 72, 72)) }
        func key(_ o: Int) -> IGVMSNPPublicKey {
            IGVMSNPPublicKey(curve: r.u32(o), reserved: r.u32(o + 4), qx: r.array(o + 8, 72), qy: r.array(o + 80, 72))
        }
        return IGVMSNPIDBlock(
            compatibilityMask: r.u32(0), authorKeyEnabled: r.u8(4), reserved: r.array(5, 3), ld: r.array(8, 48),
            familyID: r.array(0x38, 16), imageID: r.array(0x48, 16), version: r.u32(0x58), guestSVN: r.u32(0x5C),
            idKeyAlgorithm: r.u32(0x60), authorKeyAlgorithm: r.u32(0x64), idKeySignature: sig(0x68),
            idPublicKey: key(0xF8), authorKeySignature: sig(0x190), authorPublicKey: key(0x220))
    }

    private func decodeVPContext(_ r: LEReader, at p: Int) throws(IGVMParseError) -> IGVMVPContext {
        let code = IGVMAPIResult.invalidBinaryDirectiveHeader
        var ctx = IGVMVPContext(gpa: r.u64(0), compatibilityMask: r.u32(8), fileOffset: r.u32(0xC),
                                vpIndex: r.u16(0x10), reserved: r.u16(0x12), format: .sevVMSA)
        guard let platform = maskMap[ctx.compatibilityMask] else {
            throw fail(p + 8, .vpContextPlatform, code,
                       "VP_CONTEXT compatibility_mask \(hex(ctx.compatibilityMask)) is not exactly one platform's mask")
        }
        // libigvm computes the start with u32 wrapping and reads without the offset-0 shortcut.
        let start = Int(ctx.fileOffset &- fileDataStart)
        let available = bytes.count - Int(fileDataStart)
        let page = Int(igvmPageSize)
        func pageStart() throws(IGVMParseError) -> Int {
            guard start <= available, page <= available - start else {
                throw fail(p + 0xC, .fileDataOutOfBounds, code,
                           "VP_CONTEXT file_offset \(hex(ctx.fileOffset)) + 0x1000 bytes is not inside the file-data section")
            }
            return Int(fileDataStart) + start
        }
        switch platform {
        case .sevSNP, .sevES:
            let base = try pageStart()
            ctx.format = .sevVMSA
            // libigvm 0.4.0's `SevVmsa` is the 0x670-byte save area; `new_from_binary_split`
            // requires the rest of the page to be zero (InvalidContext), whatever platform QEMU
            // will pick. Later releases keep the whole page.
            let used = SEVVMSA.Offset.qemuCheckedEnd
            if release == .v0_4_0, !LEReader(bytes, at: base).isZero(used, page - used) {
                throw fail(base + used, .vpContextTrailingData, code,
                           "\(platform.name) VMSA has non-zero bytes after its 0x670-byte save area (libigvm 0.4.0)")
            }
            try checkGPA(ctx.gpa, at: p, "VP_CONTEXT (VMSA)")
        case .native, .sev, .cca:
            let base = try pageStart()
            let used = platform == .cca ? 80 : 232
            ctx.format = platform == .cca ? .ccaAArch64 : .nativeX64
            guard LEReader(bytes, at: base).isZero(used, page - used) else {
                throw fail(base + used, .vpContextTrailingData, code,
                           "\(platform.name) VP context has non-zero bytes after its \(used)-byte structure")
            }
        case .vsmIsolation:
            ctx.format = .vbsRegisters
            try checkVBSContext(ctx, start: start, available: available, at: p)
        case .tdx:
            throw fail(p + 8, .vpContextPlatform, code, "TDX has no VP context (architectural reset state)")
        }
        return ctx
    }

    /// VBS register lists: `{register_count u32}` then 32-byte registers, one VTL, BSP only, in
    /// the order of libigvm's `IgvmDirectiveHeader::new_from_binary_split`: it slices the file
    /// data at the offset (panics past the end), reads register by register (a truncated one is
    /// InvalidDataSize), asserts one VTL and vp_index 0 (panics), then converts each register
    /// (`X86Register::try_from`, registers.rs: an unsupported name is an error).
    private func checkVBSContext(_ ctx: IGVMVPContext, start: Int, available: Int, at p: Int) throws(IGVMParseError) {
        let code = IGVMAPIResult.invalidBinaryDirectiveHeader
        guard start <= available else {
            throw panic(p + 0xC, .fileDataOutOfBounds, code, "VBS VP context file_offset \(hex(ctx.fileOffset)) is past the end of the file")
        }
        guard available - start >= 4 else {
            throw fail(p + 0xC, .fileDataOutOfBounds, code, "VBS VP context header is not inside the file-data section")
        }
        let base = Int(fileDataStart) + start
        let count = LEReader(bytes, at: base).u32(0)
        var vtl: UInt8?
        for i in 0..<Int(count) {
            let at = base + 4 + i * 32
            guard bytes.count - at >= 32 else {
                throw fail(base, .fileDataOutOfBounds, code, "VBS VP context register \(i) of \(count) runs past the end of the file")
            }
            if let vtl, vtl != bytes[at] {
                throw panic(at, .vbsContext, code, "VBS VP context mixes VTLs (libigvm asserts one VTL)")
            }
            vtl = bytes[at]
        }
        guard ctx.vpIndex == 0 else {
            throw panic(p + 0x10, .vbsContext, code, "VBS VP context vp_index \(ctx.vpIndex) is not 0 (libigvm asserts the BSP)")
        }
        guard let vtl else { throw fail(base, .vbsContext, code, "VBS VP context has no registers") }
        try checkVTL(vtl, at: base + 4, code)
        // AArch64 files convert to `AArch64Register`, whose list is not reproduced here.
        for i in 0..<Int(count) where !isAArch64 {
            // `VbsVpContextRegister`: vtl u8, register_name u32 (unaligned, at 1), mbz, value.
            let name = LEReader(bytes, at: base + 4 + i * 32).u32(1)
            guard VBSRegister.supportedX64.contains(name) else {
                throw fail(base + 4 + i * 32 + 1, .vbsRegister, code,
                           "VBS VP context register \(hex(name)) is not one libigvm supports (registers.rs X86Register)")
            }
        }
    }

    // MARK: Phase 2-4: whole-file checks (libigvm `IgvmFile::new`)

    private func checkPlatforms() throws(IGVMParseError) {
        var seen = Set<IGVMPlatformType>()
        for (i, platform) in platforms.enumerated() {
            let needsAArch64 = platform.platformType == .cca
            if platform.platformType != .vsmIsolation && needsAArch64 != isAArch64 {
                throw fail(platformOffsets[i] + 8 + 5, .platformArchitecture, .platformArchUnsupported,
                           "platform \(platform.platformType.name) is not supported on \(isAArch64 ? "AArch64" : "x64")")
            }
            guard seen.insert(platform.platformType).inserted else {
                throw fail(platformOffsets[i], .duplicatePlatformType, .multiplePlatformHeadersWithSameIsolation,
                           "second SUPPORTED_PLATFORM header for \(platform.platformType.name)")
            }
        }
        guard !platforms.isEmpty else {
            throw fail(Int(fixed.variableHeaderOffset), .noPlatformHeaders, .noPlatformHeaders,
                       "no SUPPORTED_PLATFORM header")
        }
    }

    struct VPIdent { var mask: UInt32; var vpIndex: UInt16; var vtl: UInt8 }
    struct Region { var mask: UInt32; var start: UInt64; var end: UInt64 }

    private func checkInitializations() throws(IGVMParseError) -> ([VPIdent], [Region]) {
        var pageTableMasks: UInt32 = 0
        var idents: [VPIdent] = []
        var regionsByBit: [Int: [(UInt64, UInt64)]] = [:]
        var pageTableRegions: [Region] = []
        func insertRegion(_ mask: UInt32, _ start: UInt64, _ size: UInt64, at offset: Int) throws(IGVMParseError) {
            let end = start &+ size &- 1
            for bit in 0..<32 where mask & (1 << bit) != 0 {
                let list = regionsByBit[bit, default: []]
                if list.contains(where: { $0.0 <= end && start <= $0.1 }) {
                    throw fail(offset, .relocationRegionsOverlap, .relocationRegionsOverlap,
                               "region \(hex(start))-\(hex(end)) overlaps another relocation region for mask \(hex(UInt32(1) << bit))")
                }
                regionsByBit[bit, default: []].append((start, end))
            }
        }
        for (i, header) in initializations.enumerated() {
            let offset = initializationOffsets[i]
            switch header {
            case .ccaPolicy(let cca):
                guard isAArch64 else {
                    throw fail(offset, .headerArchitecture, .invalidHeaderArch, "CCA_POLICY is only valid in AArch64 files")
                }
                for bit in 0..<32 where cca.compatibilityMask & (1 << bit) != 0 {
                    guard maskMap[1 << bit] == .cca else {
                        throw fail(offset + 8, .ccaPolicyMask, .invalidCCAPolicyCompatibilityMask,
                                   "CCA_POLICY mask bit \(hex(UInt32(1) << bit)) is not a CCA platform")
                    }
                }
            case .pageTableRelocation(let pt):
                guard pt.compatibilityMask & pageTableMasks == 0 else {
                    throw fail(offset, .multiplePageTableRelocations, .multiplePageTableRelocationHeaders,
                               "second PAGE_TABLE_RELOCATION_REGION for mask \(hex(pt.compatibilityMask))")
                }
                pageTableMasks |= pt.compatibilityMask
                try insertRegion(pt.compatibilityMask, pt.gpa, pt.size, at: offset)
                idents.append(VPIdent(mask: pt.compatibilityMask, vpIndex: pt.vpIndex, vtl: pt.vtl))
                pageTableRegions.append(Region(mask: pt.compatibilityMask, start: pt.gpa, end: pt.gpa &+ pt.size))
            case .relocatableRegion(let rr):
                try insertRegion(rr.compatibilityMask, rr.relocationRegionGPA, rr.relocationRegionSize, at: offset)
                idents.append(VPIdent(mask: rr.compatibilityMask, vpIndex: rr.vpIndex, vtl: rr.vtl))
            case .guestPolicy, .corimDocument, .corimSignature:
                break
            }
        }
        return (idents, pageTableRegions)
    }

    private func checkDirectives(vpIdents: [VPIdent], pageTableRegions: [Region]) throws(IGVMParseError) {
        var idents = vpIdents
        var areas: [UInt32: Bool] = [:]  // index → inserted
        for (i, directive) in directives.enumerated() {
            let offset = directiveOffsets[i]
            switch directive {
            case .parameterArea(let area):
                guard areas[area.parameterAreaIndex] == nil else {
                    throw fail(offset + 8 + 8, .parameterAreaIndex, .invalidParameterAreaIndex,
                               "parameter area index \(area.parameterAreaIndex) is declared twice")
                }
                areas[area.parameterAreaIndex] = false
            case .parameter(let param):
                guard areas[param.parameterAreaIndex] == false else {
                    throw fail(offset + 8, .parameterAreaIndex, .invalidParameterAreaIndex,
                               "\(param.kind.headerType.cName) uses parameter area \(param.parameterAreaIndex), which is "
                                   + (areas[param.parameterAreaIndex] == true ? "already inserted" : "not declared"))
                }
            case .parameterInsert(let insert):
                guard areas[insert.parameterAreaIndex] == false else {
                    throw fail(offset + 8 + 0xC, .parameterAreaIndex, .invalidParameterAreaIndex,
                               "PARAMETER_INSERT of parameter area \(insert.parameterAreaIndex), which is "
                                   + (areas[insert.parameterAreaIndex] == true ? "already inserted" : "not declared"))
                }
                areas[insert.parameterAreaIndex] = true
                if pageTableRegions.contains(where: {
                    $0.mask & insert.compatibilityMask != 0 && insert.gpa >= $0.start && insert.gpa < $0.end
                }) {
                    throw fail(offset + 8, .parameterInsertInPageTable, .parameterInsertInsidePageTableRegion,
                               "PARAMETER_INSERT at \(hex(insert.gpa)) lies inside a page-table relocation region")
                }
            case .vpContext(let ctx):
                switch ctx.format {
                case .nativeX64 where isAArch64:
                    throw fail(offset, .headerArchitecture, .invalidHeaderArch, "x64 native VP context in an AArch64 file")
                case .ccaAArch64 where !isAArch64:
                    throw fail(offset, .headerArchitecture, .invalidHeaderArch, "CCA VP context in an x64 file")
                case .vbsRegisters:
                    let at = Int(ctx.fileOffset) + 4
                    let vtl = at < bytes.count ? bytes[at] : 0
                    idents.removeAll { $0.mask & ctx.compatibilityMask != 0 && $0.vpIndex == 0 && $0.vtl == vtl }
                default: break
                }
            default: break
            }
        }
        if let first = idents.first {
            throw fail(Int(fixed.variableHeaderOffset), .noMatchingVPContext, .noMatchingVPContext,
                       "relocation header for vp_index \(first.vpIndex) vtl \(first.vtl) (mask \(hex(first.mask))) "
                           + "has no matching VBS VP context")
        }
    }
}
