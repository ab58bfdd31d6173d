// The contenders igvm-mgr-bench compares: each a small type that measures itself one round at a
// time and keeps its figures, and the one round loop that runs them all.

/// Whom a contender measures against and what it does in one round: `rtt` round trips timed one
/// by one, then (the contenders that measure throughput) `throughput` commands with `inFlight`
/// in flight.
struct Target {
    var peer: any Peer
    var rtt: Int
    var throughput: Int
    var inFlight: Int
}

/// What a contender has measured so far.
struct Figures {
    /// Round trips timed one by one, in nanoseconds.
    var samples: [Int64] = []
    /// Commands per second, one figure per round.
    var throughputs: [Double] = []
    /// Per-round median and p99 in µs, from a contender whose samples stay in its own process.
    var medians: [Double] = [], p99s: [Double] = []
}

/// One party of the comparison.
protocol Contender: AnyObject {
    /// Its `--only` name.
    var name: Only { get }
    var figures: Figures { get }
    /// Commands it sends in one round, warm-ups included (`--only`'s CPU per command); nil when
    /// another process sends them.
    var commandsPerRound: Int? { get }
    /// Measures one round and adds its figures to `figures`.
    func round() async throws
}

/// The round loop every section uses: each contender once per round, in turn, so that load
/// drifting over the run (this machine is shared) hits every contender alike.
func runRounds(_ contenders: [any Contender], rounds: Int) async throws {
    for _ in 0..<rounds {
        for contender in contenders { try await contender.round() }
    }
}

/// igvm-mgr's `QMPClient` called from code on the connection's event loop (`pinnedFigures`).
final class PinnedClient: Contender {
    let name = Only.pinned, target: Target
    private(set) var figures = Figures()
    init(_ target: Target) { self.target = target }

    var commandsPerRound: Int? { 500 + target.rtt + target.throughput }

    func round() async throws {
        let (latency, throughput) = try await pinnedFigures(target.peer, rtt: target.rtt, count: target.throughput, inFlight: target.inFlight)
        figures.samples += latency.samples
        figures.throughputs.append(throughput)
    }
}

/// igvm-mgr's `QMPClient` called from the default global executor: the send hops to the loop and
/// the reply hops back. Its throughput too when `measuresThroughput` (against QEMU).
final class UnpinnedClient: Contender {
    let name = Only.unpinned, target: Target, measuresThroughput: Bool
    private(set) var figures = Figures()
    init(_ target: Target, throughput: Bool) { (self.target, measuresThroughput) = (target, throughput) }

    var commandsPerRound: Int? { 500 + target.rtt + (measuresThroughput ? 500 + target.throughput : 0) }

    func round() async throws {
        figures.samples += try await clientLatency(target.peer, count: target.rtt).samples
        guard measuresThroughput else { return }
        figures.throughputs.append(try await clientThroughput(target.peer, count: target.throughput, inFlight: target.inFlight))
    }
}

/// The raw blocking socket loop (the latency floor) and the same socket pipelined (the peer's
/// throughput ceiling).
final class RawSocket: Contender {
    let name = Only.raw, target: Target
    private(set) var figures = Figures()
    init(_ target: Target) { self.target = target }

    var commandsPerRound: Int? { 500 + target.rtt + 500 + target.throughput }

    func round() async throws {
        figures.samples += try rawLatency(target.peer, count: target.rtt).samples
        figures.throughputs.append(try rawThroughput(target.peer, count: target.throughput, inFlight: target.inFlight))
    }
}

/// The swift-nio floor: a bare channel handler, no JSON, no continuations.
final class NIOFloor: Contender {
    let name = Only.floor, target: Target
    private(set) var figures = Figures()
    init(_ target: Target) { self.target = target }

    var commandsPerRound: Int? { 500 + target.rtt }

    func round() async throws { figures.samples += try nioFloorLatency(target.peer, count: target.rtt).samples }
}

/// Python qemu.qmp (bench/qemu_qmp_bench.py), which reports per-round percentiles.
final class PythonQEMUQMP: Contender {
    let name = Only.python, target: Target, python: String
    private(set) var figures = Figures()
    init(_ target: Target, python: String) { (self.target, self.python) = (target, python) }

    var commandsPerRound: Int? { nil }  // sent by its own process

    func round() async throws {
        let (latency, throughput) = try pythonFigures(target.peer, python: python, rtt: target.rtt, count: target.throughput, inFlight: target.inFlight)
        figures.medians.append(latency.median)
        figures.p99s.append(latency.p99)
        figures.throughputs.append(throughput)
    }
}
