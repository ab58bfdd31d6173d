import FirmwareUpdate
import Supervisor
import VMState
import Launch
/// What `state.json` must say after the CLI ended a VM without its supervisor's help (the
/// supervisor was gone, hung, or unreachable) — a pure function of the record found and of what
/// the CLI did, so that the phase `list` shows afterwards is the truth.
public enum StopRecord {
    /// The record to write, or nil when the one on disk is already true.
    ///
    /// - Parameters:
    ///   - state: the record as found after the supervisor is gone.
    ///   - endedBy: the stop step that ended QEMU, nil when no QEMU was alive to stop.
    ///   - reason: the exit reason to record (`stop`, `cleanup-supervisor-lost`, …).
    ///   - outputTail: QEMU's last lines.
    ///   - phase: the phase of a VM whose QEMU was ended here (`failed` when a start is undone).
    public static func settled(_ state: VMState, endedBy: StopStep?, reason: String, phase: VMPhase = .stopped, outputTail: [String] = [],
                               at: String = Timestamp.nowRFC3339()) -> VMState? {
        var next = state
        next.supervisor = nil
        next.qemu = nil
        if let step = endedBy {
            // The supervisor may have recorded the exit it saw (say "unexpected" for a SIGKILL it
            // did not send); its termination is exact, the reason is ours.
            let seenBySupervisor = state.qemu == nil ? state.lastExit?.termination : nil
            next.lastExit = ExitRecord(termination: seenBySupervisor ?? .unknown, reason: reason, stopStep: step.rawValue,
                                       outputTail: state.qemu == nil ? state.lastExit?.outputTail ?? outputTail : outputTail, at: at)
            next.phase = phase
            return next
        }
        // Nothing was alive: a record still saying "active" is a run that was lost (its
        // supervisor killed before or after QEMU, without recording an exit).
        guard state.phase.isActive else { return nil }
        if state.qemu != nil || state.phase != .starting {
            next.lastExit = ExitRecord(termination: .unknown, reason: "supervisor-lost", outputTail: outputTail, at: at)
            next.phase = .crashed
        } else {
            next.error = "the supervisor ended before QEMU was started"
            next.phase = .failed
        }
        return next
    }
}
