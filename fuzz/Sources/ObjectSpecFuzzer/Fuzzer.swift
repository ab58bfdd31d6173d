import FuzzerSupport
import ObjectModel

/// libFuzzer entry point: arbitrary bytes as the value of `-object` (either form: JSON when it
/// starts with `{`, as QEMU decides, else QEMU's key=value syntax), of `-machine` and of
/// `-device`. Command-line arguments reach the parser as Swift strings, so the bytes are decoded
/// as UTF-8 with invalid sequences replaced, as `CommandLine.arguments` does.
///
/// Checked beyond "no trap":
/// - every problem is one line;
/// - what parses renders back to text that parses to the same thing: key=value parameters, and
///   objects, machines and devices in each command-line form.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let spec = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    checkKeyValueRoundTrip(spec)
    for problem in ObjectSpec.validate(spec) { requireOneLine(problem.description, "an -object problem") }
    checkObject(spec)
    checkMachine(spec)
    checkDevice(spec)
    return 0
}

/// `parse` → `render` → `parse` keeps every parameter (short-form booleans excepted: they
/// render as `key=on|off`, which is the point of the deprecation).
func checkKeyValueRoundTrip(_ spec: String) {
    for implied in [nil, "qom-type"] {
        for shortForms in [false, true] {
            guard let parameters = try? KeyValueSyntax.parse(spec, impliedKey: implied, allowShortFormBooleans: shortForms),
                  !parameters.contains(where: \.shortFormBoolean) else { continue }
            let text = KeyValueSyntax.render(implied: nil, parameters.map { ($0.key, $0.value) })
            let back: [KeyValueSyntax.Parameter]
            do { back = try KeyValueSyntax.parse(text, impliedKey: implied, allowShortFormBooleans: shortForms) } catch {
                fatalError("rendered parameters do not parse (\(error)): \(String(reflecting: text)) from \(String(reflecting: spec))")
            }
            if back != parameters {
                fatalError("key=value round trip changed \(String(reflecting: spec)) → \(String(reflecting: text))")
            }
        }
    }
}

func checkObject(_ spec: String) {
    let object: QOMObject
    do { object = try QOMObject(commandLine: spec) } catch {
        for problem in error.problems { requireOneLine(problem.description, "an -object parse problem") }
        return
    }
    let renderings = CommandLineForm.allCases.map { ("-object \($0)", object.commandLineArgument(form: $0)) }
    requireRoundTrip(object, from: spec, renderings) { try QOMObject(commandLine: $0) }
    do {
        let back = try QOMObject(objectAddArguments: object.objectAddArguments())
        if back != object { fatalError("object-add round trip changed \(String(reflecting: spec))") }
    } catch {
        fatalError("object-add arguments do not parse (\(error)) from \(String(reflecting: spec))")
    }
}

func checkMachine(_ spec: String) {
    let machine: Machine
    do { machine = try Machine(commandLine: spec) } catch {
        for problem in error.problems { requireOneLine(problem.description, "a -machine problem") }
        return
    }
    for problem in machine.validate() { requireOneLine(problem.description, "a -machine problem") }
    requireRoundTrip(machine, from: spec, [("-machine", machine.commandLineArgument())]) { try Machine(commandLine: $0) }
}

func checkDevice(_ spec: String) {
    let device: Device
    do { device = try Device(commandLine: spec) } catch {
        for problem in error.problems { requireOneLine(problem.description, "a -device problem") }
        return
    }
    let renderings = CommandLineForm.allCases.map { ("-device \($0)", device.commandLineArgument(form: $0)) }
    requireRoundTrip(device, from: spec, renderings) { try Device(commandLine: $0) }
}

/// Every rendering of `value` (a label and the text) parses back to `value`.
func requireRoundTrip<T: Equatable>(
    _ value: T, from spec: String, _ renderings: [(String, String)], parse: (String) throws -> T
) {
    for (label, text) in renderings {
        let back: T
        do { back = try parse(text) } catch {
            fatalError("\(label) rendering does not parse (\(error)): \(String(reflecting: text)) from \(String(reflecting: spec))")
        }
        if back != value { fatalError("\(label) round trip changed \(String(reflecting: spec)) → \(String(reflecting: text))") }
    }
}

@_cdecl("ObjectSpecFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
