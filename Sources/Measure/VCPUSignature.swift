import Numerals

/// The 32-bit CPUID(1).EAX signature QEMU puts in each VMSA's RDX (AMD CPUID specification
/// #25481, "Fn0000_0001_EAX Family, Model, Stepping Identifiers").
public struct VCPUSignature: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// Encodes family/model/stepping the way CPUID reports them (families above 0xF spill into
    /// the extended-family field).
    public init(family: Int, model: Int, stepping: Int) {
        let familyLow = UInt32(min(family, 0xF))
        let familyHigh = family > 0xF ? UInt32((family - 0xF) & 0xFF) : 0
        let modelLow = UInt32(model & 0xF)
        let modelHigh = UInt32((model >> 4) & 0xF)
        value = (familyHigh << 20) | (modelHigh << 16) | (familyLow << 8) | (modelLow << 4) | UInt32(stepping & 0xF)
    }

    /// The signature of a QEMU CPU model name (`EPYC-Milan`, …), or nil for an unknown name.
    public init?(cpuType: String) {
        guard let entry = Self.qemuCPUTypes.first(where: { $0.name == cpuType }) else { return nil }
        self = entry.signature
    }

    public var description: String { hex(value) }

    /// QEMU's AMD EPYC models (`builtin_x86_defs`), in sev-snp-measure's order.
    public static let qemuCPUTypes: [(name: String, signature: VCPUSignature)] = {
        let naples = VCPUSignature(family: 23, model: 1, stepping: 2)
        let rome = VCPUSignature(family: 23, model: 49, stepping: 0)
        let milan = VCPUSignature(family: 25, model: 1, stepping: 1)
        let genoa = VCPUSignature(family: 25, model: 17, stepping: 0)
        let turin = VCPUSignature(family: 26, model: 0, stepping: 0)
        return [
            ("EPYC", naples), ("EPYC-v1", naples), ("EPYC-v2", naples), ("EPYC-IBPB", naples),
            ("EPYC-v3", naples), ("EPYC-v4", naples),
            ("EPYC-Rome", rome), ("EPYC-Rome-v1", rome), ("EPYC-Rome-v2", rome), ("EPYC-Rome-v3", rome),
            ("EPYC-Milan", milan), ("EPYC-Milan-v1", milan), ("EPYC-Milan-v2", milan),
            ("EPYC-Genoa", genoa), ("EPYC-Genoa-v1", genoa),
            ("EPYC-Turin", turin),
        ]
    }()
}
