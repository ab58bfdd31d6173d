// Typed values for the IGVM binary format (microsoft/igvm `igvm_defs` 0.4).

/// `IGVM_MAGIC_VALUE`: ASCII "IGVM" read as a little-endian u32.
public let igvmMagic: UInt32 = 0x4D56_4749
/// The only page size libigvm supports.
public let igvmPageSize: UInt64 = 4096
/// The GPA KVM uses for every VMSA (`INITIAL_VMSA_GPA`), which QEMU requires in IGVM files.
public let igvmKVMVMSAGPA: UInt64 = 0xFFFF_FFFF_F000

/// Variable-header type codes (`IgvmVariableHeaderType`, igvm_defs).
public enum IGVMHeaderType: UInt32, Sendable, CaseIterable {
    case supportedPlatform = 0x001
    case guestPolicy = 0x101
    case relocatableRegion = 0x102
    case pageTableRelocationRegion = 0x103
    case corimDocument = 0x104
    case corimSignature = 0x105
    case ccaPolicy = 0x106
    case parameterArea = 0x301
    case pageData = 0x302
    case parameterInsert = 0x303
    case vpContext = 0x304
    case requiredMemory = 0x305
    case reservedDoNotUse = 0x306
    case vpCountParameter = 0x307
    case srat = 0x308
    case madt = 0x309
    case mmioRanges = 0x30A
    case snpIDBlock = 0x30B
    case memoryMap = 0x30C
    case errorRange = 0x30D
    case commandLine = 0x30E
    case slit = 0x30F
    case pptt = 0x310
    case vbsMeasurement = 0x311
    case deviceTree = 0x312
    case environmentInfoParameter = 0x313

    /// The C name QEMU and libigvm print (`IGVM_VHT_…`).
    public var cName: String {
        switch self {
        case .supportedPlatform: "IGVM_VHT_SUPPORTED_PLATFORM"
        case .guestPolicy: "IGVM_VHT_GUEST_POLICY"
        case .relocatableRegion: "IGVM_VHT_RELOCATABLE_REGION"
        case .pageTableRelocationRegion: "IGVM_VHT_PAGE_TABLE_RELOCATION_REGION"
        case .corimDocument: "IGVM_VHT_CORIM_DOCUMENT"
        case .corimSignature: "IGVM_VHT_CORIM_SIGNATURE"
        case .ccaPolicy: "IGVM_VHT_CCA_POLICY"
        case .parameterArea: "IGVM_VHT_PARAMETER_AREA"
        case .pageData: "IGVM_VHT_PAGE_DATA"
        case .parameterInsert: "IGVM_VHT_PARAMETER_INSERT"
        case .vpContext: "IGVM_VHT_VP_CONTEXT"
        case .requiredMemory: "IGVM_VHT_REQUIRED_MEMORY"
        case .reservedDoNotUse: "IGVM_VHT_RESERVED_DO_NOT_USE"
        case .vpCountParameter: "IGVM_VHT_VP_COUNT_PARAMETER"
        case .srat: "IGVM_VHT_SRAT"
        case .madt: "IGVM_VHT_MADT"
        case .mmioRanges: "IGVM_VHT_MMIO_RANGES"
        case .snpIDBlock: "IGVM_VHT_SNP_ID_BLOCK"
        case .memoryMap: "IGVM_VHT_MEMORY_MAP"
        case .errorRange: "IGVM_VHT_ERROR_RANGE"
        case .commandLine: "IGVM_VHT_COMMAND_LINE"
        case .slit: "IGVM_VHT_SLIT"
        case .pptt: "IGVM_VHT_PPTT"
        case .vbsMeasurement: "IGVM_VHT_VBS_MEASUREMENT"
        case .deviceTree: "IGVM_VHT_DEVICE_TREE"
        case .environmentInfoParameter: "IGVM_VHT_ENVIRONMENT_INFO_PARAMETER"
        }
    }

