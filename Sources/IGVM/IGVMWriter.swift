/// Builds IGVM files the way libigvm's `IgvmFile::serialize` does: fixed header, variable
/// headers each padded to 8 bytes, then file data deduplicated (identical blocks share one
/// file offset), with the CRC-32 over the fixed header (checksum zeroed) and variable headers.
public struct IGVMWriter: Sendable {
    /// A directive plus the file data it carries: PAGE_DATA (≤ 4 KiB, zero-padded; nil or empty
    /// for a zero page), VP_CONTEXT (≤ 4 KiB), PARAMETER_AREA initial data (≤ its size).
    /// File offsets inside `directive` are ignored and recomputed.
    public struct Entry: Sendable, Hashable {
        public var directive: IGVMDirective
        public var data: [UInt8]?
        public init(_ directive: IGVMDirective, data: [UInt8]? = nil) {
            self.directive = directive
            self.data = data
        }
    }

    /// 1 (V1, x64) or 2 (V2 with `architecture`).
    public var formatVersion: UInt32 = 1
    public var architecture: UInt32 = 0
    public var platforms: [IGVMSupportedPlatform] = []
    public var initializations: [IGVMInitializationHeader] = []
    public var entries: [Entry] = []
    /// Raw bytes appended after the deduplicated file data (test files that carry no data
    /// still need a non-empty file-data section for libigvm).
    public var trailingData: [UInt8] = []

    public init(formatVersion: UInt32 = 1) { self.formatVersion = formatVersion }

    public mutating func add(_ directive: IGVMDirective, data: [UInt8]? = nil) {
        entries.append(Entry(directive, data: data))
    }

    /// The serialized file.
    public func serialize() -> [UInt8] {
        let fixedSize = formatVersion == 2 ? 32 : 24
        // Headers first with placeholder offsets, to learn where file data starts.
        var w = LEWriter()
        for p in platforms { Self.encode(p, into: &w) }
        for i in initializations { Self.encode(i, into: &w) }
        var headerSize = w.bytes.count
        for e in entries { headerSize += 8 + Self.aligned8(e.directive.type.payloadLength ?? 0) }
        let dataStart = fixedSize + headerSize

        var fileData: [UInt8] = []
        var dedup: [[UInt8]: UInt32] = [:]
        func place(_ block: [UInt8]) -> UInt32 {
            if let off = dedup[block] { return off }
            let off = UInt32(dataStart + fileData.count)
            fileData.append(contentsOf: block)
            dedup[block] = off
            return off
        }
        func padded(_ d: [UInt8], to size: Int) -> [UInt8] {
            d.count >= size ? d : d + [UInt8](repeating: 0, count: size - d.count)
        }

        for e in entries {
            var d = e.directive
            switch d {
            case .pageData(var page):
                page.fileOffset = (e.data ?? []).isEmpty ? 0 : place(padded(e.data!, to: 4096))
                d = .pageData(page)
            case .vpContext(var ctx):
                ctx.fileOffset = place(padded(e.data ?? [], to: 4096))
                d = .vpContext(ctx)
            case .parameterArea(var area):
                area.fileOffset = (e.data ?? []).isEmpty ? 0 : place(padded(e.data!, to: Int(area.numberOfBytes)))
                d = .parameterArea(area)
            default: break
            }
            Self.encode(d, into: &w)
        }
        fileData.append(contentsOf: trailingData)

        var fixed = IGVMFixedHeader(formatVersion: formatVersion, variableHeaderOffset: UInt32(fixedSize),
                                    variableHeaderSize: UInt32(w.bytes.count),
                                    totalFileSize: UInt32(fixedSize + w.bytes.count + fileData.count), checksum: 0)
        if formatVersion == 2 {
            fixed.architecture = architecture
            fixed.pageSize = 4096
        }
        var crc = CRC32()
        crc.update(fixed.encoded(zeroChecksum: true))
        crc.update(w.bytes)
        fixed.checksum = crc.value
        return fixed.encoded() + w.bytes + fileData
    }

    static func aligned8(_ n: Int) -> Int { (n + 7) & ~7 }

    private static func begin(_ type: IGVMHeaderType, _ w: inout LEWriter) {
        w.u32(type.rawValue)
        w.u32(UInt32(type.payloadLength ?? 0))
    }

    static func encode(_ p: IGVMSupportedPlatform, into w: inout LEWriter) {
        begin(.supportedPlatform, &w)
        w.u32(p.compatibilityMask)
        w.u8(p.highestVTL)
        w.u8(p.platformType.rawValue)
        w.u16(p.platformVersion)
        w.u64(p.sharedGPABoundary)
    }

    static func encode(_ h: IGVMInitializationHeader, into w: inout LEWriter) {
        begin(h.type, &w)
        switch h {
        case .guestPolicy(let policy, let mask):
            w.u64(policy); w.u32(mask); w.u32(0)
        case .relocatableRegion(let r):
            w.u32(r.compatibilityMask); w.u16(r.vpIndex); w.u8(r.vtl); w.u8(r.flags)
            w.u64(r.relocationAlignment); w.u64(r.relocationRegionGPA); w.u64(r.relocationRegionSize)
            w.u64(r.minimumRelocationGPA); w.u64(r.maximumRelocationGPA)
        case .pageTableRelocation(let r):
            w.u32(r.compatibilityMask); w.u16(r.vpIndex); w.u8(r.vtl); w.u8(0)
            w.u64(r.gpa); w.u64(r.size); w.u64(r.usedSize)
        case .corimDocument(let c), .corimSignature(let c):
            w.u32(c.compatibilityMask); w.u32(c.fileOffset); w.u32(c.sizeBytes); w.u32(0)
        case .ccaPolicy(let c):
            w.u32(c.compatibilityMask); w.u32(0); w.u64(c.attributesRequiredZeroes); w.u64(c.attributesRequiredOnes)
            w.u8(c.hashAlgorithm); w.u8(c.lfaPolicy); w.zeros(6)
        }
        w.align(8)
    }

