import FuzzerSupport
import Definition
import Launch

/// The path the definitions claim to come from. Absolute, so resolving relative paths inside
/// the definition needs no current directory; nothing is ever read from it.
let definitionFile = "/fuzz/vm.toml"

/// libFuzzer entry point: arbitrary bytes as a VM definition file (TOML through toml++, then the
/// definition reader and the object model's property checks). Every outcome must be a
/// definition or a `ConfigError` whose problems are one line each; a trap is a bug.
///
/// Accepted definitions also go through the launch plan and its argv rendering. `ConfigValidation`
/// is left out: it reads the firmware files a definition names.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let definition: VMDefinition
    do {
        definition = try VMDefinition.parse(bytes: bytes, file: definitionFile)
    } catch {
        for problem in error.problems { requireOneLine(problem.description, "a definition problem") }
        return 0
    }
    // /usr/bin is only where `qemu.binary`'s bare name is looked up (a stat, nothing is run);
    // when QEMU is not there the plan stops at the binary and the argv is not rendered.
    do {
        let plan = try LaunchPlan(definition: definition, qmpSocket: "/fuzz/qmp.sock", searchPath: "/usr/bin")
        _ = plan.argv
    } catch {
        for problem in error.problems { requireOneLine(problem.description, "a plan problem") }
    }
    return 0
}

@_cdecl("DefinitionFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
