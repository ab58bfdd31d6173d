import QMP
import VMState

/// How QEMU's run-state events move the VM's recorded phase while QEMU runs: a pure table
/// (tested as one), so that the supervisor only applies it.
public enum RunStatePhase {
    /// The phase after `event` in `phase`, or nil when the event does not change it. A `STOP`
    /// pauses a running VM, a `RESUME` runs a paused or starting one; `SHUTDOWN` and `RESET`
    /// leave the phase to the exit (or the reset flow) that follows; a stop in progress keeps
    /// `stopping` whatever QEMU reports on the way.
    public static func phase(after event: QMPRunStateEvent, in phase: VMPhase) -> VMPhase? {
        switch (event, phase) {
        case (.stop, .running): .paused
        case (.resume, .paused), (.resume, .starting): .running
        case (.stop, _), (.resume, _), (.shutdown, _), (.reset, _), (.powerdown, _), (.guestPanicked, _): nil
        }
    }
}
