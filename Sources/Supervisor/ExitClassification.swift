import VMState
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// Why a QEMU run ended, decided from how it ended and what the supervisor was doing — a pure
/// function so that every combination is table-tested.
///
/// A stop step is credited only with the exit it can cause: `system_powerdown` and `quit` end
/// QEMU with status 0 after a `SHUTDOWN` of their own reason (QEMU's `qemu_system_shutdown_request`
/// with `SHUTDOWN_CAUSE_GUEST_SHUTDOWN` / `SHUTDOWN_CAUSE_HOST_QMP_QUIT`, softmmu/runstate.c),
/// SIGTERM ends it with status 0 (QEMU's own handler) or by the signal, SIGKILL by signal 9. An
/// exit the step cannot have caused — a `kill -9` from outside during the ACPI wait — is
/// `unexpected`, not "ended by acpi".
public struct ExitClassification: Sendable, Equatable {
    public var reason: String
    public var phase: VMPhase
    /// The stop step credited with the exit, if any.
    public var creditedStep: StopStep?

    public init(reason: String, phase: VMPhase, creditedStep: StopStep? = nil) {
        self.reason = reason
        self.phase = phase
        self.creditedStep = creditedStep
    }

    /// - Parameters:
    ///   - stepInProgress: the last stop step taken before QEMU exited (nil: no stop).
    ///   - shutdownReason: the `reason` of the run's last `SHUTDOWN` event, if one was seen;
    ///     `shutdownByGuest` its `guest` flag.
    ///   - relaunching: the exit was asked for by a relaunch.
    public static func classify(_ termination: ProcessTermination, stepInProgress: StopStep?, shutdownReason: String?,
                                shutdownByGuest: Bool, relaunching: Bool) -> ExitClassification {
        if relaunching { return ExitClassification(reason: "relaunch", phase: .stopped, creditedStep: stepInProgress) }
        if let step = stepInProgress {
            if stepCanCause(step, termination, shutdownReason: shutdownReason) {
                return ExitClassification(reason: "stop", phase: .stopped, creditedStep: step)
            }
            return ExitClassification(reason: "unexpected", phase: .crashed)
        }
        if termination == .exited(0), let shutdownReason {
            return ExitClassification(reason: shutdownByGuest ? "guest-shutdown" : shutdownReason, phase: .stopped)
        }
        return ExitClassification(reason: "unexpected", phase: .crashed)
    }

    /// Whether `step` can have ended QEMU this way. The `SHUTDOWN` event may still be on its
    /// way when the exit is seen, so a missing reason does not count against the step.
    static func stepCanCause(_ step: StopStep, _ termination: ProcessTermination, shutdownReason: String?) -> Bool {
        switch step {
        case .acpi:
            return termination == .exited(0) && (shutdownReason == nil || shutdownReason == "guest-shutdown")
        case .quit:
            return termination == .exited(0) && (shutdownReason == nil || shutdownReason == "host-qmp-quit")
        case .sigterm:
            return termination == .exited(0) || termination == .signaled(SIGTERM)
        case .sigkill:
            return termination == .signaled(SIGKILL)
        case .alreadyExited, .other:
            return false
        }
    }
}
