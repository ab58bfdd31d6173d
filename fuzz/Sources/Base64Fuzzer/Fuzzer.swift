import FuzzerSupport
import ObjectModel

/// The length rules of the base64 properties QEMU has (`sev-snp-guest`'s `id-block` 96 bytes,
/// `id-auth` 4096, `host-data` 32, `guest-visible-workarounds` 16; target/i386/sev.c) and an
/// upper bound.
let lengthRules: [Base64Blob.LengthRule] = [.exactly(96), .exactly(4096), .exactly(32), .exactly(16), .atMost(32)]

/// libFuzzer entry point: QEMU's base64 (`qbase64_decode` + GLib's decoder) on arbitrary text,
/// and the encoder on arbitrary bytes.
///
/// Checked beyond "no trap":
/// - a decoded text never yields more than 3 bytes per 4 characters;
/// - `encode` output decodes to the very bytes encoded (the input, taken as bytes);
/// - every problem message is one line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    switch QEMUBase64.decode(text) {
    case .success(let decoded):
        if decoded.count > text.utf8.count / 4 * 3 {
            fatalError("\(text.utf8.count) characters decoded to \(decoded.count) bytes")
        }
    case .failure(let problem):
        requireOneLine(problem.description, "a base64 problem")
    }
    for rule in lengthRules {
        if case .failure(let problem) = Base64Blob(text: text, length: rule).decoded() {
            requireOneLine(problem.description, "a base64 blob problem")
        }
    }
    let encoded = QEMUBase64.encode(bytes)
    guard case .success(let back) = QEMUBase64.decode(encoded), back == bytes else {
        fatalError("encode → decode does not give the bytes back: \(encoded)")
    }
    return 0
}

@_cdecl("Base64Fuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
