import FileAccess
import Foundation
import JSON
import QMP
import Testing
import TestSupport

@testable import Launch
@testable import VMState
@testable import Supervisor

#if canImport(Glibc)
import Glibc
#endif

struct ConsoleTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One client of `console.sock`, as `igvm-mgr console` speaks to it: the attach line, its
/// answer, then raw bytes. The socket is non-blocking and every wait is `eventually` (a blocking
/// read here would hold a thread the in-process supervisor needs).
final class ConsoleTestClient {
    let fd: Int32
    /// How long any one wait may take: generous, because the suite runs many QEMUs at once on
    /// small machines (a wait ends as soon as its condition holds).
    static let deadline: Duration = .seconds(120)
    private(set) var received: [UInt8] = []
    /// The relay's answer to the attach line (nil: none within the deadline, or not JSON).
    private(set) var answer: JSON?
    private var closed = false

    /// Connects and sends the attach line (`request` replaces it), then waits for the answer.
    static func attach(_ socketPath: String, force: Bool, pid: Int, request: String? = nil) async throws -> ConsoleTestClient {
        let (fd, error) = connectUnixSocket(socketPath)
        guard fd >= 0 else { throw ConsoleTestFailure("cannot connect to \(socketPath): errno \(error)") }
        let client = ConsoleTestClient(fd: fd)
        try client.send((request ?? "{\"attach\": {\"force\": \(force), \"pid\": \(pid)}}") + "\n")
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if await eventually(timeout: deadline, { client.readAvailable(); return client.received.contains(0x0A) || client.closed }),
           let newline = client.received.firstIndex(of: 0x0A) {
            client.answer = try? JSON.decode(bytes: Array(client.received[..<newline]))
            client.received.removeSubrange(...newline)
        }
        return client
    }

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw ConsoleTestFailure("console write failed") }
    }

    var text: String { String(decoding: received, as: UTF8.self) }

    /// Reads until what was received holds `expected`; false after `timeout`.
    func read(until expected: String, timeout: Duration = ConsoleTestClient.deadline) async -> Bool {
        await eventually(timeout: timeout) { () -> Bool in
            readAvailable()
            return text.contains(expected)
        }
    }

    /// Takes what has arrived, without waiting; notes when the relay has closed the connection.
    func readAvailable() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !closed {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n > 0 { received += buffer[..<n]; continue }
            if n == 0 || (errno != EAGAIN && errno != EINTR) { closed = true }
            break
        }
    }

    /// Waits until the relay closes the connection.
    func waitForClose(timeout: Duration = ConsoleTestClient.deadline) async -> Bool {
        await eventually(timeout: timeout) { readAvailable(); return closed }
    }
}

/// An event policy that relaunches QEMU (the same launch) on the first RESET, as the reset
/// flows do when the guest resets.
actor RelaunchOnResetPolicy: VMEventPolicy {
    private var relaunched = false
    private(set) var failure: String?

    func handle(event: QMPEvent, supervisor: any SupervisorControl) async {
        guard event.name == "RESET", !relaunched else { return }
        relaunched = true
        do { try await supervisor.relaunch(await supervisor.currentLaunch()) } catch { failure = "\(error)" }
    }
}

/// The supervisor's console relay (`[console]`) with real QEMU running `SerialEchoGuest`: the
/// guest's output reaches console.log whether or not anyone is attached, one client at a time,
/// a takeover, an attachment that outlives a relaunch, and a log that is never a symlink.
@Suite("Console relay (real QEMU)")
struct ConsoleRelayQEMUTests {
    /// A `[console]` VM booting the echo guest, run by an in-process supervisor.
    struct EchoVM {
        let sandbox: LifecycleSandbox
        let paths: VMPaths
        let supervisor: Supervisor
        let run: Task<Int32, Never>

        init(_ name: String, policy: any VMEventPolicy = PlainEventPolicy(), prepare: (VMPaths) throws -> Void = { _ in }) throws {
            sandbox = try LifecycleSandbox()
            try sandbox.directory.create()
            paths = try sandbox.paths(name)
            try Folder.make(paths.folder, mode: 0o700)
            try prepare(paths)
            var launch = try sandbox.launch(name, extra: try SerialEchoGuest.arguments(in: paths.folder))
            launch.console = true
            let supervisor = try Supervisor(paths: paths, launch: launch, policy: policy, lock: nil, readiness: nil)
            self.supervisor = supervisor
            run = Task { await supervisor.run() }
        }

