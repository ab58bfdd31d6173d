import Foundation
import JSON
import ObjectModel
import TestSupport
import Testing

/// A value holding `,` `=` newline `,,` `}` `"` or non-ASCII cannot add or change another
/// property: rendered by the model (key=value with `,,` escaping, or JSON), given to QEMU's own
/// `-object` parser, then read back with qom-get — the string is exact and its siblings unchanged.
@Suite struct InjectionTests {
    static let nasty: [String] = [
        "a,b", "a=b", "x\ny", "a,,b", "c}d", ",share=off", "p,size=2M,share=off", "\"q\"",
        "é,=}\n,,", ",", ",,", "=", "}", "{\"x\":1}", "trailing,", ",prealloc=on,readonly=on", "\u{301},share=off",
    ]

    struct Expectation {
        var path: String
        var property: String
        var value: JSON
    }

    /// One QEMU started with one `-object` per value, then qom-get of every property that matters.
    func check(form: CommandLineForm) throws {
        let dir = try TestPaths.makeTemporaryDirectory("injection")
        defer { try? FileManager.default.removeItem(at: dir) }
        var arguments: [String] = []
        var expectations: [Expectation] = []
        for (i, s) in Self.nasty.enumerated() {
            let memPath = dir.appendingPathComponent("mem\(i)-" + s.replacingOccurrences(of: "/", with: "_")).path
            let file = MemoryBackendFile(id: "mem\(i)", backend: .init(size: 1 << 20, share: true, prealloc: false),
                                         memPath: memPath, readonly: false)
            let sev = SevGuest(id: "sev\(i)", sevDevice: s, cbitpos: 47, reducedPhysBits: 1, policy: SEVPolicy(rawValue: 1))
            let snp = SevSnpGuest(id: "snp\(i)", sevDevice: s, reducedPhysBits: 1, policy: .qemuDefault)
            for object in [QOMObject.memoryBackendFile(file), .sevGuest(sev), .sevSnpGuest(snp)] {
                arguments += ["-object", object.commandLineArgument(form: form)]
            }
            expectations += [
                Expectation(path: "/objects/mem\(i)", property: "mem-path", value: .string(memPath)),
                Expectation(path: "/objects/mem\(i)", property: "size", value: 1_048_576),
                Expectation(path: "/objects/mem\(i)", property: "share", value: true),
                Expectation(path: "/objects/mem\(i)", property: "prealloc", value: false),
                Expectation(path: "/objects/mem\(i)", property: "readonly", value: false),
                Expectation(path: "/objects/sev\(i)", property: "sev-device", value: .string(s)),
                Expectation(path: "/objects/sev\(i)", property: "policy", value: 1),
                Expectation(path: "/objects/sev\(i)", property: "cbitpos", value: 47),
                Expectation(path: "/objects/sev\(i)", property: "reduced-phys-bits", value: 1),
                Expectation(path: "/objects/snp\(i)", property: "sev-device", value: .string(s)),
                Expectation(path: "/objects/snp\(i)", property: "policy", value: 0x30000),
            ]
        }
        var batch = QMPStdioBatch(extraArguments: arguments)
        let ids = expectations.map { batch.add("qom-get", ["path": .string($0.path), "property": .string($0.property)]) }
        let result = try batch.run()
        try #require(result.greeting != nil, "QEMU refused the rendered -object arguments: \(result.stderr)")
        for (e, id) in zip(expectations, ids) {
            #expect(try result.reply(id) == .success(e.value), "\(e.path).\(e.property)")
        }
    }

    @Test func keyValueFormThroughQEMU() throws { try check(form: .keyValue) }
    @Test func jsonFormThroughQEMU() throws { try check(form: .json) }

    /// The control: the same value *without* `,,` escaping does change a sibling, so the test
    /// above would see an injection.
    @Test func unescapedValueDoesInject() throws {
        let dir = try TestPaths.makeTemporaryDirectory("injection")
        defer { try? FileManager.default.removeItem(at: dir) }
        let naive = "memory-backend-file,id=m,size=1048576,share=on,mem-path=\(dir.path)/x,share=off"
        var batch = QMPStdioBatch(extraArguments: ["-object", naive, "-object", "sev-guest,id=s,reduced-phys-bits=1,sev-device=a,policy=7"])
        let share = batch.add("qom-get", ["path": "/objects/m", "property": "share"])
        let policy = batch.add("qom-get", ["path": "/objects/s", "property": "policy"])
        let result = try batch.run()
        #expect(try result.reply(share) == .success(false))
        #expect(try result.reply(policy) == .success(7))
    }

    /// The model parses its own key=value rendering back to the same strings (every string
    /// property of every type, nasty values).
    @Test(arguments: nasty)
    func modelKeepsEveryStringProperty(_ s: String) throws {
        let objects: [QOMObject] = [
            .memoryBackendFile(MemoryBackendFile(id: "m", backend: .init(size: 4096), memPath: s)),
            .sevGuest(SevGuest(id: "g", sevDevice: s, reducedPhysBits: 1, dhCertFile: s, sessionFile: s)),
            .sevSnpGuest(SevSnpGuest(id: "s", sevDevice: s, reducedPhysBits: 1, guestVisibleWorkarounds: s, idBlock: s, idAuth: s, hostData: s)),
            .igvmCfg(IgvmCfg(id: "i", file: s)),
        ]
        for object in objects {
            for form in CommandLineForm.allCases {
                #expect(try QOMObject(commandLine: object.commandLineArgument(form: form)) == object)
            }
        }
        let machine = Machine(type: "q35", accel: s, confidentialGuestSupport: s, igvmCfg: s, memoryBackend: s, firmware: s, append: s)
        #expect(try Machine(commandLine: machine.commandLineArgument()) == machine)
    }
}
