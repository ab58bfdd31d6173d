import Launch
import Definition
import FileAccess

#if canImport(Glibc)
import Glibc
#endif
import JSON
import Synchronization

/// The append-only JSON-lines event log of one VM.
///
/// Every record is one line `{"at": …, "event": NAME, "data": {…}, "source": "qemu"|"igvm-mgr"}`
/// written with a single `write(2)` on an `O_APPEND` descriptor, so concurrent readers never
/// see half a line from a finished write and a crash loses at most the line being written.
///
/// A full disk can still cut a line short (`write` returns a short count, then `ENOSPC`). The
/// fragment stays, but the next record starts with a newline of its own, so the fragment is a
/// line of its own that readers skip and the next record is whole; a log found ending without a
/// newline (a writer died mid-line) is treated the same way.
public final class EventLog: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    /// The write function (`write(2)`; tests inject short writes and ENOSPC).
    private let writer: Writer
    /// Whether the log ends in a fragment that the next record must not be glued onto.
    private let torn: Mutex<Bool>

    public typealias Writer = @Sendable (Int32, UnsafeRawPointer, Int) -> Int

    /// Opens (creating, mode 0600) the log for appending.
    public init(path: String, writer: @escaping Writer = { Glibc.write($0, $1, $2) }) throws(SystemError) {
        self.path = path
        self.writer = writer
        // Never through a symlink planted in the VM folder.
        fd = retryingOnInterrupt { open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw SystemError("cannot open the event log", path) }
        torn = Mutex(Self.endsMidLine(fd))
    }

    deinit { close(fd) }

    /// Appends one record. `qemuTimestamp` is the event's own QMP timestamp when it has one.
    /// Best effort: a full disk must not take the supervisor down with it; returns whether the
    /// record was written whole.
    @discardableResult
    public func append(event: String, data: JSON = .null, source: String, qemuTimestamp: JSON? = nil) -> Bool {
        var record: JSONObject = ["at": .string(Timestamp.nowRFC3339()), "source": .string(source), "event": .string(event)]
        if data != .null { record["data"] = data }
        if let qemuTimestamp { record["timestamp"] = qemuTimestamp }
        guard let line = try? JSON.object(record).encoded() else { return false }
        return torn.withLock { torn in
            let bytes = Array(((torn ? "\n" : "") + line + "\n").utf8)
            let written = writeRetryingShortWrites(bytes)
            // Anything short of the whole line leaves a fragment (or nothing, which is harmless to
            // terminate again).
            torn = written < bytes.count
            return !torn
        }
    }

    /// Writes `bytes`, continuing after short writes and EINTR; returns how many were written.
    private func writeRetryingShortWrites(_ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                retryingOnInterrupt { writer(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            }
            guard n > 0 else { break }
            offset += n
        }
        return offset
    }

    /// Whether the file behind `fd` is non-empty and does not end with a newline.
    private static func endsMidLine(_ fd: Int32) -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return false }
        let reader = open("/proc/self/fd/\(fd)", O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return false }
        defer { close(reader) }
        var last: UInt8 = 0
        return pread(reader, &last, 1, info.st_size - 1) == 1 && last != 0x0A
    }

    /// Reads the records of the log at `path`, oldest first (skipping a torn last line).
    public static func read(_ path: String) -> [JSON] {
        guard let bytes = try? FileDescriptorIO.readFile(path, followingSymlinks: false) else { return [] }
        return parse(bytes[...])
    }

    /// The last `count` records of the log at `path`.
    public static func tail(_ path: String, count: Int) -> [JSON] {
        Array(read(path).suffix(count))
    }

    /// The records in whole lines of `bytes`; an unterminated last line is left out.
    public static func parse(_ bytes: ArraySlice<UInt8>) -> [JSON] {
        var result: [JSON] = []
        var start = bytes.startIndex
        for index in bytes.indices where bytes[index] == 0x0A {
            if index > start, let record = try? JSON.decode(bytes: Array(bytes[start..<index])) {
                result.append(record)
            }
            start = index + 1
        }
        return result
    }
}
