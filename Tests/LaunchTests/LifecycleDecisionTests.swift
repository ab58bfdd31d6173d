import FileAccess
import Foundation
import JSON
import Numerals
import QMP
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import Definition
@testable import Launch
@testable import VMState
@testable import Supervisor
@testable import FirmwareUpdate
@testable import Lifecycle

/// The lifecycle's decisions as pure functions, table-tested: control-command arguments, the
/// exit classification, the signal policy, the record the CLI settles, folder trust, and the
/// conversions of user-supplied seconds.
@Suite("Lifecycle decisions")
struct LifecycleDecisionTests {
    // MARK: x-igvm-mgr-stop / x-igvm-mgr-events arguments

    struct StopCase: Sendable, CustomStringConvertible {
        enum Expected: Sendable { case parsed(StopArguments), error(String) }
        var arguments: JSONObject?
        var expected: Expected
        init(_ arguments: JSONObject?, _ expected: Expected) {
            self.arguments = arguments
            self.expected = expected
        }
        var description: String { arguments.map { "\(JSON.object($0))" } ?? "no arguments" }
    }

    static let stopArgumentCases: [StopCase] = [
        StopCase(nil, .parsed(StopArguments(mode: .acpi, timeout: .seconds(30)))),
        StopCase(["mode": .string("quit"), "timeout": .integer(5)], .parsed(StopArguments(mode: .quit, timeout: .seconds(5)))),
        StopCase(["mode": .string("force"), "timeout": .double(0.5)], .parsed(StopArguments(mode: .force, timeout: .seconds(0.5)))),
        StopCase(["timeout": .integer(86_400)], .parsed(StopArguments(mode: .acpi, timeout: .seconds(86_400)))),
        StopCase(["mode": .string("acpi"), "timeout": .double(1e11)], .error("'timeout' must be between 0 and 86400 seconds, not 100000000000")),
        StopCase(["timeout": .double(2e10)], .error("'timeout' must be between 0 and 86400 seconds")),
        StopCase(["timeout": .integer(-1)], .error("'timeout' must be between 0 and 86400 seconds, not -1")),
        StopCase(["timeout": .string("soon")], .error("Invalid parameter type for 'timeout', expected: number")),
        StopCase(["mode": .integer(5)], .error("Invalid parameter type for 'mode', expected: string")),
        StopCase(["mode": .string("gently")], .error("'mode' must be one of acpi, quit, force, not gently")),
        StopCase(["mode": .string("quit"), "force": .bool(true)], .error("Parameter 'force' is unexpected")),
    ]

    @Test("x-igvm-mgr-stop arguments: ranged timeout, wrong types and unknown arguments are a GenericError naming the argument",
          arguments: stopArgumentCases)
    func stopArguments(_ test: StopCase) {
        switch (StopArguments.parse(test.arguments), test.expected) {
        case (.success(let parsed), .parsed(let want)):
            #expect(parsed == want)
        case (.failure(let error), .error(let want)):
            #expect(error.errorClass == "GenericError")
            #expect(error.desc.contains(want), "\(error.desc)")
        case (let got, _):
            Issue.record("\(test): got \(got)")
        }
    }

    @Test("x-igvm-mgr-events: tail is a ranged integer, unknown arguments refused")
    func eventsArguments() throws {
        #expect(try EventsArguments.parse(nil).get().tail == 20)
        #expect(try EventsArguments.parse(["tail": 3]).get().tail == 3)
        let cases: [(JSONObject, String)] = [
            (["tail": .integer(-5)], "'tail' must be between 0 and 100000"), (["tail": .string("x")], "expected: integer"),
            (["tail": .double(2.5)], "expected: integer"), (["n": .integer(1)], "Parameter 'n' is unexpected"),
        ]
        for (arguments, message) in cases {
            guard case .failure(let error) = EventsArguments.parse(arguments) else {
                Issue.record("\(arguments) accepted")
                continue
            }
            #expect(error.desc.contains(message), "\(error.desc)")
        }
    }

    @Test("seconds from users convert to durations without trapping: NaN, infinities, 1e300, negatives")
    func timeoutConversions() {
        for seconds in [Double.nan, .infinity, -.infinity, 1e300, 1e11, -1, 0] {
            let duration = Duration.clampedSeconds(seconds)
            #expect(duration >= .zero && duration <= Duration.longestTimeout)
            #expect(duration.nanoseconds >= 0)
        }
        #expect(Duration.clampedSeconds(1.5) == .milliseconds(1500))
        #expect(Duration.clampedSeconds(.nan) == .zero)
        #expect(Duration.clampedSeconds(1e300) == Duration.longestTimeout)
        #expect(Duration.milliseconds(2500).seconds == 2.5)
    }

    // MARK: How a run ended

