/// A parsed IGVM file: typed headers plus the original bytes, from which file data is sliced on
/// demand (nothing is copied or allocated by length fields).
public struct IGVMFile: Sendable {
    /// The whole file as read.
    public let bytes: [UInt8]
    public let fixedHeader: IGVMFixedHeader
    public let platforms: [IGVMSupportedPlatform]
    public let initializations: [IGVMInitializationHeader]
    public let directives: [IGVMDirective]
    /// Byte offset in the file of each header's 8-byte type/length prefix, index-aligned with
    /// `platforms`, `initializations` and `directives`.
    public let platformOffsets: [Int]
    public let initializationOffsets: [Int]
    public let directiveOffsets: [Int]

    init(bytes: [UInt8], fixedHeader: IGVMFixedHeader, platforms: [IGVMSupportedPlatform],
         initializations: [IGVMInitializationHeader], directives: [IGVMDirective],
         platformOffsets: [Int], initializationOffsets: [Int], directiveOffsets: [Int]) {
        self.bytes = bytes
        self.fixedHeader = fixedHeader
        self.platforms = platforms
        self.initializations = initializations
        self.directives = directives
        self.platformOffsets = platformOffsets
        self.initializationOffsets = initializationOffsets
        self.directiveOffsets = directiveOffsets
    }

    /// Parses and checks `bytes` exactly as libigvm's `IgvmFile::new_from_binary` does in
    /// `release`, throwing the first rule broken, in libigvm's order.
    public init(bytes: [UInt8], release: LibIGVMRelease = .main) throws(IGVMParseError) {
        var parser = IGVMParser(bytes, release: release)
        self = try parser.parse()
    }

    /// Offset of the first byte after the variable-header section.
    public var fileDataStart: Int {
        Int(fixedHeader.variableHeaderOffset) + Int(fixedHeader.variableHeaderSize)
    }

    /// `length` bytes of file data at absolute file offset `fileOffset`; nil for offset 0 (no
    /// data) or when the range is not inside the file-data section.
    public func fileData(at fileOffset: UInt32, length: Int) -> ArraySlice<UInt8>? {
        let start = Int(fileOffset)
        guard fileOffset != 0, start >= fileDataStart, length >= 0,
              LEReader.fits(bytes, offset: start, count: length) else { return nil }
        return bytes[start..<(start + length)]
    }

    /// The 4 KiB a PAGE_DATA directive loads, or nil for a zero page (file_offset 0).
    public func data(of page: IGVMPageData) -> ArraySlice<UInt8>? {
        fileData(at: page.fileOffset, length: Int(igvmPageSize))
    }

    /// The 4 KiB of VP context data (a VMSA for SEV-ES/SNP).
    public func data(of context: IGVMVPContext) -> ArraySlice<UInt8>? {
        fileData(at: context.fileOffset, length: Int(igvmPageSize))
    }

    /// The initial contents of a parameter area (QEMU ignores them), or nil when none.
    public func data(of area: IGVMParameterArea) -> ArraySlice<UInt8>? {
        guard area.numberOfBytes <= UInt64(Int.max) else { return nil }
        return fileData(at: area.fileOffset, length: Int(area.numberOfBytes))
    }

    /// The platform header whose compatibility mask is exactly `mask` (libigvm's mask→platform map).
    public func platform(forMask mask: UInt32) -> IGVMSupportedPlatform? {
        platforms.last(where: { $0.compatibilityMask == mask })
    }

    /// The platform header of a given type, if present.
    public func platform(ofType type: IGVMPlatformType) -> IGVMSupportedPlatform? {
        platforms.first(where: { $0.platformType == type })
    }

    /// Guest policy for a platform's mask, from the GUEST_POLICY initialization header.
    public func guestPolicy(forMask mask: UInt32) -> UInt64? {
        for case .guestPolicy(let policy, let m) in initializations where m & mask != 0 { return policy }
        return nil
    }
}
