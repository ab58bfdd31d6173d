import VMState
import Launch
import FileAccess
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// How hard to try: ACPI first, `quit` first, or straight to SIGKILL.
public enum StopMode: String, Sendable, CaseIterable {
    case acpi, quit, force
}

/// One step of the escalation; the one after which QEMU was seen gone "ended it".
public enum StopStep: String, Sendable {
    /// `system_powerdown`: the guest's OS shuts down (never happens for an `-S`/halted guest or
    /// one without ACPI, which is why the escalation continues).
    case acpi
    /// QMP `quit`: QEMU exits at once, the guest gets no say.
    case quit
    case sigterm
    case sigkill
    /// QEMU had exited before the first step.
    case alreadyExited = "already-exited"
    /// QEMU ended during the stop, but not by what the stop did (an outside `kill -9`).
    case other
}

/// What the stop procedure acts on: the supervisor's own child, or (when the supervisor is gone)
/// an orphaned QEMU reached through its QMP socket and its pid.
public protocol StopTarget: Sendable {
    /// Performs `step`; returns a reason when it could not be performed (monitor gone).
    func perform(_ step: StopStep) async -> String?
    /// Whether QEMU is gone, waiting up to `timeout`.
    func waitForExit(timeout: Duration) async -> Bool
}

/// The result of a stop.
public struct StopOutcome: Sendable, Equatable {
    public var step: StopStep
    /// Steps that were attempted, in order (with a note for those that could not be performed).
    public var attempted: [String]
    public var seconds: Double

    public init(step: StopStep, attempted: [String], seconds: Double) {
        self.step = step
        self.attempted = attempted
        self.seconds = seconds
    }

    public var json: JSON {
        ["step": .string(step.rawValue), "attempted": .array(attempted.map(JSON.string)), "seconds": .double((seconds * 1000).rounded() / 1000)]
    }
}

/// ACPI powerdown → wait → `quit` → wait → SIGTERM → wait → SIGKILL, reporting which step ended it.
public enum StopProcedure {
    /// How long a stop step's QMP command (`system_powerdown`, `quit`) may take to be answered.
    public static let commandTimeout: Duration = .seconds(5)
    /// How long QEMU gets to act on `quit` or SIGTERM after the polite step before it.
    public static let escalationWait: Duration = .seconds(5)
    /// How long the kernel gets to end a SIGKILLed QEMU (it may be in uninterruptible sleep).
    public static let killWait: Duration = .seconds(10)

    /// How long to wait after each step (the first step's wait is the caller's timeout).
    public static func steps(mode: StopMode, timeout: Duration) -> [(StopStep, Duration)] {
        switch mode {
        case .acpi: return [(.acpi, timeout), (.quit, escalationWait), (.sigterm, escalationWait), (.sigkill, killWait)]
        case .quit: return [(.quit, timeout), (.sigterm, escalationWait), (.sigkill, killWait)]
        case .force: return [(.sigkill, killWait)]
        }
    }

    /// Runs the escalation; `observe` hears each step as it starts (for the event log).
    public static func run(mode: StopMode, timeout: Duration, target: some StopTarget,
                           observe: @Sendable (StopStep) -> Void = { _ in }) async throws(LifecycleError) -> StopOutcome {
        let started = Timestamp.monotonic()
        if await target.waitForExit(timeout: .zero) {
            return StopOutcome(step: .alreadyExited, attempted: [], seconds: 0)
        }
        var attempted: [String] = []
        for (step, wait) in steps(mode: mode, timeout: timeout) {
            observe(step)
            if let problem = await target.perform(step) {
                attempted.append("\(step.rawValue) (not possible: \(problem))")
                continue
            }
            attempted.append(step.rawValue)
            if await target.waitForExit(timeout: wait) {
                return StopOutcome(step: step, attempted: attempted, seconds: Timestamp.monotonic() - started)
            }
        }
        throw .failed("QEMU did not exit after \(attempted.joined(separator: ", "))")
    }
}

/// Sends a signal to a process we know by identity (never to a recycled pid).
public func signalProcess(_ identity: ProcessIdentity, _ signal: Int32) -> String? {
    guard identity.isAlive else { return nil }
    if kill(identity.pid, signal) != 0 { return SystemError("cannot signal", "pid \(identity.pid)").description }
    return nil
}
