/// What libFuzzer calls once per input: the bytes and their count; returns 0.
public typealias FuzzTarget = @convention(c) (UnsafePointer<UInt8>, Int) -> CInt

/// libFuzzer's driver entry (compiler-rt `lib/fuzzer/FuzzerDriver.cpp`), exported by the fuzzer
/// runtime that `-sanitize=fuzzer` links in.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: FuzzTarget
) -> CInt

/// Hands the process to libFuzzer's driver with `target` as the function under test.
///
/// SwiftPM links executables with `--defsym main=<Module>_main` (testable executables), so
/// libFuzzer's own `main` is never pulled in: each fuzzer exports `<Module>_main` and calls this.
public func runLibFuzzer(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, _ target: FuzzTarget
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, target)
}

/// Stops the run (libFuzzer saves the input as a crash) when a message meant for the user is not
/// one line: the project's rule is one clear line per problem, and a newline from the input
/// would let it forge further lines.
public func requireOneLine(_ message: String, _ what: @autoclosure () -> String) {
    if message.utf8.contains(UInt8(ascii: "\n")) || message.utf8.contains(UInt8(ascii: "\r")) {
        fatalError("\(what()) is not one line: \(String(reflecting: message))")
    }
}
