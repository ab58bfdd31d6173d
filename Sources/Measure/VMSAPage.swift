/// A 4096-byte SEV-ES save area (VMSA) with the field offsets of Linux's
/// `struct sev_es_save_area` (AMD APM vol. 2, table B-4).
struct VMSAPage {
    enum Segment: Int { case es = 0x00, cs = 0x10, ss = 0x20, ds = 0x30, fs = 0x40, gs = 0x50, gdtr = 0x60, ldtr = 0x70, idtr = 0x80, tr = 0x90 }
    enum Field64: Int {
        case efer = 0xD0, cr4 = 0x148, cr0 = 0x158, dr7 = 0x160, dr6 = 0x168, rflags = 0x170, rip = 0x178
        case gPAT = 0x268, rdx = 0x310, sevFeatures = 0x3B0, xcr0 = 0x3E8
    }
    enum Field32: Int { case mxcsr = 0x408 }
    enum Field16: Int { case x87FCW = 0x410 }

    private(set) var bytes = [UInt8](repeating: 0, count: 4096)

    mutating func segment(_ s: Segment, selector: UInt16, attributes: UInt16, limit: UInt32, base: UInt64) {
        put(selector, at: s.rawValue)
        put(attributes, at: s.rawValue + 2)
        put(limit, at: s.rawValue + 4)
        put(base, at: s.rawValue + 8)
    }
    mutating func set(_ f: Field64, _ v: UInt64) { put(v, at: f.rawValue) }
    mutating func set32(_ f: Field32, _ v: UInt32) { put(v, at: f.rawValue) }
    mutating func set16(_ f: Field16, _ v: UInt16) { put(v, at: f.rawValue) }

    private mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        bytes.replaceSubrange(offset..<offset + MemoryLayout<T>.size, with: LittleEndian.bytes(value))
    }
}