    static let exitCases: [(ProcessTermination, StopStep?, String?, Bool, ExitClassification)] = [
        // No stop: a guest power-off, a host quit through `qmp`, a crash.
        (.exited(0), nil, "guest-shutdown", true, .init(reason: "guest-shutdown", phase: .stopped)),
        (.exited(0), nil, "host-qmp-quit", false, .init(reason: "host-qmp-quit", phase: .stopped)),
        (.signaled(SIGKILL), nil, nil, false, .init(reason: "unexpected", phase: .crashed)),
        (.exited(1), nil, nil, false, .init(reason: "unexpected", phase: .crashed)),
        // A stop step is credited with the exit it causes …
        (.exited(0), .acpi, "guest-shutdown", true, .init(reason: "stop", phase: .stopped, creditedStep: .acpi)),
        (.exited(0), .acpi, nil, false, .init(reason: "stop", phase: .stopped, creditedStep: .acpi)),
        (.exited(0), .quit, "host-qmp-quit", false, .init(reason: "stop", phase: .stopped, creditedStep: .quit)),
        (.exited(0), .sigterm, "host-signal", false, .init(reason: "stop", phase: .stopped, creditedStep: .sigterm)),
        (.signaled(SIGTERM), .sigterm, nil, false, .init(reason: "stop", phase: .stopped, creditedStep: .sigterm)),
        (.signaled(SIGKILL), .sigkill, nil, false, .init(reason: "stop", phase: .stopped, creditedStep: .sigkill)),
        // … and not with one it cannot cause: an outside kill -9 during the ACPI or quit wait,
        // an outside SIGTERM during the ACPI wait.
        (.signaled(SIGKILL), .acpi, nil, false, .init(reason: "unexpected", phase: .crashed)),
        (.signaled(SIGKILL), .quit, nil, false, .init(reason: "unexpected", phase: .crashed)),
        (.exited(0), .acpi, "host-signal", false, .init(reason: "unexpected", phase: .crashed)),
        (.signaled(SIGKILL), .sigterm, nil, false, .init(reason: "unexpected", phase: .crashed)),
    ]

    @Test("exit classification: a stop step is credited only with an exit it can cause", arguments: exitCases)
    func classification(termination: ProcessTermination, step: StopStep?, shutdownReason: String?, byGuest: Bool, expected: ExitClassification) {
        #expect(ExitClassification.classify(termination, stepInProgress: step, shutdownReason: shutdownReason, shutdownByGuest: byGuest,
                                            relaunching: false) == expected)
    }

    @Test("a relaunch's exit is a relaunch whatever ended it")
    func relaunchExit() {
        #expect(ExitClassification.classify(.exited(0), stepInProgress: .quit, shutdownReason: "host-qmp-quit", shutdownByGuest: false,
                                            relaunching: true) == .init(reason: "relaunch", phase: .stopped, creditedStep: .quit))
    }

    @Test("SIGTERM/SIGINT to the supervisor: the first stops gracefully (acpi first), every later one forces")
    func signalPolicy() {
        #expect([1, 2, 3].map(SignalStopPolicy.mode(forSignalNumber:)) == [.acpi, .force, .force])
        #expect(SignalStopPolicy.signals == [SIGTERM, SIGINT])
    }

    // MARK: What the CLI records after ending a VM itself

    static func state(_ phase: VMPhase, qemu: Bool, lastExit: ExitRecord? = nil) -> VMState {
        var state = VMState(name: "vm", phase: phase)
        state.supervisor = ProcessIdentity(pid: 10, startTicks: 1)
        state.qemu = qemu ? ProcessIdentity(pid: 11, startTicks: 2) : nil
        state.lastExit = lastExit
        return state
    }

    @Test("settled record: a QEMU ended here is stopped by that step; the supervisor's own termination is kept, its reason replaced")
    func settledAfterStop() throws {
        let fromOrphan = try #require(StopRecord.settled(Self.state(.running, qemu: true), endedBy: .sigkill, reason: "stop", at: "t"))
        #expect(fromOrphan.phase == .stopped)
        #expect(fromOrphan.qemu == nil && fromOrphan.supervisor == nil)
        #expect(fromOrphan.lastExit == ExitRecord(termination: .unknown, reason: "stop", stopStep: "sigkill", at: "t"))

        // The supervisor saw the SIGKILL it did not send and called it unexpected; the CLI sent it.
        let seen = ExitRecord(termination: .signaled(9), reason: "unexpected", outputTail: ["x"], at: "s")
        let amended = try #require(StopRecord.settled(Self.state(.crashed, qemu: false, lastExit: seen), endedBy: .sigkill, reason: "stop", at: "t"))
        #expect(amended.lastExit == ExitRecord(termination: .signaled(9), reason: "stop", stopStep: "sigkill", outputTail: ["x"], at: "t"))
        #expect(amended.phase == .stopped)

        let undoneStart = try #require(StopRecord.settled(Self.state(.starting, qemu: true), endedBy: .sigkill, reason: "start-failed", phase: .failed))
        #expect(undoneStart.phase == .failed)
    }

    @Test("settled record: nothing alive — an active record is a lost run, a start that never spawned failed, a final one stays")
    func settledWithNothingAlive() {
        #expect(StopRecord.settled(Self.state(.running, qemu: true), endedBy: nil, reason: "stop")?.phase == .crashed)
        #expect(StopRecord.settled(Self.state(.running, qemu: true), endedBy: nil, reason: "stop")?.lastExit?.reason == "supervisor-lost")
        #expect(StopRecord.settled(Self.state(.stopping, qemu: false), endedBy: nil, reason: "stop")?.phase == .crashed)
        #expect(StopRecord.settled(Self.state(.starting, qemu: false), endedBy: nil, reason: "stop")?.phase == .failed)
        #expect(StopRecord.settled(Self.state(.stopped, qemu: false), endedBy: nil, reason: "stop") == nil)
        #expect(StopRecord.settled(Self.state(.failed, qemu: false), endedBy: nil, reason: "stop") == nil)
    }

    // MARK: Folder trust

    static let trustCases: [(FolderTrust.Kind, Bool, Bool, uid_t, mode_t, String?)] = [
        (.stateDirectory, true, false, 1000, 0o40700, nil),
        (.stateDirectory, true, false, 0, 0o40755, nil),                 // root's, not writable by others
        (.stateDirectory, true, true, 1000, 0o40700, nil),               // reached through a symlink: its target counts
        (.stateDirectory, true, false, 1001, 0o40700, "owned by uid 1001"),
        (.stateDirectory, true, false, 1000, 0o41777, "writable by others"),
        (.stateDirectory, true, false, 1000, 0o40770, "writable by its group"),
        (.stateDirectory, false, false, 1000, 0o100600, "not a directory"),
        (.vmFolder, true, true, 1000, 0o40700, "symbolic link"),
        (.vmFolder, true, false, 1000, 0o40700, nil),
    ]

    @Test("folder trust: owned by the caller or root, writable by nobody else, a VM folder no symlink", arguments: trustCases)
    func trust(kind: FolderTrust.Kind, isDirectory: Bool, isSymlink: Bool, owner: uid_t, mode: mode_t, problem: String?) {
        let found = FolderTrust.problem(path: "/x", kind: kind, isDirectory: isDirectory, isSymlink: isSymlink, ownerUID: owner, mode: mode,
                                        callerUID: 1000)
        if let problem {
            #expect(found?.contains(problem) == true, "\(String(describing: found))")
        } else {
            #expect(found == nil)
        }
    }
}

