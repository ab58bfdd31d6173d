import SNPReport
import SwiftASN1

/// What AMD writes into a VCEK or VLEK certificate about the chip and firmware it speaks for
/// (AMD, "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface Specification"
/// 57230, "VCEK Certificate Extensions"; AMD's VLEK certificate definition for csp_id): the chip's
/// hwID and the security patch level of each firmware component, under 1.3.6.1.4.1.3704.1.
public struct EndorsementExtensions: Sendable, Equatable {
    static let structVersionOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1, 1]
    static let productNameOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1, 2]
    static let bootloaderOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1, 3, 1]
    static let teeOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1, 3, 2]
    static let snpOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1, 3, 3]
    static let microcodeOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1, 3, 8]
    static let fmcOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1, 3, 9]
    static let hwIDOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1, 4]
    static let cspIDOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 3704, 1, 5]

    /// `Milan-B0`, `Genoa`, `Turin-A0` …
    public let productName: String?
    /// The chip's hwID (64 bytes on Milan and Genoa, 8 on Turin); absent from VLEKs.
    public let hwID: [UInt8]?
    /// The cloud provider a VLEK was issued to.
    public let cspID: String?
    public let bootloader: UInt8?
    public let tee: UInt8?
    public let snp: UInt8?
    public let microcode: UInt8?
    public let fmc: UInt8?

    public init(_ certificate: AMDCertificate) throws(CertificateError) {
        func integer(_ oid: ASN1ObjectIdentifier, _ name: String) throws(CertificateError) -> UInt8? {
            guard let value = certificate.extensionValue(oid) else { return nil }
            do {
                return try UInt8(derEncoded: value)
            } catch {
                throw CertificateError("the \(name) extension (\(oid)) is not an INTEGER from 0 to 255")
            }
        }
        productName = certificate.extensionValue(Self.productNameOID).flatMap(Self.text)
        cspID = certificate.extensionValue(Self.cspIDOID).flatMap(Self.text)
        // AMD's KDS wraps hwID in an OCTET STRING; some older certificates carry the raw bytes.
        hwID = certificate.extensionValue(Self.hwIDOID).map { value in
            (try? ASN1OctetString(derEncoded: value)).map { Array($0.bytes) } ?? Array(value)
        }
        bootloader = try integer(Self.bootloaderOID, "blSPL")
        tee = try integer(Self.teeOID, "teeSPL")
        snp = try integer(Self.snpOID, "snpSPL")
        microcode = try integer(Self.microcodeOID, "ucodeSPL")
        fmc = try integer(Self.fmcOID, "fmcSPL")
    }

    private static func text(_ value: ArraySlice<UInt8>) -> String? {
        if let s = try? ASN1IA5String(derEncoded: value) { return String(s) }
        if let s = try? ASN1UTF8String(derEncoded: value) { return String(s) }
        return nil
    }

    /// The TCB these extensions certify, in `layout`; nil when a part is missing.
    public func tcb(layout: TCBLayout) -> TCBVersion? {
        guard let bootloader, let tee, let snp, let microcode else { return nil }
        if layout == .turin && fmc == nil { return nil }
        return TCBVersion(layout: layout, fmc: fmc, bootloader: bootloader, tee: tee, snp: snp, microcode: microcode)
    }
}
