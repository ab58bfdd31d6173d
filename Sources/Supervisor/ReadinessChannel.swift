import VMState
import Launch
import FileAccess
#if canImport(Glibc)
import Glibc
#endif
import JSON

/// How far the supervisor got, as it tells `start` (the readiness pipe's `milestone`).
public enum ReadinessMilestone: String, Sendable, CaseIterable {
    /// The supervisor runs; nothing reported yet (what `start` reports before the first line).
    case started
    /// QEMU has been spawned (its pid is known).
    case spawned
    /// QEMU's monitor answered and the control socket is up.
    case qmp
    /// Start-up is over: QEMU runs (or is paused, as asked).
    case ready
    /// The launch failed; the record carries the reason and QEMU's own lines.
    case error
}

/// The pipe through which the supervisor tells `start` how far it got: one JSON line per
/// milestone (`spawned`, `qmp`, `ready`) or `{"milestone": "error", …}` with QEMU's own lines.
/// `start` waits on it instead of polling files; end of file without `ready` means the
/// supervisor died, and `state.json` says why.
public final class ReadinessChannel: @unchecked Sendable {
    /// The descriptor number the supervisor finds the pipe's write end on.
    public static let supervisorDescriptor: Int32 = 4
    private var fd: Int32

    public init(descriptor: Int32) {
        fd = descriptor
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// Sends one milestone (ignored once closed, or when `start` has gone away).
    public func send(_ milestone: ReadinessMilestone, _ details: JSONObject = [:]) {
        guard fd >= 0 else { return }
        var record = details
        record["milestone"] = .string(milestone.rawValue)
        guard let line = try? JSON.object(record).encoded() else { return }
        try? FileDescriptorIO.writeAll(fd, Array((line + "\n").utf8), subject: "readiness pipe")
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}

/// The reading end, in `start`.
public struct ReadinessReader {
    let fd: Int32
    private var buffer: [UInt8] = []

    public init(fd: Int32) { self.fd = fd }

    public enum Next { case record(JSON), endOfFile, timedOut }

    /// The next record, waiting until `deadline` (monotonic seconds).
    public mutating func next(deadline: Double) -> Next {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if let record = try? JSON.decode(bytes: line) { return .record(record) }
                continue
            }
            let remaining = deadline - Timestamp.monotonic()
            if remaining <= 0 { return .timedOut }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining * 1000, 60_000)) + 1)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return .endOfFile }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }
}
