// igvm-mgr-bench: QMP client figures against a real QEMU, compared in the same run with
// a raw blocking socket loop and Python qemu.qmp (bench/qemu_qmp_bench.py).
//
//   swift run -c release igvm-mgr-bench [--rtt N] [--throughput N] [--in-flight N] [--qemu PATH]
//
// Not a test: it prints figures and the ratios against the project's goals for the QMP client:
// median round trip ≤ 1.05× the raw socket loop's, ≥ 1.8× faster than qemu.qmp, and ≥ 2× qemu.qmp's
// throughput (bench/README.md).
import ArgumentParser
import CJansson
import Foundation
import JSON
import QMP

#if canImport(Glibc)
import Glibc
#endif

/// A contender's name for `--only`; `codec` is the client's turnaround steps without a socket.
enum Only: String, ExpressibleByArgument, CaseIterable {
    case pinned, unpinned, raw, floor, python, codec
}

@main
struct IGVMManagerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "igvm-mgr-bench",
        abstract: "QMP query-status round trips and throughput: igvm-mgr's client against a raw socket loop, a swift-nio floor and Python qemu.qmp.",
        discussion: "Not a test: prints figures and the ratios against the QMP client's goals (bench/README.md).")

    @Option(help: "Sequential round trips per contender, over all rounds.")
    var rtt = 20_000

    @Option(help: "Commands per contender in the throughput part, over all rounds.")
    var throughput = 10_000

    @Option(help: "Commands in flight in the throughput part.")
    var inFlight = 32

    @Option(help: "The QEMU binary.")
    var qemu = "/usr/bin/qemu-system-x86_64"

    @Option(help: "The Python that runs bench/qemu_qmp_bench.py (with qemu.qmp installed).")
    var python = "python3"

    @Option(help: "Measurements alternate in this many rounds, so that load drifting over the run (this machine is shared) hits every contender alike.")
    var rounds = 5

    @Flag(help: "Only the instant-peer comparison (the clients' own cost; no QEMU, quick).")
    var instantOnly = false

    @Option(help: "Profiling aid: run only this contender and print its CPU per command (codec: the client's turnaround steps without a socket).")
    var only: Only?

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard rtt >= rounds, throughput >= rounds else { throw ValidationError("--rtt and --throughput must be at least --rounds (each round measures its share)") }
        guard inFlight >= 1 else { throw ValidationError("--in-flight must be at least 1") }
    }

    /// Whether this run measures `contender`.
    func runs(_ contender: Only) -> Bool { only == nil || only == contender }

    /// One round's share of the work, against `peer`.
    func roundTarget(_ peer: any Peer) -> Target {
        Target(peer: peer, rtt: rtt / rounds, throughput: throughput / rounds, inFlight: inFlight)
    }

    func run() async throws {
        if only == .codec {
            try codecSection()
            return
        }
        if instantOnly {
            try await instantSection()
            return
        }
        try await qemuSection()
    }

    /// The contenders in the order each round runs them, less the ones this run leaves out.
    private func chosen(_ contenders: [any Contender]) -> [any Contender] { contenders.filter { runs($0.name) } }

    /// Against QEMU; then, for a whole run, the instant peer and the goals' ratios.
    private func qemuSection() async throws {
        let qemu = try BenchQEMU(binary: self.qemu)
        defer { qemu.stop() }
        // The raw loop and the floor connect without waiting: let our client wait for QEMU's socket
        // (inotify) once, whichever contender runs first.
        await (try connectClient(qemu)).close()

        let target = roundTarget(qemu)
        let pinned = PinnedClient(target), raw = RawSocket(target), floor = NIOFloor(target)
        let python = PythonQEMUQMP(target, python: self.python), unpinned = UnpinnedClient(target, throughput: true)
        let contenders = chosen([pinned, raw, floor, python, unpinned])
        try await runRounds(contenders, rounds: rounds)

        print("query-status against \(self.qemu) (-machine none -S, TCG), \(rtt) sequential round trips each,")
        print("in \(rounds) alternating rounds; throughput: the median round")
        print("                         median µs   p99 µs")
        printLatency("igvm-mgr QMPClient", pinned.figures.samples, "   (caller on the connection's event loop)")
        printLatency("  from the global executor", unpinned.figures.samples, "   (default: two thread hops per command)")
        printLatency("raw blocking socket loop", raw.figures.samples)
        printLatency("swift-nio floor", floor.figures.samples, "   (NIO socket + event loop, no JSON)")
        // qemu.qmp reports per-round percentiles (its samples stay in Python): the median round's.
        if !python.figures.medians.isEmpty { print("Python qemu.qmp           \(f(middle(python.figures.medians)))  \(f(middle(python.figures.p99s)))") }
        print("")
        print("throughput, \(throughput) query-status with \(inFlight) in flight")
        if !pinned.figures.throughputs.isEmpty { print("igvm-mgr QMPClient        \(f(middle(pinned.figures.throughputs))) commands/s   (workers on the connection's event loop)") }
        if !unpinned.figures.throughputs.isEmpty { print("  from the global executor \(f(middle(unpinned.figures.throughputs))) commands/s   (task group, default executor)") }
        if !python.figures.throughputs.isEmpty { print("Python qemu.qmp (gather)  \(f(middle(python.figures.throughputs))) commands/s") }
        if !raw.figures.throughputs.isEmpty { print("raw pipelined socket      \(f(middle(raw.figures.throughputs))) commands/s   (QEMU's ceiling: next command sent as each reply lands)") }
        print("")
        if only != nil {
            // The contender's own CPU (this process only; QEMU is a child not yet reaped).
            if let perRound = contenders.first?.commandsPerRound { printCPUPerCommand(commands: Double(rounds * perRound)) }
            return
        }
        let client = Latency(pinned.figures.samples), rawLatency = Latency(raw.figures.samples)
        let pythonMedian = middle(python.figures.medians)
        let clientTP = middle(pinned.figures.throughputs), pythonTP = middle(python.figures.throughputs)
        try await instantSection()
        let vsRaw = client.median / rawLatency.median
        let vsPython = pythonMedian / client.median
        let tpRatio = clientTP / pythonTP
        print(String(format: "median vs raw loop:   %.3f× (goal ≤ 1.05×) %@", vsRaw, vsRaw <= 1.05 ? "met" : "NOT met"))
        print(String(format: "qemu.qmp / ours:      %.2f× faster (goal ≥ 1.8×) %@", vsPython, vsPython >= 1.8 ? "met" : "NOT met"))
        print(String(format: "throughput vs qemu.qmp: %.2f× (goal ≥ 2×) %@", tpRatio, tpRatio >= 2 ? "met" : "NOT met"))
        // What the goals would need from any client against this QEMU: the raw loop and QEMU's own
        // throughput ceiling bound every contender.
        let rawTP = middle(raw.figures.throughputs)
        print(String(format: "bounds: qemu.qmp / raw loop %.2f× (a client at the raw floor); ceiling / qemu.qmp %.2f× throughput",
            pythonMedian / rawLatency.median, rawTP / pythonTP))
    }

    /// Latency against `InstantPeer`: what each client itself costs per round trip.
    private func instantSection() async throws {
        let instant = InstantPeer()
        defer { instant.stop() }
        let target = roundTarget(instant)
        let pinned = PinnedClient(target), raw = RawSocket(target), floor = NIOFloor(target)
        let unpinned = UnpinnedClient(target, throughput: false)
        let python = PythonQEMUQMP(target, python: self.python)
        // `--instant-only` is the quick mode: Python only when asked for by name.
        let withPython = !instantOnly || only == .python
        try await runRounds(chosen([pinned, raw, floor, unpinned] + (withPython ? [python] : [])), rounds: rounds)

        print("against an instant in-process peer (the clients' own cost), median / p99 µs")
        printLatency("igvm-mgr QMPClient", pinned.figures.samples, "   (on the event loop)")
        printLatency("  from the global executor", unpinned.figures.samples)
        printLatency("raw blocking socket loop", raw.figures.samples)
        printLatency("swift-nio floor", floor.figures.samples, "   (NIO socket + event loop, no JSON)")
        if !python.figures.medians.isEmpty { print("Python qemu.qmp           \(f(middle(python.figures.medians)))") }
        if !pinned.figures.throughputs.isEmpty { print("throughput, \(inFlight) in flight: igvm-mgr \(f(middle(pinned.figures.throughputs))) commands/s") }
        if !python.figures.throughputs.isEmpty { print("                          qemu.qmp \(f(middle(python.figures.throughputs))) commands/s") }
        if !raw.figures.throughputs.isEmpty { print("                          raw pipelined \(f(middle(raw.figures.throughputs))) commands/s") }
        if !pinned.figures.samples.isEmpty, !python.figures.medians.isEmpty, !pinned.figures.throughputs.isEmpty, !python.figures.throughputs.isEmpty {
            print(String(format: "client's own cost: qemu.qmp / ours %.2f× latency, ours / qemu.qmp %.2f× throughput",
                middle(python.figures.medians) / Latency(pinned.figures.samples).median, middle(pinned.figures.throughputs) / middle(python.figures.throughputs)))
        }
        print("")
    }
}