        var log: String { (try? String(contentsOfFile: paths.consoleLog, encoding: .utf8)) ?? "" }

        func events(_ name: String) -> [JSON] { EventLog.read(paths.eventLog).filter { $0["event"]?.stringValue == name } }

        func stop() async throws -> Int32 {
            _ = try await supervisor.stop(mode: .quit, timeout: .seconds(10))
            return await run.value
        }
    }

    @Test("the guest's output is logged unattended; one attachment at a time; force takes over")
    func attachRefuseTakeOver() async throws {
        let vm = try EchoVM("cr")
        defer { vm.sandbox.tearDown() }
        // Nobody attached yet: the banner is in the log all the same.
        #expect(await eventually(timeout: ConsoleTestClient.deadline) { vm.log.contains(SerialEchoGuest.banner) }, "log: \(vm.log)")

        let first = try await ConsoleTestClient.attach(vm.paths.consoleSocket, force: false, pid: 111)
        #expect(first.answer?["return"] != nil, "\(String(describing: first.answer))")
        try first.send("ping-1")
        #expect(await first.read(until: "ping-1"), "echoed: \(first.text)")

        // Test pids (labelled): the relay only repeats them in its messages.
        let refused = try await ConsoleTestClient.attach(vm.paths.consoleSocket, force: false, pid: 222)
        let refusal = refused.answer?["error"]?["desc"]?.stringValue ?? ""
        #expect(refusal.contains("attached elsewhere (pid 111)") && refusal.contains("--force"), "\(refusal)")
        #expect(await refused.waitForClose())

        let second = try await ConsoleTestClient.attach(vm.paths.consoleSocket, force: true, pid: 333)
        #expect(second.answer?["return"] != nil)
        #expect(await first.read(until: "taken over by pid 333"), "\(first.text)")
        #expect(await first.waitForClose())
        try second.send("pong-2")
        #expect(await second.read(until: "pong-2"))

        let garbled = try await ConsoleTestClient.attach(vm.paths.consoleSocket, force: false, pid: 0, request: "hello")
        #expect(garbled.answer?["error"]?["desc"]?.stringValue?.contains("attach") == true)
        #expect(await garbled.waitForClose())

        #expect(vm.log.contains("ping-1") && vm.log.contains("pong-2"))
        #expect(vm.events("CONSOLE_ATTACHED").count == 2)
        #expect(vm.events("CONSOLE_TAKEN_OVER").first?["data"]?["from-pid"] == 111)

        #expect(try await vm.stop() == 0)
        #expect(await second.waitForClose(), "the attachment ends with the VM")
        #expect(!FileManager.default.fileExists(atPath: vm.paths.consoleSocket))
    }

    @Test("an attachment outlives a relaunch of QEMU; the log spans both runs")
    func attachmentOutlivesRelaunch() async throws {
        let policy = RelaunchOnResetPolicy()
        let vm = try EchoVM("cl", policy: policy)
        defer { vm.sandbox.tearDown() }
        #expect(await eventually(timeout: ConsoleTestClient.deadline) { FileManager.default.fileExists(atPath: vm.paths.consoleSocket) })
        let client = try await ConsoleTestClient.attach(vm.paths.consoleSocket, force: false, pid: 444)
        #expect(client.answer?["return"] != nil)
        #expect(await eventually(timeout: ConsoleTestClient.deadline) { vm.log.contains(SerialEchoGuest.banner) })
        try client.send("before")
        #expect(await client.read(until: "before"))

        _ = try await vm.supervisor.execute("system_reset", arguments: nil)
        // The second run's banner arrives on the same connection.
        #expect(await eventually(timeout: ConsoleTestClient.deadline) { vm.events("QEMU_SPAWNED").count == 2 })
        #expect(await eventually(timeout: ConsoleTestClient.deadline) { vm.log.components(separatedBy: SerialEchoGuest.banner).count == 3 }, "log: \(vm.log)")
        #expect(await eventually(timeout: ConsoleTestClient.deadline) { client.readAvailable(); return client.text.components(separatedBy: SerialEchoGuest.banner).count >= 2 },
                "client: \(client.text)")
        try client.send("after")
        #expect(await client.read(until: "after"))
        #expect(await policy.failure == nil)
        #expect(vm.events("CONSOLE_ATTACHED").count == 1)
        #expect(vm.events("CONSOLE_DETACHED").isEmpty)
        #expect(try await vm.stop() == 0)
    }

    @Test("a console.log that is a symlink fails the start instead of being followed")
    func symlinkedLogRefused() async throws {
        let target = "/tmp/im-target-" + UUID().uuidString.prefix(8)
        defer { unlink(target) }
        let vm = try EchoVM("cs") { paths in
            #expect(symlink(target, paths.consoleLog) == 0)
        }
        defer { vm.sandbox.tearDown() }
        #expect(await vm.run.value == 2)
        let state = await vm.supervisor.currentState()
        #expect(state.phase == .failed)
        #expect(state.error?.contains("console log") == true, "\(state.error ?? "")")
        #expect(!FileManager.default.fileExists(atPath: target), "nothing written through the link")
    }
}

