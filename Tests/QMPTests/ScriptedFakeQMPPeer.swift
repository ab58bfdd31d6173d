import Foundation
import JSON
import QMP
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A **fake** QMP server for the faults a real QEMU will not produce on demand (replies split
/// byte by byte, several messages in one write, garbage, silence, event floods, no greeting,
/// integers above Int64.max). It is not QEMU: it runs a test's script, step by step, on a
/// blocking socket on its own thread. Everything a real QEMU can show is tested against QEMU.
final class ScriptedFakeQMPPeer: @unchecked Sendable {
    /// The accepted connection, as the script sees it.
    final class Connection {
        let fd: Int32
        private var decoder = QMPFrameDecoder()

        init(fd: Int32) { self.fd = fd }

        /// Writes bytes in one `write` call.
        func send(_ text: String) { sendBytes(Array(text.utf8)) }

        func sendBytes(_ bytes: [UInt8]) {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }  // a signal for another test's child
                if n <= 0 { return }
                offset += n
            }
        }

        /// Writes each byte with its own `write` call.
        func sendByteByByte(_ text: String) {
            for byte in text.utf8 { sendBytes([byte]) }
        }

        /// QEMU 10.0.2's greeting (with `oob` offered unless told otherwise).
        func sendGreeting(oob: Bool = true) {
            send(#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "fake"}, "capabilities": [\#(oob ? "\"oob\"" : "")]}}"# + "\r\n")
        }

        /// Reads the next message the client sent (nil at end of file).
        func receive() -> JSON? {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                if let frame = try? decoder.nextFrame(), case .success(let json) = frame.decode() { return json }
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                // Tests run in parallel and spawn processes: a SIGCHLD handler (Foundation's
                // Process installs one) interrupts a blocking read, which is not the client's end.
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return nil }
                decoder.append(buffer[0..<n])
            }
        }

        /// Greeting, then answers `qmp_capabilities`.
        func negotiate(oob: Bool = true) {
            sendGreeting(oob: oob)
            guard let caps = receive() else { return }
            send(reply(to: caps, #"{}"#))
        }

        /// `{"return": RETURN, "id": <the command's id>}` + CRLF.
        func reply(to command: JSON, _ returnJSON: String) -> String {
            let id = command["id"].map { ", \"id\": \($0)" } ?? ""
            return #"{"return": \#(returnJSON)\#(id)}"# + "\r\n"
        }
    }

    let path: String
    private let listenFD: Int32
    private let finished = DispatchSemaphore(value: 0)

    /// Listens on a fresh socket and runs `script` on the first connection.
    init(_ script: @escaping @Sendable (Connection) -> Void) throws {
        let dir = try TestPaths.makeTemporaryDirectory("fakeqmp")
        path = dir.appendingPathComponent("fake.sock").path
        let (listening, code) = listenUnixSocket(path)
        guard listening >= 0 else { throw SetupFailure(reason: "fake peer cannot listen on \(path): errno \(code)") }
        listenFD = listening
        let fd = listenFD
        let done = finished
        Thread.detachNewThread {
            var connFD: Int32
            repeat { connFD = accept(fd, nil, nil) } while connFD < 0 && errno == EINTR
            if connFD >= 0 {
                script(Connection(fd: connFD))
                // Keep the connection open until the client closes it: a script that ends is
                // not a peer that hangs up (tests that want EOF close explicitly).
                var byte: UInt8 = 0
                while true {
                    let n = read(connFD, &byte, 1)
                    if n > 0 || (n < 0 && errno == EINTR) { continue }
                    break
                }
                close(connFD)
            }
            done.signal()
        }
    }

    deinit {
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
        unlink(path)
    }
}

struct SetupFailure: Error { var reason: String }