    /// The exact payload length libigvm requires (`length == size_of::<T>()`); nil when the
    /// type is never accepted.
    public var payloadLength: Int? {
        switch self {
        case .supportedPlatform, .guestPolicy, .corimDocument, .corimSignature, .parameterArea,
            .parameterInsert, .errorRange:
            16
        case .relocatableRegion: 48
        case .pageTableRelocationRegion, .ccaPolicy: 32
        case .pageData, .requiredMemory: 24
        case .vpContext: 20
        case .reservedDoNotUse: nil
        case .vpCountParameter, .srat, .madt, .mmioRanges, .memoryMap, .commandLine, .slit, .pptt,
            .deviceTree, .environmentInfoParameter:
            8
        case .snpIDBlock: 696
        case .vbsMeasurement: 864
        }
    }
}

/// Which section of the variable headers a type code belongs to (IGVM specification, variable header sections).
public enum IGVMSection: String, Sendable {
    case platform, initialization, directive

    /// The section of a raw type code, or nil when it lies in no section (which libigvm rejects).
    public init?(typeCode: UInt32) {
        switch typeCode {
        case 0x1...0x100: self = .platform
        case 0x101...0x200: self = .initialization
        case 0x301...0x400: self = .directive
        default: return nil
        }
    }
}

/// `IgvmPlatformType` (igvm_defs).
public enum IGVMPlatformType: UInt8, Sendable, CaseIterable, Codable {
    case native = 0x00
    case vsmIsolation = 0x01
    case sevSNP = 0x02
    case tdx = 0x03
    case sev = 0x04
    case sevES = 0x05
    case cca = 0x06

    public var name: String {
        switch self {
        case .native: "native"
        case .vsmIsolation: "vsm-isolation"
        case .sevSNP: "sev-snp"
        case .tdx: "tdx"
        case .sev: "sev"
        case .sevES: "sev-es"
        case .cca: "cca"
        }
    }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }
}

/// `IgvmPageDataType` (igvm_defs).
public enum IGVMPageDataType: UInt16, Sendable, CaseIterable {
    case normal = 0
    case secrets = 1
    case cpuidData = 2
    case cpuidXF = 3

    public var name: String {
        switch self {
        case .normal: "normal"
        case .secrets: "secrets"
        case .cpuidData: "cpuid-data"
        case .cpuidXF: "cpuid-xf"
        }
    }
}

/// `IgvmPageDataFlags`: bit 0 2 MB page, bit 1 unmeasured, bit 2 shared.
public struct IGVMPageDataFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let is2MBPage = IGVMPageDataFlags(rawValue: 1 << 0)
    public static let unmeasured = IGVMPageDataFlags(rawValue: 1 << 1)
    public static let shared = IGVMPageDataFlags(rawValue: 1 << 2)
}

/// The IGVM fixed header, V1 (24 bytes) or V2 (32 bytes, adds architecture and page size).
public struct IGVMFixedHeader: Sendable, Hashable {
    public var formatVersion: UInt32
    public var variableHeaderOffset: UInt32
    public var variableHeaderSize: UInt32
    public var totalFileSize: UInt32
    public var checksum: UInt32
    /// V2 only: 0 = x64, 1 = AArch64.
    public var architecture: UInt32?
    /// V2 only: must be 4096.
    public var pageSize: UInt32?

    /// The size of the fixed-header struct this version uses (what the checksum covers).
    public var structSize: Int { formatVersion == 2 ? 32 : 24 }

    /// The struct bytes, optionally with the checksum field zeroed (for the CRC).
    public func encoded(zeroChecksum: Bool = false) -> [UInt8] {
        var w = LEWriter()
        w.u32(igvmMagic)
        w.u32(formatVersion)
        w.u32(variableHeaderOffset)
        w.u32(variableHeaderSize)
        w.u32(totalFileSize)
        w.u32(zeroChecksum ? 0 : checksum)
        if formatVersion == 2 {
            w.u32(architecture ?? 0)
            w.u32(pageSize ?? 4096)
        }
        return w.bytes
    }
}

/// `IGVM_VHS_SUPPORTED_PLATFORM` (16 bytes).
public struct IGVMSupportedPlatform: Sendable, Hashable {
    public var compatibilityMask: UInt32
    public var highestVTL: UInt8
    public var platformType: IGVMPlatformType
    public var platformVersion: UInt16
    public var sharedGPABoundary: UInt64

