import Numerals

/// libigvm's C API result codes (`IgvmResult` in `igvm/src/c_api.rs`). QEMU prints
/// "Unable to parse IGVM file FILE: CODE" with the negative number.
public enum IGVMAPIResult: Int32, Sendable, CaseIterable {
    case invalidParameter = -1
    case noData = -2
    case invalidFile = -3
    case invalidHandle = -4
    case noPlatformHeaders = -5
    case fileDataSectionTooLarge = -6
    case variableHeaderSectionTooLarge = -7
    case totalFileSizeTooLarge = -8
    case invalidBinaryPlatformHeader = -9
    case invalidBinaryInitializationHeader = -10
    case invalidBinaryDirectiveHeader = -11
    case multiplePlatformHeadersWithSameIsolation = -12
    case invalidParameterAreaIndex = -13
    case invalidPlatformType = -14
    case noFreeCompatibilityMasks = -15
    case invalidFixedHeader = -16
    case invalidBinaryVariableHeaderSection = -17
    case invalidChecksum = -18
    case multiplePageTableRelocationHeaders = -19
    case relocationRegionsOverlap = -20
    case parameterInsertInsidePageTableRegion = -21
    case noMatchingVPContext = -22
    case platformArchUnsupported = -23
    case invalidHeaderArch = -24
    case unsupportedPageSize = -25
    case invalidFixedHeaderArch = -26
    case mergeRevision = -27
    case invalidCCAPolicyCompatibilityMask = -28

    /// The C constant name, e.g. `IGVMAPI_INVALID_CHECKSUM`.
    public var cName: String {
        let words: String = switch self {
        case .invalidParameter: "INVALID_PARAMETER"
        case .noData: "NO_DATA"
        case .invalidFile: "INVALID_FILE"
        case .invalidHandle: "INVALID_HANDLE"
        case .noPlatformHeaders: "NO_PLATFORM_HEADERS"
        case .fileDataSectionTooLarge: "FILE_DATA_SECTION_TOO_LARGE"
        case .variableHeaderSectionTooLarge: "VARIABLE_HEADER_SECTION_TOO_LARGE"
        case .totalFileSizeTooLarge: "TOTAL_FILE_SIZE_TOO_LARGE"
        case .invalidBinaryPlatformHeader: "INVALID_BINARY_PLATFORM_HEADER"
        case .invalidBinaryInitializationHeader: "INVALID_BINARY_INITIALIZATION_HEADER"
        case .invalidBinaryDirectiveHeader: "INVALID_BINARY_DIRECTIVE_HEADER"
        case .multiplePlatformHeadersWithSameIsolation: "MULTIPLE_PLATFORM_HEADERS_WITH_SAME_ISOLATION"
        case .invalidParameterAreaIndex: "INVALID_PARAMETER_AREA_INDEX"
        case .invalidPlatformType: "INVALID_PLATFORM_TYPE"
        case .noFreeCompatibilityMasks: "NO_FREE_COMPATIBILITY_MASKS"
        case .invalidFixedHeader: "INVALID_FIXED_HEADER"
        case .invalidBinaryVariableHeaderSection: "INVALID_BINARY_VARIABLE_HEADER_SECTION"
        case .invalidChecksum: "INVALID_CHECKSUM"
        case .multiplePageTableRelocationHeaders: "MULTIPLE_PAGE_TABLE_RELOCATION_HEADERS"
        case .relocationRegionsOverlap: "RELOCATION_REGIONS_OVERLAP"
        case .parameterInsertInsidePageTableRegion: "PARAMETER_INSERT_INSIDE_PAGE_TABLE_REGION"
        case .noMatchingVPContext: "NO_MATCHING_VP_CONTEXT"
        case .platformArchUnsupported: "PLATFORM_ARCH_UNSUPPORTED"
        case .invalidHeaderArch: "INVALID_HEADER_ARCH"
        case .unsupportedPageSize: "UNSUPPORTED_PAGE_SIZE"
        case .invalidFixedHeaderArch: "INVALID_FIXED_HEADER_ARCH"
        case .mergeRevision: "MERGE_REVISION"
        case .invalidCCAPolicyCompatibilityMask: "INVALID_CCA_POLICY_COMPATIBILITY_MASK"
        }
        return "IGVMAPI_" + words
    }
}

