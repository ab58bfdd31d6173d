import Measure
import SNPReport

/// Where AMD's Key Distribution Service serves the certificates a report needs (AMD, "VCEK
/// Certificate and KDS Interface Specification" 57230, "Get VCEK"/"Get cert_chain"). This tool
/// never fetches them: the operator does (`curl -o vcek.der URL`), then passes the files.
public enum KDSURL {
    public static let base = "https://kdsintf.amd.com"

    /// The VCEK for this report's chip and REPORTED_TCB; nil when CHIP_ID is zero (masked, or a
    /// VLEK-signed report: VLEKs come from the cloud provider, not from the KDS by chip).
    public static func vcek(for report: AttestationReport, product: AMDProduct) -> String? {
        guard report.chipID.contains(where: { $0 != 0 }) else { return nil }
        let tcb = report.decoded(as: product).reportedTCB
        // Turin's KDS takes the 8-byte hwID and an FMC level as well.
        let hwID = product == .turin ? report.chipID.prefix(8) : report.chipID[...]
        var query: [(String, UInt8)] = []
        if let fmc = tcb.fmc { query.append(("fmcSPL", fmc)) }
        query += [("blSPL", tcb.bootloader), ("teeSPL", tcb.tee), ("snpSPL", tcb.snp), ("ucodeSPL", tcb.microcode)]
        let parameters = query.map { "\($0.0)=\($0.1 < 10 ? "0" : "")\($0.1)" }.joined(separator: "&")
        return "\(base)/vcek/v1/\(product.kdsName)/\(Hex.encode(hwID))?\(parameters)"
    }

    /// ASK + ARK (`vcek`) or ASVK + ARK (`vlek`), PEM.
    public static func certificateChain(_ kind: EndorsementKind, product: AMDProduct) -> String {
        "\(base)/\(kind.rawValue)/v1/\(product.kdsName)/cert_chain"
    }
}