    public init(compatibilityMask: UInt32, platformType: IGVMPlatformType, highestVTL: UInt8 = 0,
                platformVersion: UInt16 = 1, sharedGPABoundary: UInt64 = 0) {
        self.compatibilityMask = compatibilityMask
        self.highestVTL = highestVTL
        self.platformType = platformType
        self.platformVersion = platformVersion
        self.sharedGPABoundary = sharedGPABoundary
    }
}

/// `IGVM_VHS_RELOCATABLE_REGION` (48 bytes).
public struct IGVMRelocatableRegion: Sendable, Hashable {
    public var compatibilityMask: UInt32
    public var vpIndex: UInt16
    public var vtl: UInt8
    public var flags: UInt8
    public var relocationAlignment: UInt64
    public var relocationRegionGPA: UInt64
    public var relocationRegionSize: UInt64
    public var minimumRelocationGPA: UInt64
    public var maximumRelocationGPA: UInt64

    public init(compatibilityMask: UInt32, vpIndex: UInt16, vtl: UInt8, flags: UInt8, relocationAlignment: UInt64, relocationRegionGPA: UInt64, relocationRegionSize: UInt64, minimumRelocationGPA: UInt64, maximumRelocationGPA: UInt64) {
        self.compatibilityMask = compatibilityMask
        self.vpIndex = vpIndex
        self.vtl = vtl
        self.flags = flags
        self.relocationAlignment = relocationAlignment
        self.relocationRegionGPA = relocationRegionGPA
        self.relocationRegionSize = relocationRegionSize
        self.minimumRelocationGPA = minimumRelocationGPA
        self.maximumRelocationGPA = maximumRelocationGPA
    }
}

/// `IGVM_VHS_PAGE_TABLE_RELOCATION` (32 bytes).
public struct IGVMPageTableRelocation: Sendable, Hashable {
    public var compatibilityMask: UInt32
    public var vpIndex: UInt16
    public var vtl: UInt8
    public var gpa: UInt64
    public var size: UInt64
    public var usedSize: UInt64

    public init(compatibilityMask: UInt32, vpIndex: UInt16, vtl: UInt8, gpa: UInt64, size: UInt64, usedSize: UInt64) {
        self.compatibilityMask = compatibilityMask
        self.vpIndex = vpIndex
        self.vtl = vtl
        self.gpa = gpa
        self.size = size
        self.usedSize = usedSize
    }
}

/// `IGVM_VHS_CCA_POLICY` (32 bytes).
public struct IGVMCCAPolicy: Sendable, Hashable {
    public var compatibilityMask: UInt32
    public var attributesRequiredZeroes: UInt64
    public var attributesRequiredOnes: UInt64
    public var hashAlgorithm: UInt8
    public var lfaPolicy: UInt8

    public init(compatibilityMask: UInt32, attributesRequiredZeroes: UInt64, attributesRequiredOnes: UInt64, hashAlgorithm: UInt8, lfaPolicy: UInt8) {
        self.compatibilityMask = compatibilityMask
        self.attributesRequiredZeroes = attributesRequiredZeroes
        self.attributesRequiredOnes = attributesRequiredOnes
        self.hashAlgorithm = hashAlgorithm
        self.lfaPolicy = lfaPolicy
    }
}

/// `IGVM_VHS_CORIM_DATA` (16 bytes): a CoRIM document or signature in the file-data section.
public struct IGVMCorimData: Sendable, Hashable {
    public var compatibilityMask: UInt32
    public var fileOffset: UInt32
    public var sizeBytes: UInt32

    public init(compatibilityMask: UInt32, fileOffset: UInt32, sizeBytes: UInt32) {
        self.compatibilityMask = compatibilityMask
        self.fileOffset = fileOffset
        self.sizeBytes = sizeBytes
    }
}

/// An initialization header (section 0x101…0x200).
public enum IGVMInitializationHeader: Sendable, Hashable {
    case guestPolicy(policy: UInt64, compatibilityMask: UInt32)
    case relocatableRegion(IGVMRelocatableRegion)
    case pageTableRelocation(IGVMPageTableRelocation)
    case corimDocument(IGVMCorimData)
    case corimSignature(IGVMCorimData)
    case ccaPolicy(IGVMCCAPolicy)

