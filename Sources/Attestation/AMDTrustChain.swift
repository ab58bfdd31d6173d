import SNPReport

/// The certificates above an endorsement key for one product: ARK → ASK (signs VCEKs) and
/// ARK → ASVK (signs VLEKs). Built in (`builtIn(_:)`) or the operator's own files.
public struct AMDTrustChain: Sendable {
    public let product: AMDProduct
    public let ark: AMDCertificate
    public let ask: AMDCertificate
    public let asvk: AMDCertificate?

    public init(product: AMDProduct, ark: AMDCertificate, ask: AMDCertificate, asvk: AMDCertificate?) {
        self.product = product
        self.ark = ark
        self.ask = ask
        self.asvk = asvk
    }

    /// AMD's certificates for `product` as this tool carries them.
    public static func builtIn(_ product: AMDProduct) -> AMDTrustChain {
        let pems: (ark: String, ask: String, asvk: String) = switch product {
        case .milan: (BuiltInCertificates.milanARK, BuiltInCertificates.milanASK, BuiltInCertificates.milanASVK)
        case .genoa: (BuiltInCertificates.genoaARK, BuiltInCertificates.genoaASK, BuiltInCertificates.genoaASVK)
        case .turin: (BuiltInCertificates.turinARK, BuiltInCertificates.turinASK, BuiltInCertificates.turinASVK)
        }
        do {
            return AMDTrustChain(
                product: product, ark: try AMDCertificate(pem: pems.ark), ask: try AMDCertificate(pem: pems.ask),
                asvk: try AMDCertificate(pem: pems.asvk))
        } catch {
            // The PEM text is a constant of this file's module and parsed by the test suite.
            preconditionFailure("built-in \(product.kdsName) certificate does not parse: \(error)")
        }
    }

    /// The built-in chain with any of its certificates replaced by the operator's.
    public func replacing(ark: AMDCertificate?, ask: AMDCertificate?, asvk: AMDCertificate?) -> AMDTrustChain {
        AMDTrustChain(product: product, ark: ark ?? self.ark, ask: ask ?? self.ask, asvk: asvk ?? self.asvk)
    }

    /// The intermediate that signs this kind of endorsement key.
    public func intermediate(for kind: EndorsementKind) -> AMDCertificate? {
        kind == .vlek ? asvk : ask
    }
}

/// The two kinds of key that sign SNP reports, told apart by the certificate's subject.
public enum EndorsementKind: String, Sendable {
    case vcek
    case vlek

    /// `SEV-VCEK` or `SEV-VLEK`.
    public init?(certificate: AMDCertificate) {
        switch certificate.subjectCommonName {
        case "SEV-VCEK": self = .vcek
        case "SEV-VLEK": self = .vlek
        default: return nil
        }
    }

    /// The intermediate's role name.
    public var intermediateName: String { self == .vlek ? "ASVK" : "ASK" }
    public var name: String { rawValue.uppercased() }
}
