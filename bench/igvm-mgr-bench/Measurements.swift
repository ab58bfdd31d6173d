// The measurements igvm-mgr-bench makes: each contender's round trips and throughput against a
// QMP peer (QEMU or `InstantPeer`), and the peers themselves. Bench.swift runs them in rounds.
import Foundation
import JSON
import NIOCore
import NIOPosix
import TestSupport
import QMP

#if canImport(Glibc)
import Glibc
#endif

struct Latency {
    var median: Double  // microseconds
    var p99: Double
    var samples: [Int64] = []

    init(_ samples: [Int64]) {
        self.samples = samples
        let sorted = samples.sorted()
        median = Double(sorted[sorted.count / 2]) / 1000
        p99 = Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) / 1000
    }

    init(medianNs: Double, p99Ns: Double) {
        median = medianNs / 1000
        p99 = p99Ns / 1000
    }
}

func nanoseconds(_ d: Duration) -> Int64 {
    let (s, a) = d.components
    return s * 1_000_000_000 + a / 1_000_000_000
}

/// QEMU with one QMP server socket; every measurement connects to it in turn.
protocol Peer { var socket: String { get } }

final class BenchQEMU: Peer {
    let process = Process()
    let socket: String
    let directory: String

    init(binary: String) throws {
        directory = NSTemporaryDirectory() + "/igvm-mgr-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/qmp.sock"
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
            "-qmp", "unix:\(socket),server=on,wait=off",
        ]
        try process.run()
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

// MARK: igvm-mgr's client

func connectClient(_ qemu: some Peer) async throws -> QMPClient {
    var configuration = QMPClient.Configuration()
    configuration.waitForSocket = .seconds(30)
    return try await QMPClient.connect(unixSocket: qemu.socket, configuration: configuration)
}

/// 500 untimed `query-status` round trips (warm-up), then `count` timed one by one. Inlined, so
/// that the caller's executor (pinned or not) is the one that runs them.
@inline(__always)
func timedQueryStatus(_ qmp: QMPClient, count: Int) async throws -> Latency {
    for _ in 0..<500 { _ = try await qmp.execute("query-status") }
    var samples: [Int64] = []
    samples.reserveCapacity(count)
    let clock = ContinuousClock()
    for _ in 0..<count {
        let start = clock.now
        _ = try await qmp.execute("query-status")
        samples.append(nanoseconds(clock.now - start))
    }
    return Latency(samples)
}

func clientLatency(_ qemu: some Peer, count: Int) async throws -> Latency {
    let qmp = try await connectClient(qemu)
    let latency = try await timedQueryStatus(qmp, count: count)
    await qmp.close()
    return latency
}

func clientThroughput(_ qemu: some Peer, count: Int, inFlight: Int) async throws -> Double {
    let qmp = try await connectClient(qemu)
    for _ in 0..<500 { _ = try await qmp.execute("query-status") }
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        var started = 0
        while started < min(inFlight, count) {
            group.addTask { _ = try await qmp.execute("query-status") }
            started += 1
        }
        while try await group.next() != nil {
            if started < count {
                group.addTask { _ = try await qmp.execute("query-status") }
                started += 1
            }
        }
    }
    let elapsed = Double(nanoseconds(clock.now - start)) / 1e9
    await qmp.close()
    return Double(count) / elapsed
}