    public var type: IGVMHeaderType {
        switch self {
        case .guestPolicy: .guestPolicy
        case .relocatableRegion: .relocatableRegion
        case .pageTableRelocation: .pageTableRelocationRegion
        case .corimDocument: .corimDocument
        case .corimSignature: .corimSignature
        case .ccaPolicy: .ccaPolicy
        }
    }

    public var compatibilityMask: UInt32 {
        switch self {
        case .guestPolicy(_, let m): m
        case .relocatableRegion(let r): r.compatibilityMask
        case .pageTableRelocation(let r): r.compatibilityMask
        case .corimDocument(let c), .corimSignature(let c): c.compatibilityMask
        case .ccaPolicy(let c): c.compatibilityMask
        }
    }
}

/// `IGVM_VHS_PAGE_DATA` (24 bytes). `fileOffset` 0 means a zero page.
public struct IGVMPageData: Sendable, Hashable {
    public var gpa: UInt64
    public var compatibilityMask: UInt32
    public var fileOffset: UInt32
    public var flags: IGVMPageDataFlags
    public var dataType: IGVMPageDataType

    public init(gpa: UInt64, compatibilityMask: UInt32, fileOffset: UInt32 = 0,
                flags: IGVMPageDataFlags = [], dataType: IGVMPageDataType = .normal) {
        self.gpa = gpa
        self.compatibilityMask = compatibilityMask
        self.fileOffset = fileOffset
        self.flags = flags
        self.dataType = dataType
    }
}

/// `IGVM_VHS_PARAMETER_AREA` (16 bytes).
public struct IGVMParameterArea: Sendable, Hashable {
    public var numberOfBytes: UInt64
    public var parameterAreaIndex: UInt32
    public var fileOffset: UInt32

    public init(numberOfBytes: UInt64, parameterAreaIndex: UInt32, fileOffset: UInt32) {
        self.numberOfBytes = numberOfBytes
        self.parameterAreaIndex = parameterAreaIndex
        self.fileOffset = fileOffset
    }
}

/// `IGVM_VHS_PARAMETER_INSERT` (16 bytes).
public struct IGVMParameterInsert: Sendable, Hashable {
    public var gpa: UInt64
    public var compatibilityMask: UInt32
    public var parameterAreaIndex: UInt32

    public init(gpa: UInt64, compatibilityMask: UInt32, parameterAreaIndex: UInt32) {
        self.gpa = gpa
        self.compatibilityMask = compatibilityMask
        self.parameterAreaIndex = parameterAreaIndex
    }
}

/// The directives that tell the loader to write something into a parameter area
/// (all use `IGVM_VHS_PARAMETER`).
public enum IGVMParameterKind: String, Sendable, CaseIterable {
    case vpCount = "vp-count"
    case srat, madt
    case mmioRanges = "mmio-ranges"
    case memoryMap = "memory-map"
    case commandLine = "command-line"
    case slit, pptt
    case deviceTree = "device-tree"
    case environmentInfo = "environment-info"

    public var headerType: IGVMHeaderType {
        switch self {
        case .vpCount: .vpCountParameter
        case .srat: .srat
        case .madt: .madt
        case .mmioRanges: .mmioRanges
        case .memoryMap: .memoryMap
        case .commandLine: .commandLine
        case .slit: .slit
        case .pptt: .pptt
        case .deviceTree: .deviceTree
        case .environmentInfo: .environmentInfoParameter
        }
    }

    init?(headerType: IGVMHeaderType) {
        guard let k = Self.allCases.first(where: { $0.headerType == headerType }) else { return nil }
        self = k
    }
}

/// `IGVM_VHS_PARAMETER` (8 bytes).
public struct IGVMParameter: Sendable, Hashable {
    public var kind: IGVMParameterKind
    public var parameterAreaIndex: UInt32
    public var byteOffset: UInt32

    public init(kind: IGVMParameterKind, parameterAreaIndex: UInt32, byteOffset: UInt32) {
        self.kind = kind
        self.parameterAreaIndex = parameterAreaIndex
        self.byteOffset = byteOffset
    }
}