/// The event log on a full disk, with a fault-injecting writer (it writes part of a line, then
/// fails with ENOSPC, as `write(2)` does when the file system fills mid-line).
@Suite("Event log on a full disk")
struct EventLogFullDiskTests {
    /// Writes `allowed` bytes in total, then fails every write with ENOSPC until `refill()`.
    final class FillingDisk: @unchecked Sendable {
        private let lock = NSLock()
        private var remaining: Int
        init(allowed: Int) { remaining = allowed }
        func refill() { lock.withLock { remaining = .max } }
        func write(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
            let n = lock.withLock { () -> Int in
                let n = min(count, remaining)
                remaining -= n
                return n
            }
            if n == 0 { errno = ENOSPC; return -1 }
            return Glibc.write(fd, bytes, n)
        }
    }

    @Test("a record torn by a full disk is skipped by readers, and the next record after space returns is whole")
    func tornLineIsIsolated() throws {
        let folder = "/tmp/im-evlog-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(folder, 0o700)
        defer { unlink(folder + "/events.jsonl"); rmdir(folder) }
        let path = folder + "/events.jsonl"
        let disk = FillingDisk(allowed: 100)
        let log = try EventLog(path: path) { disk.write($0, $1, $2) }
        #expect(log.append(event: "FIRST", source: "igvm-mgr"))  // ~70 bytes: fits
        #expect(!log.append(event: "TORN", data: ["padding": .string(String(repeating: "p", count: 200))], source: "igvm-mgr"))
        #expect(!log.append(event: "DROPPED", source: "igvm-mgr"))  // nothing written at all
        disk.refill()
        #expect(log.append(event: "AFTER", source: "igvm-mgr"))
        let names = EventLog.read(path).compactMap { $0["event"]?.stringValue }
        #expect(names == ["FIRST", "AFTER"])
        // A second writer (the CLI, a restarted supervisor) opening a log that ends mid-line
        // does not glue its record onto the fragment either.
        let raw = open(path, O_WRONLY | O_APPEND)
        _ = "{\"at\": \"half".withCString { Glibc.write(raw, $0, strlen($0)) }
        close(raw)
        #expect(EventLog.read(path).compactMap { $0["event"]?.stringValue } == ["FIRST", "AFTER"])
        try EventLog(path: path).append(event: "NEXT", source: "igvm-mgr")
        #expect(EventLog.read(path).compactMap { $0["event"]?.stringValue } == ["FIRST", "AFTER", "NEXT"])
    }
}
