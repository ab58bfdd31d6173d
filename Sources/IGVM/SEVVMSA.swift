import Numerals

/// An AMD SEV-ES/SEV-SNP VM save area (VMSA, APM Vol. 2 Table B-4) as the 4 KiB page IGVM
/// stores and SEV-SNP measures. Backed by the raw page so serialization is exact; named
/// accessors cover the fields QEMU lets an IGVM VMSA set (`check_vmsa_supported()` in QEMU's
/// `target/i386/sev.c`; the field list of `docs/system/igvm.rst`).
public struct SEVVMSA: Sendable, Hashable {
    /// The page, always exactly 4096 bytes.
    public private(set) var bytes: [UInt8]

    /// A zeroed VMSA.
    public init() { bytes = [UInt8](repeating: 0, count: 4096) }

    /// The VMSA in a 4 KiB page; nil unless `page` is exactly 4096 bytes.
    public init?<C: Collection>(page: C) where C.Element == UInt8 {
        guard page.count == 4096 else { return nil }
        bytes = Array(page)
    }

    /// A segment register (`vmcb_seg`: selector, attrib, limit, base).
    public struct Segment: Sendable, Hashable {
        public var selector: UInt16
        public var attrib: UInt16
        public var limit: UInt32
        public var base: UInt64
        public init(selector: UInt16 = 0, attrib: UInt16 = 0, limit: UInt32 = 0, base: UInt64 = 0) {
            self.selector = selector
            self.attrib = attrib
            self.limit = limit
            self.base = base
        }
    }

    /// Field offsets in the save area.
    public enum Offset {
        public static let es = 0x00, cs = 0x10, ss = 0x20, ds = 0x30, fs = 0x40, gs = 0x50
        public static let gdtr = 0x60, ldtr = 0x70, idtr = 0x80, tr = 0x90
        public static let efer = 0xD0, cr4 = 0x148, cr3 = 0x150, cr0 = 0x158, dr7 = 0x160, dr6 = 0x168
        public static let rflags = 0x170, rip = 0x178, rsp = 0x1D8, rax = 0x1F8, gPAT = 0x268
        public static let rcx = 0x308, rdx = 0x310, rbx = 0x318, rbp = 0x328, rsi = 0x330, rdi = 0x338
        public static let r8 = 0x340
        public static let sevFeatures = 0x3B0, xcr0 = 0x3E8, mxcsr = 0x408, x87FCW = 0x410
        /// End of `sev_es_save_area` as QEMU checks it.
        public static let qemuCheckedEnd = 0x670
    }

    public func segment(at offset: Int) -> Segment {
        Segment(selector: bytes.loadLE(UInt16.self, at: offset), attrib: bytes.loadLE(UInt16.self, at: offset + 2),
                limit: bytes.loadLE(UInt32.self, at: offset + 4), base: bytes.loadLE(UInt64.self, at: offset + 8))
    }

    public mutating func setSegment(_ s: Segment, at offset: Int) {
        bytes.storeLE(s.selector, at: offset)
        bytes.storeLE(s.attrib, at: offset + 2)
        bytes.storeLE(s.limit, at: offset + 4)
        bytes.storeLE(s.base, at: offset + 8)
    }

    public func u64(at offset: Int) -> UInt64 { bytes.loadLE(UInt64.self, at: offset) }
    public mutating func setU64(_ v: UInt64, at offset: Int) { bytes.storeLE(v, at: offset) }

    public var rip: UInt64 { get { u64(at: Offset.rip) } set { setU64(newValue, at: Offset.rip) } }
    public var rdx: UInt64 { get { u64(at: Offset.rdx) } set { setU64(newValue, at: Offset.rdx) } }
    public var rsp: UInt64 { get { u64(at: Offset.rsp) } set { setU64(newValue, at: Offset.rsp) } }
    public var cr0: UInt64 { get { u64(at: Offset.cr0) } set { setU64(newValue, at: Offset.cr0) } }
    public var cr3: UInt64 { get { u64(at: Offset.cr3) } set { setU64(newValue, at: Offset.cr3) } }
    public var cr4: UInt64 { get { u64(at: Offset.cr4) } set { setU64(newValue, at: Offset.cr4) } }
    public var efer: UInt64 { get { u64(at: Offset.efer) } set { setU64(newValue, at: Offset.efer) } }
    public var rflags: UInt64 { get { u64(at: Offset.rflags) } set { setU64(newValue, at: Offset.rflags) } }
    public var sevFeatures: UInt64 { get { u64(at: Offset.sevFeatures) } set { setU64(newValue, at: Offset.sevFeatures) } }
    public var cs: Segment { get { segment(at: Offset.cs) } set { setSegment(newValue, at: Offset.cs) } }