/// What a VP context's 4 KiB of file data holds, decided (as libigvm does) by the platform whose
/// compatibility mask equals the header's mask exactly.
public enum IGVMVPContextFormat: String, Sendable {
    /// An AMD VMSA (SEV-ES, SEV-SNP): see `SEVVMSA`.
    case sevVMSA = "sev-vmsa"
    /// `IgvmNativeVpContextX64` (native, SEV).
    case nativeX64 = "native-x64"
    /// VBS register list (VSM isolation).
    case vbsRegisters = "vbs-registers"
    /// `IgvmVpContextAArch64Cca`.
    case ccaAArch64 = "cca-aarch64"
}

/// `IGVM_VHS_VP_CONTEXT` (20 bytes, padded to 24).
public struct IGVMVPContext: Sendable, Hashable {
    public var gpa: UInt64
    public var compatibilityMask: UInt32
    public var fileOffset: UInt32
    public var vpIndex: UInt16
    public var reserved: UInt16
    public var format: IGVMVPContextFormat

    public init(gpa: UInt64, compatibilityMask: UInt32, fileOffset: UInt32, vpIndex: UInt16, reserved: UInt16, format: IGVMVPContextFormat) {
        self.gpa = gpa
        self.compatibilityMask = compatibilityMask
        self.fileOffset = fileOffset
        self.vpIndex = vpIndex
        self.reserved = reserved
        self.format = format
    }
}

/// `IGVM_VHS_REQUIRED_MEMORY` (24 bytes).
public struct IGVMRequiredMemory: Sendable, Hashable {
    public var gpa: UInt64
    public var compatibilityMask: UInt32
    public var numberOfBytes: UInt32
    public var flags: UInt32

    public init(gpa: UInt64, compatibilityMask: UInt32, numberOfBytes: UInt32, flags: UInt32) {
        self.gpa = gpa
        self.compatibilityMask = compatibilityMask
        self.numberOfBytes = numberOfBytes
        self.flags = flags
    }
}

/// `IGVM_VHS_ERROR_RANGE` (16 bytes).
public struct IGVMErrorRange: Sendable, Hashable {
    public var gpa: UInt64
    public var compatibilityMask: UInt32
    public var sizeBytes: UInt32

    public init(gpa: UInt64, compatibilityMask: UInt32, sizeBytes: UInt32) {
        self.gpa = gpa
        self.compatibilityMask = compatibilityMask
        self.sizeBytes = sizeBytes
    }
}

/// `IGVM_VHS_SNP_ID_BLOCK_PUBLIC_KEY` (152 bytes, IGVM layout: curve, reserved, qx, qy).
public struct IGVMSNPPublicKey: Sendable, Hashable {
    public var curve: UInt32
    public var reserved: UInt32
    public var qx: [UInt8]  // 72
    public var qy: [UInt8]  // 72

    public init(curve: UInt32, reserved: UInt32, qx: [UInt8], qy: [UInt8]) {
        self.curve = curve
        self.reserved = reserved
        self.qx = qx
        self.qy = qy
    }
}

/// `IGVM_VHS_SNP_ID_BLOCK_SIGNATURE` (144 bytes).
public struct IGVMSNPSignature: Sendable, Hashable {
    public var r: [UInt8]  // 72
    public var s: [UInt8]  // 72

    public init(r: [UInt8], s: [UInt8]) {
        self.r = r
        self.s = s
    }
}

/// `IGVM_VHS_SNP_ID_BLOCK` (696 bytes).
public struct IGVMSNPIDBlock: Sendable, Hashable {
    public var compatibilityMask: UInt32
    public var authorKeyEnabled: UInt8
    public var reserved: [UInt8]  // 3
    public var ld: [UInt8]  // 48
    public var familyID: [UInt8]  // 16
    public var imageID: [UInt8]  // 16
    public var version: UInt32
    public var guestSVN: UInt32
    public var idKeyAlgorithm: UInt32
    public var authorKeyAlgorithm: UInt32
    public var idKeySignature: IGVMSNPSignature
    public var idPublicKey: IGVMSNPPublicKey
    public var authorKeySignature: IGVMSNPSignature
    public var authorPublicKey: IGVMSNPPublicKey

