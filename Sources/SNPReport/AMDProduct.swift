/// The AMD EPYC generations that sign SEV-SNP reports, each with its own root of trust (ARK)
/// and key distribution service path.
public enum AMDProduct: String, Sendable, CaseIterable {
    case milan
    case genoa
    case turin

    /// The name AMD's certificates and KDS URLs use ("Milan", as in CN=ARK-Milan).
    public var kdsName: String {
        switch self {
        case .milan: "Milan"
        case .genoa: "Genoa"
        case .turin: "Turin"
        }
    }

    public var tcbLayout: TCBLayout { self == .turin ? .turin : .milanGenoa }

    /// The product of a CPUID family/model (report versions 3 and later carry them): family 19h
    /// models 0h–Fh are Milan, 10h–1Fh and A0h–AFh Genoa (Genoa, Bergamo, Siena), family 1Ah
    /// models 0h–1Fh Turin. Nil for anything else (a newer part this table does not know).
    public init?(cpuidFamily family: UInt8, model: UInt8) {
        switch (family, model) {
        case (0x19, 0x00...0x0F): self = .milan
        case (0x19, 0x10...0x1F), (0x19, 0xA0...0xAF): self = .genoa
        case (0x1A, 0x00...0x1F): self = .turin
        default: return nil
        }
    }

    /// From a certificate common name (`ARK-Milan`, `SEV-Genoa`, `SEV-VLEK-Turin`) or a product
    /// name (`milan`, `Milan-B0`).
    public init?(name: String) {
        let lower = name.lowercased()
        guard let match = Self.allCases.first(where: { lower.contains($0.rawValue) }) else { return nil }
        self = match
    }
}
