import Numerals

/// What `igvm inspect` shows about a file: a summary built from the parsed headers.
public struct IGVMInspection: Sendable {
    public struct Platform: Sendable {
        public var type: IGVMPlatformType
        public var compatibilityMask: UInt32
        public var version: UInt16
        public var highestVTL: UInt8
        public var sharedGPABoundary: UInt64
        public var policy: UInt64?
        /// Named bits set in the policy (SNP or legacy SEV layout by platform).
        public var policyBits: [String]
        /// GPA ranges its PAGE_DATA covers, merged, each half-open.
        public var gpaRanges: [Range<UInt64>]
        public var pageCount: Int
        public var vmsaCount: Int
    }

    public struct ParameterArea: Sendable {
        public var index: UInt32
        public var size: UInt64
        /// (header type name, byte offset) of each parameter directive filling the area.
        public var uses: [(kind: String, byteOffset: UInt32)]
        public var insertedAt: UInt64?
        public var insertMask: UInt32?
    }

    public struct VMSA: Sendable {
        public var compatibilityMask: UInt32
        public var vpIndex: UInt16
        public var gpa: UInt64
        public var rip: UInt64
        public var cs: SEVVMSA.Segment
        public var rsp: UInt64
        public var rdx: UInt64
        public var cr0: UInt64
        public var cr4: UInt64
        public var efer: UInt64
        public var sevFeatures: UInt64
    }

    public var fixedHeader: IGVMFixedHeader
    public var fileSize: Int
    public var platforms: [Platform]
    /// Directive counts by C type name, in type-code order.
    public var directiveCounts: [(type: String, count: Int)]
    public var initializationCount: Int
    public var parameterAreas: [ParameterArea]
    public var vmsas: [VMSA]

    /// Plain-text rendering, one fact per line.
    public var textLines: [String] {
        var l: [String] = []
        let h = fixedHeader
        l.append("format: V\(h.formatVersion)" + (h.architecture.map { ", architecture \($0 == 1 ? "aarch64" : "x64")" } ?? "")
                 + ", \(fileSize) bytes, checksum \(hex(h.checksum))")
        l.append("variable headers: offset \(hex(h.variableHeaderOffset)), \(h.variableHeaderSize) bytes; file data from \(hex(Int(h.variableHeaderOffset) + Int(h.variableHeaderSize)))")
        l.append("platforms: \(platforms.count)")
        for p in platforms {
            var line = "  \(p.type.name): mask \(hex(p.compatibilityMask)), version \(p.version), highest VTL \(p.highestVTL)"
            if p.sharedGPABoundary != 0 { line += ", shared GPA boundary \(hex(p.sharedGPABoundary))" }
            l.append(line)
            if let policy = p.policy {
                l.append("    policy \(hex(policy))" + (p.policyBits.isEmpty ? "" : ": " + p.policyBits.joined(separator: ", ")))
            }
            l.append("    \(p.pageCount) pages, \(p.vmsaCount) VMSAs, GPA ranges: "
                     + p.gpaRanges.map { "\(hex($0.lowerBound))-\(hex($0.upperBound - 1))" }.joined(separator: ", "))
        }
        l.append("initialization headers: \(initializationCount)")
        l.append("directives: \(directiveCounts.reduce(0) { $0 + $1.count })")
        for c in directiveCounts { l.append("  \(c.type): \(c.count)") }
        for a in parameterAreas {
            var line = "parameter area \(a.index): \(hex(a.size)) bytes"
            if !a.uses.isEmpty { line += ", " + a.uses.map { "\($0.kind)@\(hex($0.byteOffset))" }.joined(separator: ", ") }
            line += a.insertedAt.map { ", inserted at \(hex($0)) (mask \(hex(a.insertMask ?? 0)))" } ?? ", never inserted"
            l.append(line)
        }
        for v in vmsas {
            l.append("VMSA vp \(v.vpIndex) mask \(hex(v.compatibilityMask)) gpa \(hex(v.gpa)): cs \(hex(v.cs.selector)):\(hex(v.cs.base)) "
                     + "rip \(hex(v.rip)) rsp \(hex(v.rsp)) rdx \(hex(v.rdx)) cr0 \(hex(v.cr0)) cr4 \(hex(v.cr4)) "
                     + "efer \(hex(v.efer)) sev_features \(hex(v.sevFeatures))")
        }
        return l
    }
}

