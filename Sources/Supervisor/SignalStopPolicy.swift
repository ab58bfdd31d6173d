import Launch
#if canImport(Glibc)
import Glibc
#endif
@preconcurrency import Dispatch
import Synchronization

/// What SIGTERM and SIGINT to the supervisor mean, as a service manager expects (systemd's
/// `KillMode=mixed` sends SIGTERM to the main process and waits `TimeoutStopSec`): the first
/// stops the VM with the usual escalation (ACPI powerdown → `quit` → SIGTERM → SIGKILL), any
/// later one forces it (SIGKILL at once). The supervisor records the stop and exits 0.
public enum SignalStopPolicy {
    public static let signals: [Int32] = [SIGTERM, SIGINT]

    /// The stop mode of the `count`-th termination signal (1-based).
    public static func mode(forSignalNumber count: Int) -> StopMode {
        count <= 1 ? .acpi : .force
    }
}

/// Catches SIGTERM and SIGINT from the first moment of the supervisor's life and hands each to
/// the supervisor once it exists (signals that came earlier are delivered then, in order).
public final class TerminationSignalSource: @unchecked Sendable {  // sources are set once, in init
    private struct Pending {
        var signals: [Int32] = []
        var handler: (@Sendable (Int32) -> Void)?
    }
    private final class Box: Sendable { let pending = Mutex(Pending()) }
    private let box = Box()
    private let sources: [any DispatchSourceSignal]

    public init() {
        var made: [any DispatchSourceSignal] = []
        let queue = DispatchQueue(label: "igvm-mgr.signals")
        for number in SignalStopPolicy.signals {
            signal(number, SIG_IGN)  // the default action would kill the supervisor and orphan QEMU
            made.append(DispatchSource.makeSignalSource(signal: number, queue: queue))
        }
        sources = made
        for (source, number) in zip(sources, SignalStopPolicy.signals) {
            source.setEventHandler { [box] in
                // A signal source coalesces repeats between two handler runs into one count.
                let count = max(1, Int(source.data))
                let handler = box.pending.withLock { p -> (@Sendable (Int32) -> Void)? in
                    if p.handler == nil { p.signals += Array(repeating: number, count: count) }
                    return p.handler
                }
                for _ in 0..<count { handler?(number) }
            }
            source.resume()
        }
    }

    /// From now on, signals go to `handler` (earlier ones first).
    public func deliver(to handler: @escaping @Sendable (Int32) -> Void) {
        let earlier = box.pending.withLock { p -> [Int32] in
            p.handler = handler
            defer { p.signals = [] }
            return p.signals
        }
        for number in earlier { handler(number) }
    }
}
