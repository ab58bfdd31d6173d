import JSON
import QMP
import Testing

@Suite struct QMPFramingTests {
    static let stream = #"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, "capabilities": ["oob"]}}"# + "\r\n"
        + #"{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}"# + "\r\n"
        + #"{"return": {"s": "a } ] \" { brace in a string"}, "id": "x"}"#  // no delimiter: qemu.qmp sends none
        + #"[1,2]"# + "\r\n"

    /// Frames out of `stream` fed in chunks of `chunk` bytes.
    static func frames(_ text: String, chunk: Int) throws -> [QMPFrame] {
        var decoder = QMPFrameDecoder()
        var out: [QMPFrame] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            decoder.append(bytes[i..<min(i + chunk, bytes.count)])
            i += chunk
            while let f = try decoder.nextFrame() { out.append(f) }
        }
        return out
    }

    @Test("the same frames whatever the read sizes (byte by byte up to all at once)", arguments: [1, 2, 7, 64, 100_000])
    func chunking(chunk: Int) throws {
        let frames = try Self.frames(Self.stream, chunk: chunk)
        #expect(frames.count == 4)
        let messages = try frames.map { try $0.decode().get() }
        #expect(QMPGreeting(messages[0])?.capabilities == ["oob"])
        #expect(QMPEvent(messages[1])?.name == "STOP")
        #expect(messages[2]["return"]?["s"]?.stringValue == "a } ] \" { brace in a string")
        #expect(messages[3] == [1, 2])
    }

    @Test func garbageIsOneFrameUpToTheNewlineAndTheStreamGoesOn() throws {
        let frames = try Self.frames("hello world\r\n{\"return\": {}}\r\n", chunk: 3)
        #expect(frames.count == 2)
        guard case .garbage = frames[0] else { Issue.record("expected garbage, got \(frames[0])"); return }
        #expect(throws: QMPProtocolViolation.self) { try frames[0].decode().get() }
        #expect(try frames[1].decode().get() == ["return": [:]])
    }

    @Test func invalidJSONInsideBracketsFailsToDecode() throws {
        let frames = try Self.frames("{\"a\": tru}\r\n", chunk: 100)
        #expect(frames.count == 1)
        #expect(throws: QMPProtocolViolation.self) { try frames[0].decode().get() }
    }

    @Test func aMessageOverTheLimitIsAViolationButLargeOnesPass() throws {
        let big = "{\"return\": \"" + String(repeating: "x", count: 20 << 20) + "\"}\r\n"  // 20 MiB, above 16 MiB
        var decoder = QMPFrameDecoder()
        decoder.append(Array(big.utf8))
        let frame = try #require(try decoder.nextFrame())
        #expect(try frame.decode().get()["return"]?.stringValue?.count == 20 << 20)

        var small = QMPFrameDecoder(maximumMessageSize: 1000)
        small.append(Array(("{\"a\": \"" + String(repeating: "y", count: 2000)).utf8))
        #expect(throws: QMPProtocolViolation.self) { try small.nextFrame() }
    }

    @Test func uint64AboveInt64MaxSurvivesEncodeAndDecode() throws {
        let command = QMPCommand("qom-set", arguments: ["value": JSON(UInt64.max)], id: "1")
        let wire = try QMPFrameEncoder.encode(command.json)
        #expect(String(decoding: wire, as: UTF8.self).contains("18446744073709551615"))
        var decoder = QMPFrameDecoder()
        decoder.append(wire)
        let back = try #require(try decoder.nextFrame()).decode().get()
        #expect(back["arguments"]?["value"]?.uint64Value == UInt64.max)
    }

    @Test func serverMessagesAreClassified() throws {
        #expect(try QMPServerMessage(["return": 1, "id": "a"]) == .success(1, id: "a"))
        let e = try QMPServerMessage(["error": ["class": "CommandNotFound", "desc": "no"], "id": 3])
        #expect(e == .error(QMPCommandError(errorClass: "CommandNotFound", desc: "no", id: 3)))
        #expect(throws: QMPProtocolViolation.self) { try QMPServerMessage(["hello": 1]) }
        #expect(throws: QMPProtocolViolation.self) { try QMPServerMessage(["error": "x"]) }
        #expect(throws: QMPProtocolViolation.self) { try QMPServerMessage([1]) }
    }
}