    static func encode(_ d: IGVMDirective, into w: inout LEWriter) {
        begin(d.type, &w)
        switch d {
        case .pageData(let p):
            w.u64(p.gpa); w.u32(p.compatibilityMask); w.u32(p.fileOffset); w.u32(p.flags.rawValue)
            w.u16(p.dataType.rawValue); w.u16(0)
        case .parameterArea(let a):
            w.u64(a.numberOfBytes); w.u32(a.parameterAreaIndex); w.u32(a.fileOffset)
        case .parameterInsert(let i):
            w.u64(i.gpa); w.u32(i.compatibilityMask); w.u32(i.parameterAreaIndex)
        case .parameter(let p):
            w.u32(p.parameterAreaIndex); w.u32(p.byteOffset)
        case .vpContext(let c):
            w.u64(c.gpa); w.u32(c.compatibilityMask); w.u32(c.fileOffset); w.u16(c.vpIndex); w.u16(c.reserved)
        case .requiredMemory(let r):
            w.u64(r.gpa); w.u32(r.compatibilityMask); w.u32(r.numberOfBytes); w.u32(r.flags); w.u32(0)
        case .errorRange(let e):
            w.u64(e.gpa); w.u32(e.compatibilityMask); w.u32(e.sizeBytes)
        case .snpIDBlock(let b):
            w.u32(b.compatibilityMask); w.u8(b.authorKeyEnabled); w.raw(fixed(b.reserved, 3)); w.raw(fixed(b.ld, 48))
            w.raw(fixed(b.familyID, 16)); w.raw(fixed(b.imageID, 16)); w.u32(b.version); w.u32(b.guestSVN)
            w.u32(b.idKeyAlgorithm); w.u32(b.authorKeyAlgorithm)
            for s in [b.idKeySignature] { w.raw(fixed(s.r, 72)); w.raw(fixed(s.s, 72)) }
            for k in [b.idPublicKey] { w.u32(k.curve); w.u32(k.reserved); w.raw(fixed(k.qx, 72)); w.raw(fixed(k.qy, 72)) }
            for s in [b.authorKeySignature] { w.raw(fixed(s.r, 72)); w.raw(fixed(s.s, 72)) }
            for k in [b.authorPublicKey] { w.u32(k.curve); w.u32(k.reserved); w.raw(fixed(k.qx, 72)); w.raw(fixed(k.qy, 72)) }
        case .vbsMeasurement(let v):
            for x in [v.compatibilityMask, v.version, v.productID, v.moduleID, v.securityVersion, v.policyFlags,
                      v.bootDigestAlgo, v.signingAlgo] { w.u32(x) }
            w.raw(fixed(v.bootMeasurementDigest, 64)); w.raw(fixed(v.signature, 256)); w.raw(fixed(v.publicKey, 512))
        }
        w.align(8)
    }

    private static func fixed(_ b: [UInt8], _ n: Int) -> [UInt8] {
        b.count >= n ? Array(b.prefix(n)) : b + [UInt8](repeating: 0, count: n - b.count)
    }
}

extension IGVMFile {
    /// A writer holding this file's headers and file data; `serialize()` reproduces a file
    /// equivalent to this one (byte-identical when it was written by libigvm or `IGVMWriter`).
    public func writer() -> IGVMWriter {
        var w = IGVMWriter(formatVersion: fixedHeader.formatVersion)
        w.architecture = fixedHeader.architecture ?? 0
        w.platforms = platforms
        w.initializations = initializations
        w.entries = directives.map { d in
            switch d {
            case .pageData(let p): IGVMWriter.Entry(d, data: data(of: p).map(Array.init))
            case .vpContext(let c): IGVMWriter.Entry(d, data: data(of: c).map(Array.init))
            case .parameterArea(let a): IGVMWriter.Entry(d, data: data(of: a).map(Array.init))
            default: IGVMWriter.Entry(d)
            }
        }
        return w
    }

    /// The header bytes libigvm's C API returns from `igvm_get_header` for directive `index`:
    /// the 8-byte type/length prefix and payload, with file offsets relative to the header's
    /// own data (so 0), as the C tests expect.
    public func cAPIDirectiveHeader(at index: Int) -> [UInt8] {
        var d = directives[index]
        switch d {
        case .pageData(var p): if p.fileOffset != 0 { p.fileOffset = 0 }; d = .pageData(p)
        case .vpContext(var c): c.fileOffset = 0; d = .vpContext(c)
        case .parameterArea(var a): a.fileOffset = 0; d = .parameterArea(a)
        default: break
        }
        var w = LEWriter()
        IGVMWriter.encode(d, into: &w)
        return Array(w.bytes.prefix(8 + (d.type.payloadLength ?? 0)))
    }

    /// The data `igvm_get_header_data` returns for directive `index`, or nil where the C API
    /// answers `IGVMAPI_NO_DATA`.
    public func cAPIDirectiveData(at index: Int) -> ArraySlice<UInt8>? {
        switch directives[index] {
        case .pageData(let p): data(of: p)
        case .vpContext(let c): data(of: c)
        case .parameterArea(let a): data(of: a)
        default: nil
        }
    }
}
