import Foundation
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Careless or hostile input to the CLI: every case ends in a clear error and the documented
/// exit status, never a trap, an endless read, a replaced device node or raw terminal bytes.
@Suite("Hostile input to the CLI")
struct HostileInputCLITests {
    /// Runs `igvm-mgr ARGS` but kills it after `seconds`: a command that blocks (a FIFO read)
    /// fails the test instead of hanging the suite.
    static func runBounded(_ arguments: [String], seconds: Double = 30) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try IGVMManagerBinary.path())
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        if finished.wait(timeout: .now() + seconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            throw CommandFailed(description: "igvm-mgr \(arguments) did not finish within \(seconds) s")
        }
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                             stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    static func temporary() throws -> URL { try TestPaths.makeTemporaryDirectory("hostile") }

    static func fifo(in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("fifo").path
        guard mkfifo(path, 0o600) == 0 else { throw CommandFailed(description: "mkfifo failed") }
        return path
    }

    // MARK: numeric options

    @Test("numeric options out of range are usage errors naming the range, never a trap", arguments: [
        ["stop", "vm", "--timeout", "nan"], ["stop", "vm", "--timeout", "inf"], ["stop", "vm", "--timeout", "1e11"],
        ["stop", "vm", "--timeout=-1"], ["start", "vm.toml", "--timeout", "0"],
        ["qmp", "vm", "query-status", "--timeout", "1e300"], ["qmp", "--socket", "/nonexistent.sock", "--events", "--timeout", "inf"],
        ["qmp", "--socket", "/nonexistent.sock", "--events", "--count", "0"],
        ["logs", "vm", "--tail=-1"], ["status", "vm", "--events=-5"],
        ["igvm", "check", "f.igvm", "--platform", "native", "--cpus=-1"],
        ["igvm", "build", "--firmware", "f.fd", "--platform", "native", "--cpus", "0", "-o", "x.igvm"],
    ])
    func numericOptionsHaveRanges(_ arguments: [String]) throws {
        let r = try IGVMManagerBinary.run(arguments + (arguments[0] == "igvm" ? [] : ["--state-dir", "/tmp/igvm-mgr-unused"]))
        #expect(r.status == 2, "\(arguments): \(r.stderr)")
        #expect(r.stderr.contains("expected seconds from") || r.stderr.contains("expected a whole number from"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }

    // MARK: input files

    @Test("a character device as input is refused by name, not read for ever")
    func deviceInputsAreRefused() throws {
        for arguments in [
            ["measure", "--mode", "snp", "--ovmf", "/dev/zero", "--vcpus", "1", "--vcpu-type", "EPYC-v4"],
            ["measure", "--mode", "sev", "--ovmf", "/dev/null"],
            ["measure", "--igvm", "/dev/zero"],
            ["igvm", "inspect", "/dev/zero"],
            ["validate", "/dev/zero"],
        ] {
            let r = try Self.runBounded(arguments)
            #expect(r.status == 2, "\(arguments): \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains("is a character device, not a regular file"), "\(arguments): \(r.stderr)")
        }
    }

    @Test("a FIFO as input never blocks: --ovmf, --igvm, a definition, [firmware] bios")
    func fifoInputsAreRefused() throws {
        let dir = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = try Self.fifo(in: dir)
        for arguments in [
            ["measure", "--mode", "snp", "--ovmf", fifo, "--vcpus", "1", "--vcpu-type", "EPYC-v4"],
            ["measure", "--igvm", fifo], ["igvm", "inspect", fifo], ["validate", fifo],
        ] {
            let r = try Self.runBounded(arguments)
            #expect(r.status == 2, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains("is a FIFO, not a regular file"), "\(arguments): \(r.stderr)")
        }
        let config = dir.appendingPathComponent("vm.toml").path
        try "[qemu]\naccel = \"tcg\"\n[firmware]\nbios = \"\(fifo)\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let r = try Self.runBounded(["validate", config])
        #expect(r.status == 1)
        #expect(r.stdout.contains("firmware.bios: \"\(fifo)\" is a FIFO, not a regular file"), "\(r.stdout)")
    }

    @Test("a missing input file says so (ENOENT), not a generic read failure")
    func missingInputSaysSo() throws {
        let r = try IGVMManagerBinary.run(["igvm", "inspect", "/nonexistent/missing.igvm"])
        #expect(r.status == 2)
        #expect(r.stderr == "igvm-mgr: error: /nonexistent/missing.igvm: cannot open: No such file or directory\n")
    }

    // MARK: output files

    @Test("igvm build -o refuses a device, a FIFO and a symbolic link, and replaces a regular file whole")
    func outputRefusesNonRegularTargets() throws {
        let dir = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let build = ["igvm", "build", "--firmware", "/usr/share/OVMF/OVMF_CODE_4M.fd", "--platform", "native", "-o"]

        let device = try Self.runBounded(build + ["/dev/full"])
        #expect(device.status == 1)
        #expect(device.stderr.contains("/dev/full: refusing to replace it: it is a character device"), "\(device.stderr)")
        var info = stat()
        #expect(lstat("/dev/full", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR, "/dev/full is no longer a device")

        let fifo = try Self.fifo(in: dir)
        let toFIFO = try Self.runBounded(build + [fifo])
        #expect(toFIFO.status == 1)
        #expect(toFIFO.stderr.contains("it is a FIFO"))

        let target = dir.appendingPathComponent("target").path
        try "precious".write(toFile: target, atomically: true, encoding: .utf8)
        let link = dir.appendingPathComponent("link.igvm").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let toLink = try Self.runBounded(build + [link])
        #expect(toLink.status == 1)
        #expect(toLink.stderr.contains("it is a symbolic link"))
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious")

        let regular = dir.appendingPathComponent("out.igvm").path
        try "old".write(toFile: regular, atomically: true, encoding: .utf8)
        let replaced = try Self.runBounded(build + [regular])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(try IGVMManagerBinary.run(["igvm", "inspect", regular]).status == 0)
        // Only the output is left in the folder: no temporary file.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == ["fifo", "link.igvm", "out.igvm", "target"], "\(left)")
    }

    // MARK: measure

    @Test("measure options that do not apply to the input are usage errors naming the option", arguments: [
        (["--igvm", "x.igvm", "--vcpus", "3"], "--vcpus does not apply to --igvm"),
        (["--igvm", "x.igvm", "--vcpu-type", "EPYC-v4"], "--vcpu-type does not apply to --igvm"),
        (["--igvm", "x.igvm", "--kernel", "k"], "--kernel does not apply to --igvm"),
        (["--igvm", "x.igvm", "--append", "quiet"], "--append does not apply to --igvm"),
        (["--igvm", "x.igvm", "--vmm-type", "QEMU"], "--vmm-type does not apply to --igvm"),
        (["--igvm", "x.igvm", "--guest-features", "0x1"], "--guest-features does not apply to --igvm"),
        (["--mode", "snp", "--ovmf", "x.fd", "--cpus", "2"], "--cpus applies to --igvm only"),
        (["vm.toml", "--vcpus", "2"], "--vcpus does not apply to `measure CONFIG`"),
    ])
    func measureOptionsThatDoNotApply(_ arguments: [String], _ message: String) throws {
        let r = try IGVMManagerBinary.run(["measure"] + arguments)
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty, "a digest was printed: \(r.stdout)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }

    // MARK: definitions

    static func validate(_ toml: String) throws -> ProcessResult {
        let dir = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("vm.toml").path
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return try IGVMManagerBinary.run(["validate", path])
    }

    static let snp = "[qemu]\naccel = \"kvm\"\n[confidential]\ntype = \"sev-snp-guest\"\nreduced-phys-bits = 1\n"

    @Test("qom-type inside [confidential] or [memory-backend] is an error: the table's type is the only way")
    func qomTypeInsideATable() throws {
        let r = try Self.validate(Self.snp + "policy = \"0x30000\"\nqom-type = \"sev-guest\"\n[memory-backend]\ntype = \"memory-backend-memfd\"\nqom-type = \"memory-backend-ram\"\n")
        #expect(r.status == 1)
        #expect(r.stdout.contains("confidential.qom-type: not allowed"), "\(r.stdout)")
        #expect(r.stdout.contains("memory-backend.qom-type: not allowed"), "\(r.stdout)")
    }

    @Test("a policy with a sign, a misplaced separator or a space is not a number", arguments: ["0x+30000", "0x_3_0000", "0x3__0000", "0x30000_", "0x 30000", "+0x30000"])
    func strictPolicyNumbers(_ policy: String) throws {
        let r = try Self.validate(Self.snp + "policy = \"\(policy)\"\n")
        #expect(r.status == 1)
        #expect(r.stdout.contains("confidential.policy: expected a hex string"), "\(r.stdout)")
    }

    /// Each decodes, as QEMU does it, to the 32 bytes host-data needs: 30 from ten full groups,
    /// then 2 more from groups no standard encoder writes.
    @Test("base64 that QEMU decodes differently from standard base64 is refused", arguments: ["AA==A===", "AAA=AA", "A===AA=="])
    func nonCanonicalBase64(_ tail: String) throws {
        let text = String(repeating: "AAAA", count: 10) + tail
        let r = try Self.validate(Self.snp + "policy = \"0x30000\"\nhost-data = \"\(text)\"\n")
        #expect(r.status == 1)
        #expect(r.stdout.contains("host-data: not standard base64"), "\(r.stdout)")
    }

    @Test("a negative uint32 is reported as written")
    func negativeUInt32AsWritten() throws {
        let r = try Self.validate("[qemu]\naccel = \"kvm\"\n[confidential]\ntype = \"sev-snp-guest\"\npolicy = \"0x30000\"\nreduced-phys-bits = -1\n")
        #expect(r.status == 1)
        #expect(r.stdout.contains("reduced-phys-bits: -1 (QEMU wraps it to 18446744073709551615) is out of range for uint32"), "\(r.stdout)")
    }

    @Test("SEV-ES with a ROM that has no SEV-ES reset block is a QEMU-level error")
    func sevESNeedsTheResetBlock() throws {
        let dir = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A ROM-sized image with no OVMF footer at all.
        let rom = dir.appendingPathComponent("plain.rom").path
        try Data(count: 65536).write(to: URL(fileURLWithPath: rom))
        let es = "[qemu]\naccel = \"kvm\"\n[confidential]\ntype = \"sev-guest\"\ncbitpos = 51\nreduced-phys-bits = 1\npolicy = \"0x5\"\n[firmware]\nbios = \"\(rom)\"\n"
        let r = try Self.validate(es)
        #expect(r.status == 1)
        #expect(r.stdout.hasPrefix("qemu: "), "\(r.stdout)")
        #expect(r.stdout.contains("firmware.bios"), "\(r.stdout)")
        // The same image without ES (policy 0x1) has nothing to start APs from and is fine.
        #expect(try Self.validate(es.replacingOccurrences(of: "0x5", with: "0x1")).status == 0)
        // A real OVMF with the block validates.
        let ok = es.replacingOccurrences(of: rom, with: TestPaths.fixtures.appendingPathComponent("sev-snp-measure/ovmf_OvmfX64_suffix.bin").path)
        #expect(try Self.validate(ok).status == 0)
    }

    // MARK: terminal safety

    @Test("control characters from a definition never reach the terminal raw: args quotes them as $'…', errors escape them")
    func controlCharactersAreEscaped() throws {
        let dir = try Self.temporary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let serial = "log\u{1B}[31m\r\u{7}\u{202E}.txt"
        let config = dir.appendingPathComponent("vm.toml").path
        let escaped = serial.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? String($0) : String(format: "\\u%04X", $0.value) }.joined()
        try "name = \"vm\"\n[qemu]\naccel = \"tcg\"\nmemory = \"64M\"\nserial = \"\(escaped)\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let args = try IGVMManagerBinary.run(["args", config, "--state-dir", dir.appendingPathComponent("s").path])
        #expect(args.status == 0, "\(args.stderr)")
        let raw = Set<UInt8>([0x1B, 0x0D, 0x07])
        #expect(!args.stdout.utf8.contains(where: raw.contains), "raw control bytes in: \(args.stdout.debugDescription)")
        #expect(!args.stdout.unicodeScalars.contains("\u{202E}"))
        // bash reads the $'…' word back to exactly the argv `args --json` gives.
        let json = try IGVMManagerBinary.run(["args", "--json", config, "--state-dir", dir.appendingPathComponent("s").path])
        let argv = try JSON.decode(json.stdout).arrayValue?.compactMap(\.stringValue) ?? []
        let bash = try TestProcess.run("/bin/bash", ["-c", "printf '%s\\0' " + args.stdout])
        #expect(bash.stdout.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init) == argv)

        // An error message carrying the same text: escaped, visible.
        let bad = dir.appendingPathComponent("bad.toml").path
        try "[qemu]\nmachine = \"\(escaped)\"\nbogus\u{1B} = 1\n".write(toFile: bad, atomically: true, encoding: .utf8)
        for command in ["validate", "args"] {
            let r = try IGVMManagerBinary.run([command, bad])
            let all = r.stdout + r.stderr
            #expect(!all.utf8.contains(where: raw.contains), "\(command): \(all.debugDescription)")
            #expect(!all.unicodeScalars.contains("\u{202E}"), "\(command)")
        }
    }

    // MARK: qmp

    /// `igvm-mgr qmp --socket S --events` as a child writing into files the test reads as they
    /// grow (the command flushes each event line).
    final class EventWatcher: @unchecked Sendable {
        let process = Process()
        let stdoutFile: URL
        let stderrFile: URL

        init(socket: String, in directory: URL) throws {
            stdoutFile = directory.appendingPathComponent("events.out")
            stderrFile = directory.appendingPathComponent("events.err")
            FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
            FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: try IGVMManagerBinary.path())
            process.arguments = ["qmp", "--socket", socket, "--events", "--name", "STOP"]
            process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
            process.standardError = try FileHandle(forWritingTo: stderrFile)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var printed: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }
        var standardError: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }
    }

    /// Makes QEMU emit STOP through its second monitor until the watcher prints it: from then
    /// on the watcher is certainly connected and subscribed.
    static func waitUntilSubscribed(_ watcher: EventWatcher, control: QMPSocketExchange) async throws {
        var lastTry: ContinuousClock.Instant?
        // Generous: with the whole suite running on two cores, the watcher has been seen to take
        // far longer than its 0.7 s alone to start, connect and subscribe.
        let subscribed = try await eventually(timeout: .seconds(90)) {
            if watcher.printed.contains("\"STOP\"") { return true }
            guard watcher.process.isRunning else {
                throw CommandFailed(description: "the watcher exited: \(watcher.standardError)")
            }
            // A new STOP every 50 ms at most, not on every check: each one runs the guest
            // (TCG) briefly, CPU the watcher needs on a loaded machine to connect and print.
            if lastTry.map({ ContinuousClock.now - $0 >= .milliseconds(50) }) ?? true {
                _ = try control.execute("cont")
                _ = try control.execute("stop")
                lastTry = ContinuousClock.now
            }
            return false
        }
        guard subscribed else {
            throw CommandFailed(description: "the watcher never printed STOP (stdout: \(watcher.printed.prefix(500)); stderr: \(watcher.standardError.prefix(500)))")
        }
    }

    @Test("qmp --events: QEMU killed (no SHUTDOWN) is exit 1 'connection closed by the peer'; QEMU quitting (SHUTDOWN) is exit 0")
    func eventStreamEndTellsOrderlyFromNot() async throws {
        for orderly in [false, true] {
            let qemu = try QEMUUnderTest(machine: "q35", secondMonitor: true)
            // Connected to the second monitor, QEMU has created both sockets (its -qmp options
            // are set up before the main loop): the watcher finds its socket there.
            let control = try QMPSocketExchange(path: qemu.secondQMPSocket!, process: qemu.process)
            let watcher = try EventWatcher(socket: qemu.qmpSocket, in: qemu.directory)
            defer { if watcher.process.isRunning { watcher.process.terminate() } }
            try await Self.waitUntilSubscribed(watcher, control: control)
            if orderly {
                _ = try? control.execute("quit")  // SHUTDOWN (host-qmp-quit) reaches every monitor
            } else {
                qemu.kill9()
            }
            qemu.waitForExit()
            watcher.process.waitUntilExit()
            #expect(watcher.process.terminationStatus == (orderly ? 0 : 1), "orderly \(orderly): \(watcher.standardError)")
            if !orderly {
                #expect(watcher.standardError.contains("connection closed by the peer without a SHUTDOWN event"))
            }
        }
    }

    @Test("qmp commands have a default timeout, and --help says it")
    func qmpDefaultTimeoutIsDocumented() throws {
        let help = try IGVMManagerBinary.run(["qmp", "--help"])
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains("Default for a command: 60"), "\(help.stdout)")
    }
}