/// The same measurements from code that runs on the connection's event loop: nonisolated code
/// inside `withTaskExecutorPreference(qmp.taskExecutor)` (child tasks inherit the preference).
/// No thread hop between the caller and the socket (see `QMPClient.execute`).
nonisolated func pinnedFigures(_ qemu: some Peer, rtt: Int, count: Int, inFlight: Int) async throws -> (Latency, Double) {
    let qmp = try await connectClient(qemu)
    let latency = try await withTaskExecutorPreference(qmp.taskExecutor) {
        precondition(qmp.eventLoop.inEventLoop, "the caller runs on the connection's event loop")
        return try await timedQueryStatus(qmp, count: rtt)
    }
    let clock = ContinuousClock()
    let start = clock.now
    try await withTaskExecutorPreference(qmp.taskExecutor) {
        try await withThrowingTaskGroup(of: Void.self) { group in
            // `inFlight` workers, each sending its next command when its previous one is
            // answered: `inFlight` commands in flight throughout.
            for w in 0..<inFlight {
                let share = count / inFlight + (w < count % inFlight ? 1 : 0)
                group.addTask { for _ in 0..<share { _ = try await qmp.execute("query-status") } }
            }
            try await group.waitForAll()
        }
    }
    let elapsed = Double(nanoseconds(clock.now - start)) / 1e9
    await qmp.close()
    return (latency, Double(count) / elapsed)
}

// MARK: raw blocking socket loop (the floor: no framing beyond CRLF, no JSON decoding)

/// The raw loop's connection: blocking, nothing but CRLF framing, no JSON. No client can beat it.
final class BareQMPSocket {
    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var pending = 0

    /// Connects, reads the greeting and negotiates as our client does.
    init(_ qemu: some Peer) {
        let (connected, code) = connectUnixSocket(qemu.socket)
        precondition(connected >= 0, "raw connect failed: errno \(code)")
        fd = connected
        readMessage()  // greeting
        send(#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}"# + "\r\n")
        readMessage()
    }

    deinit { close(fd) }

    /// Reads until one CRLF-terminated message is complete.
    func readMessage() {
        while true {
            if let end = buffer[0..<pending].firstIndex(of: 0x0A) {
                let rest = pending - (end + 1)
                if rest > 0 { buffer.replaceSubrange(0..<rest, with: buffer[(end + 1)..<pending]) }
                pending = rest
                return
            }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + pending, $0.count - pending) }
            precondition(n > 0, "raw read failed")
            pending += n
        }
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        precondition(n == bytes.count)
    }

    func sendQueryStatus(_ i: Int) { send(#"{"execute":"query-status","id":"igvm-mgr#\#(i)"}"# + "\r\n") }
}

func rawLatency(_ qemu: some Peer, count: Int) throws -> Latency {
    let connection = BareQMPSocket(qemu)
    var samples: [Int64] = []
    samples.reserveCapacity(count)
    let clock = ContinuousClock()
    for i in 0..<(count + 500) {
        let start = clock.now
        connection.sendQueryStatus(i)
        connection.readMessage()
        if i >= 500 { samples.append(nanoseconds(clock.now - start)) }
    }
    return Latency(samples)
}

/// QEMU's own ceiling for `count` commands with `inFlight` in flight: the raw connection sends
/// the next command the moment a reply's line is complete (replies come back in order: QEMU runs
/// in-band commands one at a time). No client can go faster than this against the same QEMU.
func rawThroughput(_ qemu: some Peer, count: Int, inFlight: Int) throws -> Double {
    let connection = BareQMPSocket(qemu)
    for i in 0..<500 { connection.sendQueryStatus(i); connection.readMessage() }
    let clock = ContinuousClock()
    let start = clock.now
    var sent = 0
    while sent < min(inFlight, count) { connection.sendQueryStatus(sent); sent += 1 }
    for _ in 0..<count {
        connection.readMessage()
        if sent < count { connection.sendQueryStatus(sent); sent += 1 }
    }
    return Double(count) / (Double(nanoseconds(clock.now - start)) / 1e9)
}

// MARK: the swift-nio floor (NIO's own event loop and socket, no JSON, no continuations)

/// Sends `query-status` as soon as the previous reply's line is complete, from the channel
/// handler itself: what a NIO-based client cannot go below, to set our client's figure against.
final class NIOFloorHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let count: Int
    private let done: EventLoopPromise<[Int64]>
    private var lines = 0, samples: [Int64] = [], sentAt = ContinuousClock.now
    private static let negotiate = Array(#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}"#.utf8) + [13, 10]
    /// With an id, as the raw loop and our client send it.
    private static let query = Array(#"{"execute":"query-status","id":"nio-floor"}"#.utf8) + [13, 10]

    init(count: Int, done: EventLoopPromise<[Int64]>) { self.count = count; self.done = done }

    private func send(_ bytes: [UInt8], _ context: ChannelHandlerContext) {
        sentAt = ContinuousClock.now
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        for byte in buffer.readableBytesView where byte == 0x0A {
            lines += 1
            switch lines {
            case 1: send(Self.negotiate, context)  // the greeting
            case 2: send(Self.query, context)      // negotiated
            default:
                samples.append(nanoseconds(ContinuousClock.now - sentAt))
                if samples.count == count { done.succeed(samples); context.close(promise: nil) } else { send(Self.query, context) }
            }
        }
    }
}

func nioFloorLatency(_ qemu: some Peer, count: Int) throws -> Latency {
    let group = MultiThreadedEventLoopGroup.singleton
    let done = group.next().makePromise(of: [Int64].self)
    _ = try ClientBootstrap(group: group)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(NIOFloorHandler(count: count + 500, done: done)) }
        }
        .connect(unixDomainSocketPath: qemu.socket).wait()
    return Latency(Array(try done.futureResult.wait().dropFirst(500)))
}