/// Builds `IGVMInspection`s.
public enum IGVMInspector {
    public static func report(_ file: IGVMFile) -> IGVMInspection {
        var counts: [IGVMHeaderType: Int] = [:]
        for d in file.directives { counts[d.type, default: 0] += 1 }
        let directiveCounts = IGVMHeaderType.allCases.compactMap { t in counts[t].map { (type: t.cName, count: $0) } }

        var areas: [IGVMInspection.ParameterArea] = []
        var vmsas: [IGVMInspection.VMSA] = []
        for d in file.directives {
            switch d {
            case .parameterArea(let a):
                areas.append(.init(index: a.parameterAreaIndex, size: a.numberOfBytes, uses: []))
            case .parameter(let p):
                if let i = areas.lastIndex(where: { $0.index == p.parameterAreaIndex }) {
                    areas[i].uses.append((kind: p.kind.headerType.cName, byteOffset: p.byteOffset))
                }
            case .parameterInsert(let ins):
                if let i = areas.lastIndex(where: { $0.index == ins.parameterAreaIndex }) {
                    areas[i].insertedAt = ins.gpa
                    areas[i].insertMask = ins.compatibilityMask
                }
            case .vpContext(let c) where c.format == .sevVMSA:
                if let page = file.data(of: c), let v = SEVVMSA(page: page) {
                    vmsas.append(.init(compatibilityMask: c.compatibilityMask, vpIndex: c.vpIndex, gpa: c.gpa, rip: v.rip,
                                       cs: v.cs, rsp: v.rsp, rdx: v.rdx, cr0: v.cr0, cr4: v.cr4, efer: v.efer,
                                       sevFeatures: v.sevFeatures))
                }
            default: break
            }
        }

        let platforms = file.platforms.map { p -> IGVMInspection.Platform in
            let mask = p.compatibilityMask
            var gpas: [UInt64] = []
            var vmsaCount = 0
            for d in file.directives {
                if case .pageData(let page) = d, page.compatibilityMask & mask != 0 { gpas.append(page.gpa) }
                if case .vpContext(let c) = d, c.compatibilityMask == mask { vmsaCount += 1 }
            }
            let policy = file.guestPolicy(forMask: mask)
            let bits: [String] = policy.map { p.platformType == .sevSNP ? SNPPolicy($0).setBitNames : SEVPolicy(truncating: $0).setBitNames } ?? []
            return .init(type: p.platformType, compatibilityMask: mask, version: p.platformVersion, highestVTL: p.highestVTL,
                         sharedGPABoundary: p.sharedGPABoundary, policy: policy, policyBits: bits,
                         gpaRanges: mergedPageRanges(gpas), pageCount: gpas.count, vmsaCount: vmsaCount)
        }
        return IGVMInspection(fixedHeader: file.fixedHeader, fileSize: file.bytes.count, platforms: platforms,
                              directiveCounts: directiveCounts, initializationCount: file.initializations.count,
                              parameterAreas: areas, vmsas: vmsas)
    }

    /// Half-open ranges covered by 4 KiB pages at `gpas`, merged where contiguous or overlapping.
    public static func mergedPageRanges(_ gpas: [UInt64]) -> [Range<UInt64>] {
        var result: [Range<UInt64>] = []
        for gpa in gpas.sorted() {
            let end = gpa.addingReportingOverflow(igvmPageSize)
            let upper = end.overflow ? UInt64.max : end.partialValue
            if let last = result.last, gpa <= last.upperBound {
                result[result.count - 1] = last.lowerBound..<max(last.upperBound, upper)
            } else {
                result.append(gpa..<upper)
            }
        }
        return result
    }
}
