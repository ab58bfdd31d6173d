import FuzzerSupport
import SNPReport

/// libFuzzer entry point: read arbitrary bytes as an SEV-SNP attestation report — raw, as hex
/// text, and cut or zero-padded to the report's 1184 bytes (so that most inputs reach the field
/// decoding instead of stopping at the size check). Any crash, sanitizer report, leak or
/// timeout is a bug; a `ReportParseError` is the expected outcome for most inputs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    _ = try? AttestationReport(bytes: bytes)
    _ = try? AttestationReport(rawOrHex: bytes)
    var fitted = Array(bytes.prefix(AttestationReport.size))
    fitted += [UInt8](repeating: 0, count: AttestationReport.size - fitted.count)
    for product in [nil] + AMDProduct.allCases.map(Optional.some) {
        guard let report = try? AttestationReport(bytes: fitted, product: product) else { continue }
        for tcb in [report.currentTCB, report.reportedTCB, report.committedTCB, report.launchTCB] {
            _ = (tcb.description, tcb.meets(report.reportedTCB))
        }
        _ = (report.policy.setBitNames, report.platformInfo.setBitNames, report.keyInfo.signingKey.description)
        _ = (report.cpuid?.description, report.cpuidProduct, report.currentVersion.description, report.signedBytes.count)
        _ = report.decoded(as: product ?? .turin).reportedTCB.parts
    }
    return 0
}

/// The executable's entry point: libFuzzer's driver (see FuzzerSupport).
@_cdecl("SNPReportFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