// MARK: Python qemu.qmp

func pythonFigures(_ qemu: some Peer, python: String, rtt: Int, count: Int, inFlight: Int) throws -> (Latency, Double) {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("qemu_qmp_bench.py").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python, script, qemu.socket, "\(rtt)", "\(count)", "\(inFlight)"]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0, let json = try? JSON.decode(bytes: Array(data)),
        let median = json["median_ns"]?.doubleValue, let p99 = json["p99_ns"]?.doubleValue,
        let throughput = json["throughput"]?.doubleValue
    else {
        fatalError("qemu.qmp benchmark failed (status \(process.terminationStatus)): \(String(decoding: data, as: UTF8.self))")
    }
    return (Latency(medianNs: median, p99Ns: p99), throughput)
}

// MARK: an instant peer (isolates the client's own cost from QEMU's)

/// A QMP server that answers every command at once with a fixed query-status reply, on its own
/// thread with blocking I/O. Against it, the difference between contenders is the clients' own
/// cost; against QEMU, QEMU's ~150+ µs per command dominates every figure.
final class InstantPeer: Peer, @unchecked Sendable {
    let socket: String
    private let listenFD: Int32

    init() {
        socket = NSTemporaryDirectory() + "/igvm-mgr-bench-peer-\(getpid()).sock"
        unlink(socket)
        let (listening, code) = listenUnixSocket(socket)
        precondition(listening >= 0, "instant peer cannot listen: errno \(code)")
        listenFD = listening
        let fd = listenFD
        Thread.detachNewThread {
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 { return }
                Self.serve(connection)
            }
        }
    }

    private static func serve(_ fd: Int32) {
        defer { close(fd) }
        func send(_ message: JSON) {
            let bytes = try! QMPFrameEncoder.encode(message)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
        send(QMPGreeting(major: 10, minor: 0, micro: 2, capabilities: ["oob"]).json)
        var decoder = QMPFrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let status: JSON = ["status": "prelaunch", "running": false]
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            decoder.append(buffer[0..<n])
            var replies: [UInt8] = []
            while let frame = try? decoder.nextFrame(), case .success(let command) = frame.decode() {
                var reply: JSONObject = ["return": command["execute"] == "qmp_capabilities" ? [:] : status]
                if let id = command["id"] { reply["id"] = id }
                replies += try! QMPFrameEncoder.encode(.object(reply))
            }
            _ = replies.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
    }

    func stop() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
        unlink(socket)
    }
}
