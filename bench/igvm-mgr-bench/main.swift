// igvm-mgr-bench: QMP client figures against a real QEMU, compared in the same run with
// a raw blocking socket loop and Python qemu.qmp (bench/qemu_qmp_bench.py).
//
//   swift run -c release igvm-mgr-bench [--rtt N] [--throughput N] [--in-flight N] [--qemu PATH]
//
// Not a test: it prints figures and the ratios against the goals of issue 3.
import Foundation
import JSON
import NIOCore
import NIOPosix
import QMP

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var rtt = 20_000
    var throughput = 10_000
    var inFlight = 32
    var qemu = "/usr/bin/qemu-system-x86_64"
    var python = "python3"
    /// Measurements alternate in this many rounds, so that load drifting over the run (this
    /// machine is shared) hits every contender alike.
    var rounds = 5
    /// Only the instant-peer comparison (the clients' own cost; no QEMU, quick).
    var instantOnly = false

    init(_ args: [String]) {
        var i = 0
        while i < args.count {
            let value = i + 1 < args.count ? args[i + 1] : ""
            switch args[i] {
            case "--rtt": rtt = Int(value) ?? rtt
            case "--throughput": throughput = Int(value) ?? throughput
            case "--in-flight": inFlight = Int(value) ?? inFlight
            case "--qemu": qemu = value
            case "--python": python = value
            case "--rounds": rounds = max(1, Int(value) ?? rounds)
            case "--instant-only": instantOnly = true; i -= 1
            default: FileHandle.standardError.write("unknown option \(args[i])\n".data(using: .utf8)!); exit(2)
            }
            i += 2
        }
    }
}

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