    public init(compatibilityMask: UInt32, authorKeyEnabled: UInt8, reserved: [UInt8], ld: [UInt8], familyID: [UInt8], imageID: [UInt8], version: UInt32, guestSVN: UInt32, idKeyAlgorithm: UInt32, authorKeyAlgorithm: UInt32, idKeySignature: IGVMSNPSignature, idPublicKey: IGVMSNPPublicKey, authorKeySignature: IGVMSNPSignature, authorPublicKey: IGVMSNPPublicKey) {
        self.compatibilityMask = compatibilityMask
        self.authorKeyEnabled = authorKeyEnabled
        self.reserved = reserved
        self.ld = ld
        self.familyID = familyID
        self.imageID = imageID
        self.version = version
        self.guestSVN = guestSVN
        self.idKeyAlgorithm = idKeyAlgorithm
        self.authorKeyAlgorithm = authorKeyAlgorithm
        self.idKeySignature = idKeySignature
        self.idPublicKey = idPublicKey
        self.authorKeySignature = authorKeySignature
        self.authorPublicKey = authorPublicKey
    }
}

/// `IGVM_VHS_VBS_MEASUREMENT` (864 bytes).
public struct IGVMVBSMeasurement: Sendable, Hashable {
    public var compatibilityMask: UInt32
    public var version: UInt32
    public var productID: UInt32
    public var moduleID: UInt32
    public var securityVersion: UInt32
    public var policyFlags: UInt32
    public var bootDigestAlgo: UInt32
    public var signingAlgo: UInt32
    public var bootMeasurementDigest: [UInt8]  // 64
    public var signature: [UInt8]  // 256
    public var publicKey: [UInt8]  // 512

    public init(compatibilityMask: UInt32, version: UInt32, productID: UInt32, moduleID: UInt32, securityVersion: UInt32, policyFlags: UInt32, bootDigestAlgo: UInt32, signingAlgo: UInt32, bootMeasurementDigest: [UInt8], signature: [UInt8], publicKey: [UInt8]) {
        self.compatibilityMask = compatibilityMask
        self.version = version
        self.productID = productID
        self.moduleID = moduleID
        self.securityVersion = securityVersion
        self.policyFlags = policyFlags
        self.bootDigestAlgo = bootDigestAlgo
        self.signingAlgo = signingAlgo
        self.bootMeasurementDigest = bootMeasurementDigest
        self.signature = signature
        self.publicKey = publicKey
    }
}

/// A directive header (section 0x301…0x400).
public enum IGVMDirective: Sendable, Hashable {
    case pageData(IGVMPageData)
    case parameterArea(IGVMParameterArea)
    case parameterInsert(IGVMParameterInsert)
    case parameter(IGVMParameter)
    case vpContext(IGVMVPContext)
    case requiredMemory(IGVMRequiredMemory)
    case errorRange(IGVMErrorRange)
    case snpIDBlock(IGVMSNPIDBlock)
    case vbsMeasurement(IGVMVBSMeasurement)

    public var type: IGVMHeaderType {
        switch self {
        case .pageData: .pageData
        case .parameterArea: .parameterArea
        case .parameterInsert: .parameterInsert
        case .parameter(let p): p.kind.headerType
        case .vpContext: .vpContext
        case .requiredMemory: .requiredMemory
        case .errorRange: .errorRange
        case .snpIDBlock: .snpIDBlock
        case .vbsMeasurement: .vbsMeasurement
        }
    }

    /// The compatibility mask, for the directives that carry one (parameter areas and
    /// parameter usages apply to every platform).
    public var compatibilityMask: UInt32? {
        switch self {
        case .pageData(let p): p.compatibilityMask
        case .parameterArea, .parameter: nil
        case .parameterInsert(let p): p.compatibilityMask
        case .vpContext(let v): v.compatibilityMask
        case .requiredMemory(let r): r.compatibilityMask
        case .errorRange(let e): e.compatibilityMask
        case .snpIDBlock(let s): s.compatibilityMask
        case .vbsMeasurement(let v): v.compatibilityMask
        }
    }
}
