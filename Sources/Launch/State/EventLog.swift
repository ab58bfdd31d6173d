#if canImport(Glibc)
import Glibc
#endif
import JSON

/// The append-only JSON-lines event log of one VM.
///
/// Every record is one line `{"at": …, "event": NAME, "data": {…}, "source": "qemu"|"igvm-mgr"}`
/// written with a single `write(2)` on an `O_APPEND` descriptor, so concurrent readers never
/// see half a line from a finished write and a crash loses at most the line being written.
public final class EventLog: @unchecked Sendable {
    public let path: String
    private let fd: Int32

    /// Opens (creating, mode 0600) the log for appending.
    public init(path: String) throws(SystemError) {
        self.path = path
        fd = retryingOnInterrupt { open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw SystemError("cannot open the event log", path) }
    }

    deinit { close(fd) }

    /// Appends one record. `qemuTimestamp` is the event's own QMP timestamp when it has one.
    public func append(event: String, data: JSON = .null, source: String, qemuTimestamp: JSON? = nil) {
        var record: JSONObject = ["at": .string(Timestamp.nowRFC3339()), "source": .string(source), "event": .string(event)]
        if data != .null { record["data"] = data }
        if let qemuTimestamp { record["timestamp"] = qemuTimestamp }
        guard var line = try? JSON.object(record).encoded() else { return }
        line += "\n"
        // Best effort: a full disk must not take the supervisor down with it.
        try? FileDescriptorIO.writeAll(fd, Array(line.utf8), subject: path)
    }

    /// Reads the records of the log at `path`, oldest first (skipping a torn last line).
    public static func read(_ path: String) -> [JSON] {
        guard let bytes = try? FileDescriptorIO.readFile(path) else { return [] }
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