/// The relay with a socket pair standing in for QEMU (labelled: a fake QEMU end, because real
/// QEMU's UART emits ~50 KB/s under TCG and this needs megabytes at once). A client that stops
/// reading misses output instead of holding the guest up; the log keeps all of it, and the client
/// is told what it missed when it reads again.
@Suite("Console relay: a slow client (fake QEMU end)")
struct ConsoleRelaySlowClientTests {
    @Test func slowClientMissesOutputTheLogKeeps() async throws {
        let folder = "/tmp/im-cr" + UUID().uuidString.prefix(8).lowercased()
        try Folder.make(folder, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let reports = Reports()
        let relay = try await ConsoleRelay.open(name: "slow", socketPath: folder + "/console.sock", logPath: folder + "/console.log") { event, _ in
            reports.add(event)
        }
        let qemuEnd = try relay.connectQEMU()
        defer { close(qemuEnd) }
        let client = try await ConsoleTestClient.attach(folder + "/console.sock", force: false, pid: 1)
        #expect(client.answer?["return"] != nil)

        // 4 MiB, more than the client's socket and the relay's backlog hold, written as QEMU
        // would (the writer never waits for the client).
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        let total = 64 * chunk.count
        // On a Dispatch thread: a blocking write must not hold a thread of the cooperative pool.
        let wroteAll = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            DispatchQueue.global().async {
                var ok = true
                for _ in 0..<64 where ok { ok = write(qemuEnd, chunk, chunk.count) == chunk.count }
                done.resume(returning: ok)
            }
        }
        #expect(wroteAll, "the guest's side was never held up")
        let logged = await eventually(timeout: ConsoleTestClient.deadline) { () -> Bool in
            var info = stat()
            return stat(folder + "/console.log", &info) == 0 && Int(info.st_size) == total
        }
        #expect(logged, "the log has every byte")

        #expect(await client.read(until: "not shown here"), "received \(client.received.count) bytes")
        let shown = client.received.filter { $0 == UInt8(ascii: "x") }.count
        #expect(shown < total)
        let notice = client.text.split(separator: "[igvm-mgr: ").last ?? ""
        #expect(notice.hasPrefix("\(total - shown) bytes of console output not shown"), "\(notice)")
        #expect(reports.events.contains("CONSOLE_ATTACHED"))
        await relay.close()
        #expect(!FileManager.default.fileExists(atPath: folder + "/console.sock"))
    }

    final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private var names: [String] = []
        func add(_ name: String) { lock.withLock { names.append(name) } }
        var events: [String] { lock.withLock { names } }
    }
}

/// The two forms of the console's chardev: the supervisor's (QEMU's end of the relay's socket
/// pair, no log of QEMU's own) and the one `args --qmp-socket` prints to run by hand (QEMU
/// listens and logs itself), with a path that cannot add options.
@Suite struct ConsoleEndpointTests {
    @Test func supervisorAndByHandForms() {
        let relayed = QEMULaunch.ConsoleEndpoint(socket: .inheritedDescriptor, log: "/s/vm/console.log").arguments
        #expect(relayed == ["-chardev", "socket,id=igvm-mgr-console,fd=4,server=off", "-serial", "chardev:igvm-mgr-console"])
        let byHand = QEMULaunch.ConsoleEndpoint(socket: .socket(path: "/s/a,b=c/console.sock"), log: "/s/a,b=c/console.log").arguments
        #expect(byHand[1] == "socket,id=igvm-mgr-console,path=/s/a,,b=c/console.sock,server=on,wait=off,logfile=/s/a,,b=c/console.log,logappend=on")
    }
}
