import SNPReport

/// Which product's chain verifies a report: the operator's word first, then the issuer of the
/// VCEK/VLEK (`SEV-Milan`, `SEV-VLEK-Genoa`), then the report's CPUID (versions 3 and later).
/// A version-2 report with neither has no product to go by.
public enum ProductChoice {
    public static func decide(explicit: AMDProduct?, endorsementIssuer: String?, cpuid: AMDProduct?) -> Result<AMDProduct, ExpectationError> {
        if let explicit { return .success(explicit) }
        if let issuer = endorsementIssuer, let product = AMDProduct(name: issuer) { return .success(product) }
        if let cpuid { return .success(cpuid) }
        return .failure(ExpectationError("cannot tell the product (milan, genoa, turin): the report carries no CPUID and the certificate's issuer names none; give --product"))
    }
}