func f(_ x: Double) -> String { String(format: "%8.1f", x) }
func middle(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
func printLatency(_ name: String, _ samples: [Int64], _ remark: String = "") {
    guard !samples.isEmpty else { return }
    let l = Latency(samples)
    print("\(name.padding(toLength: 26, withPad: " ", startingAt: 0))\(f(l.median))  \(f(l.p99))\(remark)")
}

/// This process's CPU (all its threads) over `commands` commands.
func printCPUPerCommand(commands: Double) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let seconds = { (t: timeval) in Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    print(String(format: "this process's CPU per command: user %.1f µs, system %.1f µs (all its threads)",
        seconds(usage.ru_utime) / commands * 1e6, seconds(usage.ru_stime) / commands * 1e6))
}

/// The client's turnaround, step by step, without any socket: what one `query-status` costs
/// in framing, JSON (jansson) and message parsing.
func codecSection() throws {
    let reply = Array(#"{"return": {"status": "prelaunch", "singlestep": false, "running": false}, "id": "igvm-mgr#12345"}"#.utf8) + [13, 10]
    let n = 200_000
    func time(_ name: String, _ body: () throws -> Void) rethrows {
        for _ in 0..<1000 { try body() }
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<n { try body() }
        print("\(name.padding(toLength: 34, withPad: " ", startingAt: 0))\(f(Double(nanoseconds(clock.now - start)) / Double(n))) ns")
    }
    try time("frame (decoder append + nextFrame)") {
        var decoder = QMPFrameDecoder()
        decoder.append(reply)
        _ = try decoder.nextFrame()
    }
    try time("JSON.decode (jansson)") { _ = try JSON.decode(bytes: reply) }
    time("  of which json_loadb + decref") {
        reply.withUnsafeBytes { p in
            var e = json_error_t()
            let r = json_loadb(p.baseAddress?.assumingMemoryBound(to: CChar.self), p.count, 0, &e)
            cjansson_decref(r)
        }
    }
    let value = try JSON.decode(bytes: reply)
    try time("QMPServerMessage(json)") { _ = try QMPServerMessage(value) }
    try time("command encode (jansson)") {
        _ = try QMPFrameEncoder.encode(QMPCommand("query-status", arguments: nil, id: .string("igvm-mgr#12345"), outOfBand: false).json)
    }
}
