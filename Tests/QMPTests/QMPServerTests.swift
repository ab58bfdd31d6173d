import Foundation
import JSON
import NIOPosix
import QMP
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The server codec, driven by our client and by Python's `qemu.qmp` (PyPI).
@Suite struct QMPServerTests {
    static let greeting = QMPGreeting(major: 10, minor: 0, micro: 2, package: "igvm-mgr-test")

    /// A small control socket: query-status, echo, a failing command, an event on request.
    static func startServer() async throws -> QMPServer {
        let dir = try TestPaths.makeTemporaryDirectory("qmpserver")
        return try await QMPServer.listen(unixSocket: dir.appendingPathComponent("ctl.sock").path, greeting: greeting) {
            request in
            switch request.command.name {
            case "query-status": return ["status": "running", "running": true]
            case "echo": return .object(request.command.arguments ?? [:])
            case "fail": throw QMPCommandError(errorClass: "DeviceNotFound", desc: "Device 'x' not found")
            case "emit":
                request.connection.send(QMPEvent.now("READY", data: ["n": 1]))
                return [:]
            case "crash": throw CocoaError(.fileNoSuchFile)
            default: throw QMPCommandError.commandNotFound(request.command.name)
            }
        }
    }

    @Test func ourClientAgainstTheServer() async throws {
        let server = try await Self.startServer()
        let qmp = try await QMPClient.connect(unixSocket: server.path)
        #expect(qmp.greeting == Self.greeting)
        #expect(!qmp.outOfBandEnabled)
        #expect(try await qmp.queryStatus() == QMPRunStatus(status: "running", running: true))
        let big = JSON(UInt64.max)
        #expect(try await qmp.execute("echo", ["v": big, "s": "x"]) == ["v": big, "s": "x"])
        await #expect(throws: QMPCommandError(command: "fail", errorClass: "DeviceNotFound", desc: "Device 'x' not found", id: nil)) {
            do { _ = try await qmp.execute("fail") } catch var e as QMPCommandError {
                e.id = nil
                throw e
            }
        }
        await #expect { _ = try await qmp.execute("nope") } throws: { ($0 as? QMPCommandError)?.errorClass == "CommandNotFound" }
        await #expect { _ = try await qmp.execute("crash") } throws: { ($0 as? QMPCommandError)?.errorClass == "GenericError" }

        let events = qmp.events(named: "READY")
        _ = try await qmp.execute("emit")
        var it = events.makeAsyncIterator()
        #expect(try await it.next()?.data["n"] == 1)
        // Broadcast reaches every negotiated connection.
        let second = try await QMPClient.connect(unixSocket: server.path)
        let events2 = second.events()
        server.emit(QMPEvent.now("SHUTDOWN", data: ["guest": false, "reason": "host-qmp-quit"]))
        var it2 = events2.makeAsyncIterator()
        #expect(try await it2.next()?.name == "SHUTDOWN")