func clientLatency(_ qemu: some Peer, count: Int) async throws -> Latency {
    let qmp = try await connectClient(qemu)
    for _ in 0..<500 { _ = try await qmp.execute("query-status") }
    var samples: [Int64] = []
    samples.reserveCapacity(count)
    let clock = ContinuousClock()
    for _ in 0..<count {
        let start = clock.now
        _ = try await qmp.execute("query-status")
        samples.append(nanoseconds(clock.now - start))
    }
    await qmp.close()
    return Latency(samples)
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

/// The same measurements from code isolated to the connection's event loop (see
/// `QMPClient.execute`): no thread hop between the caller and the socket.
actor LoopPinned {
    let qmp: QMPClient
    nonisolated var unownedExecutor: UnownedSerialExecutor { qmp.eventLoop.executor.asUnownedSerialExecutor() }

    init(_ qmp: QMPClient) { self.qmp = qmp }

    func latency(count: Int) async throws -> Latency {
        precondition(qmp.eventLoop.inEventLoop, "the actor runs on the connection's event loop")
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

    /// `count` commands from `inFlight` workers, each sending its next command when its
    /// previous one is answered: `inFlight` commands in flight throughout.
    func worker(_ count: Int) async throws {
        for _ in 0..<count { _ = try await qmp.execute("query-status") }
    }
}

func pinnedFigures(_ qemu: some Peer, rtt: Int, count: Int, inFlight: Int) async throws -> (Latency, Double) {
    let qmp = try await connectClient(qemu)
    let pinned = LoopPinned(qmp)
    let latency = try await pinned.latency(count: rtt)
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for w in 0..<inFlight {
            let share = count / inFlight + (w < count % inFlight ? 1 : 0)
            group.addTask { try await pinned.worker(share) }
        }
        try await group.waitForAll()
    }
    let elapsed = Double(nanoseconds(clock.now - start)) / 1e9
    await qmp.close()
    return (latency, Double(count) / elapsed)
}

// MARK: raw blocking socket loop (the floor: no framing beyond CRLF, no JSON decoding)

func rawLatency(_ qemu: some Peer, count: Int) throws -> Latency {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, b) in qemu.socket.utf8.enumerated() { raw[i] = b }
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    precondition(connected == 0, "raw connect failed")
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    var pending = 0
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
    readMessage()  // greeting
    send(#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}"# + "\r\n")  // as the client negotiates
    readMessage()
    var samples: [Int64] = []
    samples.reserveCapacity(count)
    let clock = ContinuousClock()
    for i in 0..<(count + 500) {
        let start = clock.now
        send(#"{"execute":"query-status","id":"igvm-mgr#\#(i)"}"# + "\r\n")
        readMessage()
        if i >= 500 { samples.append(nanoseconds(clock.now - start)) }
    }
    return Latency(samples)
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

func pythonFigures(_ qemu: some Peer, options: Options) throws -> (Latency, Double) {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("qemu_qmp_bench.py").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [options.python, script, qemu.socket, "\(options.rtt)", "\(options.throughput)", "\(options.inFlight)"]
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
        listenFD = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in socket.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        precondition(bound == 0 && listen(listenFD, 4) == 0, "instant peer cannot listen")
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

// MARK: main

func f(_ x: Double) -> String { String(format: "%8.1f", x) }
func middle(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

let options = Options(Array(CommandLine.arguments.dropFirst()))
let rttPerRound = options.rtt / options.rounds, tpPerRound = options.throughput / options.rounds
let perRound = {
    var o = options
    o.rtt = rttPerRound
    o.throughput = tpPerRound
    return o
}()

/// Latency against `InstantPeer`: what each client itself costs per round trip.
@MainActor func instantSection() async throws {
    let instant = InstantPeer()
    defer { instant.stop() }
    var pinned: [Int64] = [], unpinned: [Int64] = [], raw: [Int64] = [], nioFloor: [Int64] = []
    var python: [Double] = []
    var pythonOptions = perRound
    pythonOptions.throughput = 32
    for _ in 0..<options.rounds {
        pinned += try await pinnedFigures(instant, rtt: rttPerRound, count: 32, inFlight: 32).0.samples
        raw += try rawLatency(instant, count: rttPerRound).samples
        nioFloor += try nioFloorLatency(instant, count: rttPerRound).samples
        unpinned += try await clientLatency(instant, count: rttPerRound).samples
        if !options.instantOnly { python.append(try pythonFigures(instant, options: pythonOptions).0.median) }
    }
    print("against an instant in-process peer (the clients' own cost), median / p99 µs")
    let ip = Latency(pinned), iu = Latency(unpinned), ir = Latency(raw)
    print("igvm-mgr QMPClient        \(f(ip.median))  \(f(ip.p99))   (on the event loop)")
    print("  from the global executor \(f(iu.median))  \(f(iu.p99))")
    print("raw blocking socket loop  \(f(ir.median))  \(f(ir.p99))")
    let nf = Latency(nioFloor)
    print("swift-nio floor            \(f(nf.median))  \(f(nf.p99))   (NIO socket + event loop, no JSON)")
    if !python.isEmpty { print("Python qemu.qmp           \(f(middle(python)))") }
    print("")
}

if options.instantOnly {
    try await instantSection()
    exit(0)
}

let qemu = try BenchQEMU(binary: options.qemu)
defer { qemu.stop() }

var pinnedSamples: [Int64] = [], unpinnedSamples: [Int64] = [], rawSamples: [Int64] = [], nioSamples: [Int64] = []
var pythonMedians: [Double] = [], pythonP99s: [Double] = []
var pinnedTPs: [Double] = [], unpinnedTPs: [Double] = [], pythonTPs: [Double] = []
for _ in 0..<options.rounds {
    let (pinned, pinnedTP) = try await pinnedFigures(qemu, rtt: rttPerRound, count: tpPerRound, inFlight: options.inFlight)
    pinnedSamples += pinned.samples
    pinnedTPs.append(pinnedTP)
    rawSamples += try rawLatency(qemu, count: rttPerRound).samples
    nioSamples += try nioFloorLatency(qemu, count: rttPerRound).samples
    let (python, pythonTP) = try pythonFigures(qemu, options: perRound)
    pythonMedians.append(python.median)
    pythonP99s.append(python.p99)
    pythonTPs.append(pythonTP)
    unpinnedSamples += try await clientLatency(qemu, count: rttPerRound).samples
    unpinnedTPs.append(try await clientThroughput(qemu, count: tpPerRound, inFlight: options.inFlight))
}

let client = Latency(pinnedSamples), unpinned = Latency(unpinnedSamples), raw = Latency(rawSamples)
// qemu.qmp reports per-round percentiles (its samples stay in Python): the median round's.
let python = Latency(medianNs: middle(pythonMedians) * 1000, p99Ns: middle(pythonP99s) * 1000)
let clientTP = middle(pinnedTPs), unpinnedTP = middle(unpinnedTPs), pythonTP = middle(pythonTPs)

print("query-status against \(options.qemu) (-machine none -S, TCG), \(options.rtt) sequential round trips each,")
print("in \(options.rounds) alternating rounds; throughput: the median round")
print("                         median µs   p99 µs")
print("igvm-mgr QMPClient        \(f(client.median))  \(f(client.p99))   (caller on the connection's event loop)")
print("  from the global executor \(f(unpinned.median))  \(f(unpinned.p99))   (default: two thread hops per command)")
print("raw blocking socket loop  \(f(raw.median))  \(f(raw.p99))")
let nio = Latency(nioSamples)
print("swift-nio floor            \(f(nio.median))  \(f(nio.p99))   (NIO socket + event loop, no JSON)")
print("Python qemu.qmp           \(f(python.median))  \(f(python.p99))")
print("")
print("throughput, \(options.throughput) query-status with \(options.inFlight) in flight")
print("igvm-mgr QMPClient        \(f(clientTP)) commands/s   (workers on the connection's event loop)")
print("  from the global executor \(f(unpinnedTP)) commands/s   (task group, default executor)")
print("Python qemu.qmp (gather)  \(f(pythonTP)) commands/s")
print("")
try await instantSection()
let vsRaw = client.median / raw.median
let vsPython = python.median / client.median
let tpRatio = clientTP / pythonTP
print(String(format: "median vs raw loop:   %.3f× (goal ≤ 1.05×) %@", vsRaw, vsRaw <= 1.05 ? "met" : "NOT met"))
print(String(format: "qemu.qmp / ours:      %.2f× faster (goal ≥ 1.8×) %@", vsPython, vsPython >= 1.8 ? "met" : "NOT met"))
print(String(format: "throughput vs qemu.qmp: %.2f× (goal ≥ 2×) %@", tpRatio, tpRatio >= 2 ? "met" : "NOT met"))
