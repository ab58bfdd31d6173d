import Foundation
import JSON
import Testing
import TestSupport

/// `igvm-mgr args --json CONFIG` in a fresh folder, as an argv array.
private func argsArgv(_ config: String, qmp: String, extra: [String] = []) throws -> [String] {
    let result = try IGVMManagerBinary.run(["args", "--json", "--qmp-socket", qmp] + extra + [config])
    guard result.status == 0 else {
        throw QMPSocketExchange.Failure(description: "igvm-mgr args failed (\(result.status)): \(result.stderr)")
    }
    return try JSON.decode(result.stdout).arrayValue?.compactMap(\.stringValue) ?? []
}

/// Starts QEMU with `argv`, talks QMP on `qmp`, runs `check`, quits, and expects a clean exit.
private func boot(_ argv: [String], qmp: String, check: (QMPSocketExchange) throws -> Void = { _ in }) throws {
    let qemu = try QEMUInstance(argv: argv)
    defer { qemu.kill() }
    let session: QMPSocketExchange
    do {
        session = try QMPSocketExchange(path: qmp, process: qemu.process)
    } catch {
        _ = qemu.waitForExit(timeout: 5)
        Issue.record("QEMU did not come up: \(error); stderr: \(qemu.standardError())")
        return
    }
    let status = try session.execute("query-status")
    // -S: the guest has not run a single instruction.
    #expect(status["return"]?["status"] == "prelaunch", "\(status)")
    #expect(status["return"]?["running"] == false)
    try check(session)
    let reply = try session.execute("quit")
    #expect(reply["return"] != nil, "\(reply)")
    #expect(qemu.waitForExit(), "QEMU did not exit after quit")
    #expect(qemu.process.terminationStatus == 0, "stderr: \(qemu.standardError())")
}

@Suite struct ArgsQEMUTests {
    /// The acceptance run: every example this host can start, with exactly the argv `args`
    /// prints, under the real QEMU (TCG, -S), QMP connected, quit cleanly.
    @Test(arguments: ExampleConfigs.startableHere)
    func exampleBootsUnderRealQEMU(name: String) throws {
        _ = try QEMU.binary()
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A copy beside a fresh folder: its relative log paths land there, not in configs/.
        let config = dir.appendingPathComponent("\(name).toml")
        try FileManager.default.copyItem(atPath: ExampleConfigs.path(name), toPath: config.path)
        let qmp = dir.appendingPathComponent("qmp.sock").path
        let argv = try argsArgv(config.path, qmp: qmp)
        #expect(argv.first?.hasSuffix("qemu-system-x86_64") == true)
        #expect(argv.contains("-S"))
        try boot(argv, qmp: qmp) { session in
            let version = try session.execute("query-version")
            #expect(version["return"]?["qemu"]?["major"]?.int64Value ?? 0 >= 10)
        }
    }

    /// Paths holding `,` `=` `}` `"` and a newline reach QEMU as the literal path: they add or
    /// change no property, whether -object is written as JSON or as key=value.
    @Test(arguments: ["json", "key-value"])
    func pathsCannotInjectProperties(objectForm: String) throws {
        _ = try QEMU.binary()
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let firmwareDir = dir.appendingPathComponent("fw,readonly=on,x=y")
        try fm.createDirectory(at: firmwareDir, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: firmwareDir.appendingPathComponent("OVMF.fd").path,
                                  withDestinationPath: "/usr/share/qemu/OVMF.fd")
        let serialName = "serial,id=evil,logfile=evil\n.log"
        let memName = #"mem,share=on,size=1G}",x.img"#
        try """
            [qemu]
            accel = "tcg"
            memory = "64M"
            serial = \(TOMLString(serialName))
            [firmware]
            bios = "fw,readonly=on,x=y/OVMF.fd"
            [memory-backend]
            type = "memory-backend-file"
            mem-path = \(TOMLString(memName))
            """.write(to: dir.appendingPathComponent("inject.toml"), atomically: true, encoding: .utf8)
        let qmp = dir.appendingPathComponent("q,server=off,path=x.sock").path
        let argv = try argsArgv(dir.appendingPathComponent("inject.toml").path, qmp: qmp, extra: ["--object-form", objectForm])

        // The argv: -bios takes a plain file name; option strings double every comma.
        let bios = firmwareDir.appendingPathComponent("OVMF.fd").path
        #expect(zip(argv, argv.dropFirst()).contains { $0 == ("-bios", bios) })
        #expect(argv.contains("file,id=serial0,path=\(dir.path)/serial,,id=evil,,logfile=evil\n.log,append=on"))
        #expect(argv.contains { $0.hasPrefix("socket,id=igvm-mgr-qmp,path=\(dir.path)/q,,server=off,,path=x.sock,") })

        // QEMU: the socket, the serial file and the memory file exist under their literal names.
        try boot(argv, qmp: qmp) { session in
            #expect(fm.fileExists(atPath: dir.appendingPathComponent(serialName).path))
            #expect(!fm.fileExists(atPath: fm.currentDirectoryPath + "/evil\n.log"))
            #expect(fm.fileExists(atPath: dir.appendingPathComponent(memName).path))
            let memPath = try session.execute("qom-get", arguments: ["path": "/objects/ram0", "property": "mem-path"])
            #expect(memPath["return"]?.stringValue == dir.appendingPathComponent(memName).path)
            let share = try session.execute("qom-get", arguments: ["path": "/objects/ram0", "property": "share"])
            #expect(share["return"] == false, "share=on was injected: \(share)")
            let size = try session.execute("qom-get", arguments: ["path": "/objects/ram0", "property": "size"])
            #expect(size["return"]?.uint64Value == 64 << 20, "size was injected: \(size)")
        }
    }

    /// pflash images go through -blockdev JSON: a file name with `,` and `:` is taken literally.
    @Test func pflashPathsAreLiteral() throws {
        _ = try QEMU.binary()
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("code,read-only=off:x.fd").path,
                                  withDestinationPath: "/usr/share/OVMF/OVMF_CODE_4M.fd")
        try fm.copyItem(atPath: "/usr/share/OVMF/OVMF_VARS_4M.fd", toPath: dir.appendingPathComponent("vars,x.fd").path)
        try """
            [qemu]
            accel = "tcg"
            memory = "64M"
            [firmware]
            pflash0 = "code,read-only=off:x.fd"
            pflash1 = "vars,x.fd"
            """.write(to: dir.appendingPathComponent("pflash.toml"), atomically: true, encoding: .utf8)
        let qmp = dir.appendingPathComponent("qmp.sock").path
        let argv = try argsArgv(dir.appendingPathComponent("pflash.toml").path, qmp: qmp)
        try boot(argv, qmp: qmp) { session in
            let nodes = try session.execute("query-named-block-nodes")
            let files = nodes["return"]?.arrayValue?.compactMap { $0["file"]?.stringValue } ?? []
            #expect(files.contains(dir.appendingPathComponent("code,read-only=off:x.fd").path), "\(files)")
            let code = nodes["return"]?.arrayValue?.first { $0["node-name"] == "pflash0" }
            #expect(code?["ro"] == true)
        }
    }
}

/// `s` as a TOML basic string.
private func TOMLString(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(c)
        }
    }
    return out + "\""
}
