import Foundation
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// A minimal, blocking QMP exchange over a Unix socket for tests that start a real QEMU before
/// the project's QMP client exists in their branch: read the greeting, negotiate capabilities,
/// send commands one at a time and read until their reply (events in between are collected).
public final class QMPSocketExchange {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    /// The greeting QEMU sent (`{"QMP": {...}}`).
    public private(set) var greeting: JSON = .null
    /// Events received while waiting for replies.
    public private(set) var events: [JSON] = []

    /// Connects to `path`, waiting up to `timeout` seconds for QEMU to create and listen on it;
    /// gives up early when `process` has exited (its stderr then explains why).
    public init(path: String, process: Process? = nil, timeout: Double = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var lastError: Int32 = 0
        while true {
            let (connected, code) = connectUnixSocket(path)
            if connected >= 0 {
                fd = connected
                break
            }
            guard code != ENAMETOOLONG else { throw Failure(description: "socket path too long: \(path)") }
            lastError = code
            if let process, !process.isRunning {
                throw Failure(description: "QEMU exited (status \(process.terminationStatus)) before its QMP socket accepted a connection")
            }
            if Date() > deadline {
                throw Failure(description: "no QMP socket at \(path) after \(timeout) s (errno \(lastError))")
            }
            // The socket appears once QEMU has parsed its command line: poll for it briefly.
            usleep(20_000)
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        greeting = try readMessage()
        guard greeting["QMP"] != nil else { throw Failure(description: "expected the QMP greeting, got \(greeting)") }
        let reply = try execute("qmp_capabilities")
        guard reply["return"] != nil else { throw Failure(description: "qmp_capabilities failed: \(reply)") }
    }

    deinit { close(fd) }

    /// Sends `command` and returns its reply (`{"return": …}` or `{"error": …}`).
    @discardableResult
    public func execute(_ command: String, arguments: JSONObject? = nil) throws -> JSON {
        var message: JSONObject = ["execute": .string(command)]
        if let arguments { message["arguments"] = .object(arguments) }
        let bytes = Array(try JSON.object(message).encoded().utf8) + [UInt8(ascii: "\n")]
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure(description: "write to QMP failed: errno \(errno)") }
            offset += n
        }
        while true {
            let reply = try readMessage()
            if reply["event"] != nil { events.append(reply); continue }
            return reply
        }
    }

    /// Reads one newline-terminated JSON message.
    public func readMessage() throws -> JSON {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.allSatisfy({ $0 == 13 || $0 == 32 }) { continue }
                return try JSON.decode(bytes: line)
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure(description: n == 0 ? "QMP connection closed" : "QMP read failed: errno \(errno)") }
            buffer += chunk[..<n]
        }
    }
}