        // Many commands in flight at once: answered in order, all correct.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let back = try await qmp.execute("echo", ["i": JSON(i)])
                    #expect(back == ["i": JSON(i)])
                }
            }
            try await group.waitForAll()
        }
        await qmp.close()
        await second.close()
        await server.close()
    }

    @Test func pythonQemuQmpAgainstTheServer() async throws {
        let server = try await Self.startServer()
        let result = try await NIOThreadPool.singleton.runIfActive {
            try TestProcess.run("/usr/bin/env", ["python3", "-c", Self.pythonClient, server.path])
        }
        #expect(result.status == 0, "\(result.stderr)")
        let out = try JSON.decode(result.stdout)
        #expect(out["status"] == ["status": "running", "running": true])
        #expect(out["echo"]?["big"]?.uint64Value == UInt64.max)
        #expect(out["echo"]?["neg"] == -5)
        #expect(out["fail"] == ["DeviceNotFound", "Device 'x' not found"])
        #expect(out["nope"]?[0] == "CommandNotFound")
        #expect(out["event"] == ["READY", ["n": 1]])
        await server.close()
    }

    /// Python `qemu.qmp` (PyPI) as a user of the control socket would drive it.
    static let pythonClient = """
        import asyncio, json, sys
        from qemu.qmp import QMPClient, ExecuteError

        async def main():
            q = QMPClient('igvm-mgr-test')
            out = {}
            with q.listener(('READY',)) as listener:
                await q.connect(sys.argv[1])
                out['status'] = await q.execute('query-status')
                out['echo'] = await q.execute('echo', {'big': 18446744073709551615, 'neg': -5})
                for name in ('fail', 'nope'):
                    try:
                        await q.execute(name)
                    except ExecuteError as e:
                        out[name] = [e.error_class, e.error.error.desc]
                await q.execute('emit')
                event = await asyncio.wait_for(listener.get(), 10)
                out['event'] = [event['event'], event['data']]
            await q.disconnect()
            print(json.dumps(out))

        asyncio.run(main())
        """

    /// `QMPServerSession` on a bare byte stream (one end of a socketpair, served by a plain
    /// thread) and `QMPClient.connect(connectedSocket:)` on the other end.
    @Test func sessionOverASocketpairWithTheClientOnAConnectedSocket() async throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let serverFD = fds[1]
        let served = Thread {
            var session = QMPServerSession(greeting: Self.greeting)
            var decoder = QMPFrameDecoder()
            func send(_ message: JSON) {
                let bytes = try! QMPFrameEncoder.encode(message)
                _ = bytes.withUnsafeBytes { write(serverFD, $0.baseAddress, $0.count) }
            }
            send(session.greetingMessage)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(serverFD, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                decoder.append(buffer[0..<n])
                while let frame = try? decoder.nextFrame() {
                    switch session.receive(frame) {
                    case .reply(let message): send(message)
                    case .dispatch(let command):
                        send(QMPServerSession.reply(to: command, result: .success(.object(command.arguments ?? [:]))))
                    }
                }
            }
            close(serverFD)
        }
        served.start()
        let qmp = try await QMPClient.connect(connectedSocket: fds[0])
        #expect(qmp.greeting == Self.greeting)
        #expect(try await qmp.execute("echo", ["x": JSON(UInt64.max)]) == ["x": JSON(UInt64.max)])
        await qmp.close()
    }

    @Test func sessionAnswersProtocolErrorsLikeQEMU() throws {
        var session = QMPServerSession(greeting: Self.greeting)
        func send(_ text: String) -> QMPServerSession.Action {
            var d = QMPFrameDecoder()
            d.append(Array(text.utf8))
            return session.receive(try! d.nextFrame()!)
        }
        #expect(send(#"{"execute": "query-status", "id": 1}"#)
            == .reply(["error": ["class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"], "id": 1]))
        #expect(session.acceptsEvents == false)
        #expect(send(#"{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}"#)
            == .reply(["error": ["class": "GenericError", "desc": "Capability 'oob' not available"]]))
        #expect(send(#"{"execute": "qmp_capabilities"}"#) == .reply(["return": [:]]))
        #expect(session.acceptsEvents)
        #expect(send(#"{"execute": "qmp_capabilities", "id": "a"}"#)
            == .reply(["error": ["class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"], "id": "a"]))
        guard case .reply(let garbage) = send("nonsense\n") else { Issue.record("garbage dispatched"); return }
        #expect(garbage["id"] == nil)
        #expect(garbage["error"]?["class"] == "GenericError")
        #expect(send(#"{"arguments": {}}"#) == .reply(["error": ["class": "GenericError", "desc": "QMP input lacks member 'execute'"]]))
        #expect(send(#"{"execute": "x", "id": 7, "arguments": {"a": 1}}"#) == .dispatch(QMPCommand("x", arguments: ["a": 1], id: 7)))
    }
}
