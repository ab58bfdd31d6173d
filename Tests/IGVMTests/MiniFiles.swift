import IGVM

/// Minimal IGVM files for rule tests. The base file (V1) is laid out as:
/// 0x00 fixed header, 0x18 SUPPORTED_PLATFORM (payload 0x20), 0x30 GUEST_POLICY (payload 0x38),
/// 0x48 PAGE_DATA gpa 0x1000 zero page (payload 0x50), 0x68 next header or file data.
enum MiniFile {
    static func writer(_ platform: IGVMPlatformType = .sevSNP, version: UInt32 = 1, arch: UInt32 = 0,
                       _ extra: (inout IGVMWriter) -> Void = { _ in }) -> IGVMWriter {
        var w = IGVMWriter(formatVersion: version)
        w.architecture = arch
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: platform)]
        w.initializations = [.guestPolicy(policy: 0x30000, compatibilityMask: 1)]
        w.add(.pageData(IGVMPageData(gpa: 0x1000, compatibilityMask: 1)))
        w.trailingData = [UInt8](repeating: 0xAA, count: 8)
        extra(&w)
        return w
    }

    static func bytes(_ platform: IGVMPlatformType = .sevSNP, version: UInt32 = 1, arch: UInt32 = 0,
                      _ extra: (inout IGVMWriter) -> Void = { _ in }) -> [UInt8] {
        writer(platform, version: version, arch: arch, extra).serialize()
    }

    /// The base file with a little-endian value stored at `offset` and the checksum repaired,
    /// so that only the rule the change breaks is broken.
    static func patched<T: FixedWidthInteger>(_ value: T, at offset: Int, _ base: [UInt8] = bytes(),
                                              repair: Bool = true) -> [UInt8] {
        var b = base
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { for (i, x) in $0.enumerated() { b[offset + i] = x } }
        if repair { IGVMChecksum.repair(&b) }
        return b
    }

    static func vp(_ mask: UInt32, gpa: UInt64 = igvmKVMVMSAGPA, index: UInt16 = 0) -> IGVMDirective {
        .vpContext(IGVMVPContext(gpa: gpa, compatibilityMask: mask, fileOffset: 0, vpIndex: index, reserved: 0, format: .sevVMSA))
    }

    static func area(_ index: UInt32, size: UInt64 = 0x1000) -> IGVMDirective {
        .parameterArea(IGVMParameterArea(numberOfBytes: size, parameterAreaIndex: index, fileOffset: 0))
    }

    static func insert(_ index: UInt32, gpa: UInt64 = 0x20000) -> IGVMDirective {
        .parameterInsert(IGVMParameterInsert(gpa: gpa, compatibilityMask: 1, parameterAreaIndex: index))
    }

    static func region(gpa: UInt64, size: UInt64 = 0x2000, alignment: UInt64 = 0x1000) -> IGVMInitializationHeader {
        .relocatableRegion(IGVMRelocatableRegion(compatibilityMask: 1, vpIndex: 0, vtl: 0, flags: 0,
                                                 relocationAlignment: alignment, relocationRegionGPA: gpa,
                                                 relocationRegionSize: size, minimumRelocationGPA: 0,
                                                 maximumRelocationGPA: 0x1000_0000))
    }

    static func pageTable(gpa: UInt64 = 0x10000, size: UInt64 = 0x2000, used: UInt64 = 0x1000, vtl: UInt8 = 0) -> IGVMInitializationHeader {
        .pageTableRelocation(IGVMPageTableRelocation(compatibilityMask: 1, vpIndex: 0, vtl: vtl, gpa: gpa, size: size, usedSize: used))
    }

    static func cca(mask: UInt32 = 1, zeroes: UInt64 = 0, ones: UInt64 = 0) -> IGVMInitializationHeader {
        .ccaPolicy(IGVMCCAPolicy(compatibilityMask: mask, attributesRequiredZeroes: zeroes, attributesRequiredOnes: ones,
                                 hashAlgorithm: 0, lfaPolicy: 0))
    }
}
