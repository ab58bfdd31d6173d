import JSON
import QMP
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults a real QEMU will not produce on demand, against `ScriptedFakeQMPPeer` (a fake).
@Suite struct QMPFakePeerTests {
    @Test func replySplitByteByByteAndEventsAroundNegotiation() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.send(#"{"event": "EARLY", "timestamp": {"seconds": 1, "microseconds": 0}}"# + "\r\n")  // before the greeting
            c.sendGreeting()
            guard let caps = c.receive() else { return }
            #expect(caps["arguments"]?["enable"] == ["oob"])
            c.send(#"{"event": "DURING", "timestamp": {"seconds": 2, "microseconds": 0}}"# + "\r\n")  // before the caps reply
            c.sendByteByByte(c.reply(to: caps, "{}"))
            guard let cmd = c.receive() else { return }
            c.sendByteByByte(c.reply(to: cmd, #"{"status": "prelaunch", "running": false}"#))
        }
        let client = try await QMPClient.connect(unixSocket: peer.path)
        #expect(client.outOfBandEnabled)
        #expect(client.eventsBeforeReady.map(\.name) == ["EARLY", "DURING"])
        let status = try await client.queryStatus()
        #expect(status == QMPRunStatus(status: "prelaunch", running: false))
        await client.close()
    }

    @Test func severalMessagesInOneReadAreRoutedByIdInAnyOrder() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.negotiate()
            guard let a = c.receive(), let b = c.receive() else { return }
            // b's reply first, an event in between, an unknown id, all in one write.
            c.send(
                c.reply(to: b, #""B""#) + #"{"event": "X", "timestamp": {"seconds": 0, "microseconds": 0}}"# + "\r\n"
                    + #"{"return": "stray", "id": "nobody"}"# + "\r\n" + c.reply(to: a, #""A""#))
        }
        let client = try await QMPClient.connect(unixSocket: peer.path)
        let events = client.events(named: "X")
        async let a = client.execute("a")
        async let b = client.execute("b")
        #expect(try await a == "A")
        #expect(try await b == "B")
        var it = events.makeAsyncIterator()
        #expect(try await it.next()?.name == "X")
        await client.close()
    }

    @Test func garbageFailsPendingCommandsWithTheViolationAsCause() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.negotiate()
            _ = c.receive()
            c.send("this is not json\r\n")
        }
        let client = try await QMPClient.connect(unixSocket: peer.path)
        do {
            _ = try await client.execute("query-status")
            Issue.record("expected an error")
        } catch QMPClientError.interrupted(let command, let cause) {
            #expect(command == "query-status")
            guard case .protocolViolation(let v) = cause else { Issue.record("cause \(cause)"); return }
            #expect(v.reason.contains("this is not json"))
        }
        #expect(client.disconnectCause != nil)
    }