/// The rule a malformed file breaks. Each case is one check of libigvm's
/// `IgvmFile::new_from_binary`, named after the Rust error it raises, in check order
/// (microsoft/igvm `igvm/src/lib.rs`; docs/background.md, "What libigvm rejects").
public enum IGVMParseRule: String, Sendable, CaseIterable {
    // Fixed header.
    case fileTooSmall = "file-too-small"
    case badMagic = "bad-magic"
    case unsupportedFormatVersion = "unsupported-format-version"
    case unsupportedArchitecture = "unsupported-architecture"
    case unsupportedPageSize = "unsupported-page-size"
    case totalFileSizeMismatch = "total-file-size-mismatch"
    case variableHeaderOffsetOutOfFile = "variable-header-offset-out-of-file"
    case noFileDataSection = "no-file-data-section"
    case variableHeaderSectionOutOfFile = "variable-header-section-out-of-file"
    case checksumMismatch = "checksum-mismatch"
    // Variable-header framing.
    case truncatedVariableHeader = "truncated-variable-header"
    case typeOutsideSections = "type-outside-sections"
    case sectionOrder = "section-order"
    case unknownTypeOrLength = "unknown-type-or-length"
    case truncatedPayload = "truncated-payload"
    // Per header.
    case reservedNotZero = "reserved-not-zero"
    case invalidCompatibilityMask = "invalid-compatibility-mask"
    case invalidVTL = "invalid-vtl"
    case invalidPlatformType = "invalid-platform-type"
    case invalidPlatformVersion = "invalid-platform-version"
    case invalidSharedGPABoundary = "invalid-shared-gpa-boundary"
    case unalignedAddress = "unaligned-address"
    case unalignedSize = "unaligned-size"
    case relocationAlignment = "relocation-alignment"
    case relocationAddress = "relocation-address"
    case pageTableUsedSizeTooLarge = "page-table-used-size-too-large"
    case onesZeroesOverlap = "ones-zeroes-overlap"
    case invalidPageDataType = "invalid-page-data-type"
    case fileDataOutOfBounds = "file-data-out-of-bounds"
    case vpContextPlatform = "vp-context-platform"
    case vpContextTrailingData = "vp-context-trailing-data"
    case vbsContext = "vbs-context"
    case vbsRegister = "vbs-register"
    // Whole-file checks.
    case duplicatePlatformType = "duplicate-platform-type"
    case noPlatformHeaders = "no-platform-headers"
    case platformArchitecture = "platform-architecture"
    case headerArchitecture = "header-architecture"
    case ccaPolicyMask = "cca-policy-mask"
    case multiplePageTableRelocations = "multiple-page-table-relocations"
    case relocationRegionsOverlap = "relocation-regions-overlap"
    case parameterAreaIndex = "parameter-area-index"
    case parameterInsertInPageTable = "parameter-insert-in-page-table"
    case noMatchingVPContext = "no-matching-vp-context"
}

/// A file libigvm (hence QEMU) would refuse: where, which rule, and the code QEMU would print.
public struct IGVMParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What libigvm does with the file: return an error code, or panic. A Rust panic cannot
    /// unwind through the C API, so it aborts the process: QEMU dies of SIGABRT with no error line.
    public enum Outcome: String, Sendable {
        case returnsError = "error"
        case panics = "panic"
    }

    /// Byte offset in the file of the offending structure or field.
    public var offset: Int
    public var rule: IGVMParseRule
    /// What libigvm returns from `igvm_new_from_binary` (the code it would have had, when it panics).
    public var code: IGVMAPIResult
    /// Human detail: the values involved.
    public var detail: String
    public var outcome: Outcome

    public init(offset: Int, rule: IGVMParseRule, code: IGVMAPIResult, detail: String, outcome: Outcome = .returnsError) {
        self.offset = offset
        self.rule = rule
        self.code = code
        self.detail = detail
        self.outcome = outcome
    }

    /// The line QEMU prints (`qigvm_file_init`, backends/igvm.c), or nil when libigvm panics.
    public var qemuMessage: String? {
        outcome == .panics ? nil : "Unable to parse IGVM file FILE: \(code.rawValue)"
    }

    public var description: String {
        switch outcome {
        case .returnsError:
            "offset \(hex(offset)): \(rule.rawValue): \(detail) (libigvm \(code.cName) = \(code.rawValue); "
                + "QEMU: \"Unable to parse IGVM file: \(code.rawValue)\")"
        case .panics:
            "offset \(hex(offset)): \(rule.rawValue): \(detail) (libigvm panics here: QEMU aborts with SIGABRT "
                + "and prints no error)"
        }
    }
}