    /// The fields QEMU (`check_vmsa_supported`, target/i386/sev.c) lets an IGVM VMSA set, as
    /// (name, offset, size); everything else in the first 0x670 bytes must be zero.
    public static let qemuAllowedFields: [(name: String, offset: Int, size: Int)] = {
        var f: [(String, Int, Int)] = [
            ("es", Offset.es, 16), ("cs", Offset.cs, 16), ("ss", Offset.ss, 16), ("ds", Offset.ds, 16),
            ("fs", Offset.fs, 16), ("gs", Offset.gs, 16), ("gdtr", Offset.gdtr, 16), ("ldtr", Offset.ldtr, 16),
            ("idtr", Offset.idtr, 16), ("tr", Offset.tr, 16), ("efer", Offset.efer, 8), ("cr4", Offset.cr4, 8),
            ("cr3", Offset.cr3, 8), ("cr0", Offset.cr0, 8), ("dr7", Offset.dr7, 8), ("dr6", Offset.dr6, 8),
            ("rflags", Offset.rflags, 8), ("rip", Offset.rip, 8), ("rsp", Offset.rsp, 8), ("rax", Offset.rax, 8),
            ("g_pat", Offset.gPAT, 8), ("rcx", Offset.rcx, 8), ("rdx", Offset.rdx, 8), ("rbx", Offset.rbx, 8),
            ("rbp", Offset.rbp, 8), ("rsi", Offset.rsi, 8), ("rdi", Offset.rdi, 8),
            ("sev_features", Offset.sevFeatures, 8), ("xcr0", Offset.xcr0, 8), ("mxcsr", Offset.mxcsr, 4),
            ("x87_fcw", Offset.x87FCW, 2),
        ]
        for i in 0..<8 { f.append(("r\(8 + i)", Offset.r8 + 8 * i, 8)) }
        return f.map { (name: $0.0, offset: $0.1, size: $0.2) }
    }()

    /// Offsets (below 0x670) of non-zero bytes QEMU would refuse, grouped into runs.
    public func disallowedNonZeroRanges() -> [Range<Int>] {
        var allowed = [Bool](repeating: false, count: Offset.qemuCheckedEnd)
        for f in Self.qemuAllowedFields { for i in f.offset..<(f.offset + f.size) { allowed[i] = true } }
        var ranges: [Range<Int>] = []
        var i = 0
        while i < Offset.qemuCheckedEnd {
            if !allowed[i] && bytes[i] != 0 {
                let start = i
                while i < Offset.qemuCheckedEnd && !allowed[i] && bytes[i] != 0 { i += 1 }
                ranges.append(start..<i)
            } else { i += 1 }
        }
        return ranges
    }


    /// The reset-state VMSA QEMU/KVM builds and sev-snp-measure models (its `vmsa.py`;
    /// docs/background.md, "OVMF images"):
    /// real mode at `eip` (0xFFFFFFF0 for the BSP, the SEV-ES reset block EIP for APs).
    /// - Parameters:
    ///   - rdx: the vCPU signature sev-snp-measure puts in RDX (buildigvm uses 0).
    ///   - sevFeatures: `sev_features` (bit 0 SNP_ACTIVE for SEV-SNP, 0 for SEV-ES).
    public static func resetState(eip: UInt32, rdx: UInt64 = 0, sevFeatures: UInt64) -> SEVVMSA {
        var v = SEVVMSA()
        let data = Segment(selector: 0, attrib: 0x93, limit: 0xFFFF, base: 0)
        for off in [Offset.es, Offset.ss, Offset.ds, Offset.fs, Offset.gs] { v.setSegment(data, at: off) }
        v.setSegment(Segment(selector: 0xF000, attrib: 0x9B, limit: 0xFFFF, base: UInt64(eip & 0xFFFF_0000)), at: Offset.cs)
        v.setSegment(Segment(limit: 0xFFFF), at: Offset.gdtr)
        v.setSegment(Segment(limit: 0xFFFF), at: Offset.idtr)
        v.setSegment(Segment(attrib: 0x82, limit: 0xFFFF), at: Offset.ldtr)
        v.setSegment(Segment(attrib: 0x8B, limit: 0xFFFF), at: Offset.tr)
        v.rip = UInt64(eip & 0xFFFF)
        v.efer = 0x1000
        v.cr4 = 0x40
        v.cr0 = 0x10
        v.setU64(0x400, at: Offset.dr7)
        v.setU64(0xFFFF_0FF0, at: Offset.dr6)
        v.rflags = 0x2
        v.setU64(0x0007_0406_0007_0406, at: Offset.gPAT)
        v.rdx = rdx
        v.sevFeatures = sevFeatures
        v.setU64(0x1, at: Offset.xcr0)
        v.bytes.storeLE(UInt32(0x1F80), at: Offset.mxcsr)
        v.bytes.storeLE(UInt16(0x37F), at: Offset.x87FCW)
        return v
    }
}