    @Test func idLessErrorWithNothingIdLessPendingIsAProtocolFailure() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.negotiate()
            _ = c.receive()
            c.send(#"{"error": {"class": "GenericError", "desc": "JSON parse error"}}"# + "\r\n")
        }
        let client = try await QMPClient.connect(unixSocket: peer.path)
        await #expect {
            _ = try await client.execute("x")
        } throws: { error in
            guard case QMPClientError.interrupted(_, .protocolViolation(let v)) = error else { return false }
            return v.reason.contains("id-less error")
        }
    }

    @Test func aPeerThatNeverAnswersTimesOutAndTheClientStaysUsable() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.negotiate()
            guard let ignored = c.receive(), let second = c.receive() else { return }
            c.send(c.reply(to: ignored, #""late""#))  // after the timeout: dropped
            c.send(c.reply(to: second, #""ok""#))
        }
        let client = try await QMPClient.connect(unixSocket: peer.path)
        // The error names the 0.2 s timeout: the command ended by it (how promptly is the
        // benchmark's business; a wall-clock bound here measured the machine's load).
        await #expect(throws: QMPClientError.timedOut(command: "ignored", seconds: 0.2)) {
            _ = try await client.execute("ignored", timeout: .milliseconds(200))
        }
        #expect(try await client.execute("second") == "ok")
        await client.close()
    }

    @Test func cancellingTheTaskFailsTheCommandWithCancellationError() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.negotiate()
            _ = c.receive()
        }
        let client = try await QMPClient.connect(unixSocket: peer.path)
        let task = Task { try await client.execute("forever") }
        // Cancelled only once the command is pending: a cancel before it was sent would test the
        // early check of a cancelled task, not the cancellation of a command awaiting its reply.
        #expect(await eventually(timeout: .seconds(10)) { client.pendingCommandCount == 1 })
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        await client.close()
    }

    @Test func eventFloodBeyondTheBufferDropsTheOldest() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.negotiate()
            guard let cmd = c.receive() else { return }
            var flood = ""
            for i in 0..<100 {
                flood += #"{"event": "TICK", "data": {"n": \#(i)}, "timestamp": {"seconds": 0, "microseconds": 0}}"# + "\r\n"
            }
            c.send(flood + c.reply(to: cmd, "{}"))
        }
        let client = try await QMPClient.connect(unixSocket: peer.path)
        let small = client.events(named: "TICK", bufferSize: 8)
        let large = client.events(bufferSize: 1000)
        _ = try await client.execute("flood")  // its reply comes after all 100 events
        await client.close()
        var seen: [Int64] = []
        for try await e in small { seen.append(e.data["n"]?.int64Value ?? -1) }
        #expect(seen == Array(92..<100))
        #expect(small.droppedCount == 92)
        var all = 0
        for try await _ in large { all += 1 }
        #expect(all == 100)
        #expect(large.droppedCount == 0)
    }

    @Test func aGreetingThatNeverComesTimesOut() async throws {
        let peer = try ScriptedFakeQMPPeer { _ in }
        var config = QMPClient.Configuration()
        config.greetingTimeout = .milliseconds(300)
        await #expect(throws: QMPClientError.greetingTimedOut(seconds: 0.3)) {
            _ = try await QMPClient.connect(unixSocket: peer.path, configuration: config)
        }
    }

    @Test func uint64AboveInt64MaxInRepliesAndArguments() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.negotiate()
            guard let set = c.receive() else { return }
            // Echo the value back exactly as received on the wire.
            let value = set["arguments"]?["value"]
            c.send(c.reply(to: set, value?.description ?? "null"))
        }
        let client = try await QMPClient.connect(unixSocket: peer.path)
        let big = UInt64(Int64.max) + 12345
        let back = try await client.execute("echo", ["value": JSON(big)])
        #expect(back == .unsigned(big))
        await client.close()
    }

    @Test func peerHangingUpFailsPendingCommandsAsInterrupted() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.negotiate()
            _ = c.receive()
            _ = shutdown(c.fd, 2)
        }
        let client = try await QMPClient.connect(unixSocket: peer.path)
        let sub = client.events()
        await #expect(throws: QMPClientError.interrupted(command: "x", cause: .peerClosed)) {
            _ = try await client.execute("x")
        }
        await #expect(throws: QMPClientError.self) { for try await _ in sub {} }
        await #expect(throws: QMPClientError.notConnected(command: "y", cause: .peerClosed)) {
            _ = try await client.execute("y")
        }
    }
}

/// A peer that greets and then never answers `qmp_capabilities` (a supervisor frozen by SIGSTOP
/// right after its greeting): `connect` ends by the greeting timeout instead of waiting for ever.
/// (Fake peer: real QEMU cannot be stopped between its greeting and its answer on demand.)
@Suite struct QMPNegotiationTimeoutTests {
    @Test func aPeerThatGreetsButNeverNegotiatesTimesOut() async throws {
        let peer = try ScriptedFakeQMPPeer { c in
            c.sendGreeting()
            _ = c.receive()  // qmp_capabilities, never answered
            _ = c.receive()  // until the client gives up and closes
        }
        var configuration = QMPClient.Configuration()
        configuration.greetingTimeout = .milliseconds(300)
        await #expect {
            _ = try await QMPClient.connect(unixSocket: peer.path, configuration: configuration)
        } throws: { error in
            if case QMPClientError.negotiationFailed = error { return true } else { return false }
        }
    }
}
