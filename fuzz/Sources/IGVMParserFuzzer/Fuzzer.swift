import FuzzerSupport
import IGVM

/// libFuzzer entry point: parse arbitrary bytes as an IGVM file. Any crash, sanitizer report,
/// leak or timeout is a bug; errors are the expected outcome for almost every input.
/// Accepted files are also re-serialized, inspected and checked so those paths are fuzzed too,
/// and every input is also read as an OVMF image (footer table and SEV metadata parsing).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    // The same bytes as the tail of an OVMF image (footer table, SEV metadata).
    if let ovmf = try? OVMFImage(bytes: bytes) {
        _ = (ovmf.sevESResetEIP, ovmf.sevHashTableGPA, ovmf.metadataSections.count)
    }
    var parsed = Result { () throws(IGVMParseError) in try IGVMFile(bytes: bytes) }
    // Random mutations nearly always break the CRC; retry with it repaired so the fuzzer
    // reaches the header walk and the whole-file checks.
    if case .failure(let error) = parsed, error.rule == .checksumMismatch, IGVMChecksum.repair(&bytes) {
        parsed = Result { () throws(IGVMParseError) in try IGVMFile(bytes: bytes) }
    }
    guard case .success(let file) = parsed else { return 0 }
    _ = file.writer().serialize()
    _ = IGVMInspector.report(file)
    // The whole check (libigvm 0.4.0's parse, QEMU's loader placing pages in a q35 machine's
    // memory map), so the placement arithmetic sees arbitrary GPAs and sizes too.
    let map = MachineMemoryMap(machine: .q35, ramSize: 512 << 20)
    for platform in OVMFIGVMBuilder.supportedPlatforms {
        let validator = IGVMValidator(platform: platform, qemuVersion: QEMUVersion(major: 10, minor: 2), vcpus: 2, memoryMap: map)
        _ = IGVMLoadVerdict(validator.check(bytes: bytes))
    }
    return 0
}

/// The executable's entry point: libFuzzer's driver (see FuzzerSupport).
@_cdecl("IGVMParserFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
