import Foundation
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// A minimal, blocking QMP exchange for tests that need a QEMU but not the QMP module's client:
/// one line per message, events kept in arrival order. Use it from one task at a time.
public final class RawQMPConnection: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var events: [JSON] = []
    private let lock = NSLock()

    /// Connects to a QMP server socket and negotiates capabilities.
    public init(socketPath: String) throws {
        let (connected, code) = connectUnixSocket(socketPath)
        guard connected >= 0 else {
            throw Failure(description: "connect \(socketPath): \(String(cString: strerror(code)))")
        }
        fd = connected
        let greeting = try readMessage(timeout: .seconds(10))
        guard greeting["QMP"] != nil else { throw Failure(description: "no QMP greeting: \(greeting)") }
        _ = try execute("qmp_capabilities")
    }

    deinit { close(fd) }

    /// Runs a command; returns its `return` value or throws its error.
    @discardableResult
    public func execute(_ command: String, _ arguments: JSONObject? = nil, timeout: Duration = .seconds(30)) throws -> JSON {
        var message: JSONObject = ["execute": .string(command)]
        if let arguments { message["arguments"] = .object(arguments) }
        var bytes = try JSON.object(message).encodedBytes()
        bytes.append(0x0A)
        try bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Failure(description: "send \(command): \(String(cString: strerror(errno)))") }
                sent += n
            }
        }
        while true {
            let reply = try readMessage(timeout: timeout)
            if reply["event"] != nil {
                lock.withLock { events.append(reply) }
                continue
            }
            if let error = reply["error"] {
                throw Failure(description: "\(command): \(error["class"]?.stringValue ?? "?"): \(error["desc"]?.stringValue ?? "?")")
            }
            return reply["return"] ?? .null
        }
    }

    /// Waits for the next event named `name` matching `predicate`; earlier events of other names
    /// are dropped from the queue up to the match.
    @discardableResult
    public func waitForEvent(_ name: String, timeout: Duration = .seconds(30),
                             where predicate: (JSON) -> Bool = { _ in true }) throws -> JSON {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let match: JSON = lock.withLock({
                if let index = events.firstIndex(where: { $0["event"]?.stringValue == name && predicate($0["data"] ?? .null) }) {
                    let event = events[index]
                    events.removeSubrange(...index)
                    return event
                }
                return nil
            }) { return match }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { throw Failure(description: "no \(name) event within the timeout") }
            let message = try readMessage(timeout: remaining)
            if message["event"] != nil { lock.withLock { events.append(message) } }
        }
    }

    /// Reads one CRLF/LF-terminated JSON message.
    private func readMessage(timeout: Duration) throws -> JSON {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.allSatisfy({ $0 == 0x0D || $0 == 0x20 }) { continue }
                return try JSON.decode(bytes: line)
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { throw Failure(description: "QMP read timed out") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let millis = Int32(min(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000, 60_000))
            let ready = poll(&poller, 1, max(millis, 1))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure(description: "QMP connection closed") }
            buffer += chunk[..<n]
        }
    }
}

/// A QEMU process started for a test with a QMP socket; killed when released if still running.
public final class TestQEMUProcess: @unchecked Sendable {
    public let process: Process
    public let qmp: RawQMPConnection

    /// Starts `qemu-system-x86_64 ARGS -qmp unix:SOCKET,server=on,wait=on` and connects.
    /// Pass `-S` in `arguments` so that no guest event can fire before capabilities are
    /// negotiated (QEMU drops events sent earlier); then `cont`.
    public init(arguments: [String], socketPath: String, log: URL) throws {
        let binary = try QEMU.binary()
        unlink(socketPath)
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments + ["-qmp", "unix:\(socketPath),server=on,wait=on"]
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        process.standardOutput = logHandle
        process.standardError = logHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // QEMU creates the socket when it listens; wait for that (or for QEMU to exit).
        let deadline = ContinuousClock.now + .seconds(20)
        while !FileManager.default.fileExists(atPath: socketPath) {
            guard process.isRunning else {
                throw RawQMPConnection.Failure(description: "QEMU exited with \(process.terminationStatus): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            }
            guard ContinuousClock.now < deadline else {
                process.terminate()
                throw RawQMPConnection.Failure(description: "QEMU never created \(socketPath)")
            }
            usleep(2000)
        }
        // QEMU binds (the file appears) just before it listens: a connect in between is
        // refused, so retry that one error while QEMU lives and the deadline holds.
        while true {
            do {
                qmp = try RawQMPConnection(socketPath: socketPath)
                break
            } catch let failure as RawQMPConnection.Failure where failure.description.contains("Connection refused")
                        && process.isRunning && ContinuousClock.now < deadline {
                usleep(2000)
            }
        }
    }

    /// `quit`, then wait for the process to end.
    public func quit() throws {
        _ = try? qmp.execute("quit")
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
