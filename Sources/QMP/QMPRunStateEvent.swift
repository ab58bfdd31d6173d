/// The run-state events of QEMU's QMP schema (`qapi/run-state.json`) the manager acts on, so
/// that what it does about each is a switch the compiler checks; any other event keeps its name
/// (`QMPEvent.name`) and is only logged.
public enum QMPRunStateEvent: String, Sendable, CaseIterable {
    /// The guest or the host shut the VM down; under `-action shutdown=pause` (or
    /// `reboot=shutdown`) QEMU then pauses instead of exiting. Data: `guest`, `reason`.
    case shutdown = "SHUTDOWN"
    /// The VM was reset. Data: `guest`, `reason`.
    case reset = "RESET"
    /// The VM's CPUs stopped (`stop`, a pause action, an error).
    case stop = "STOP"
    /// The VM's CPUs run again (`cont`).
    case resume = "RESUME"
    /// ACPI power button pressed (`system_powerdown`).
    case powerdown = "POWERDOWN"
    /// A guest panicked. Data: `action`, `info`.
    case guestPanicked = "GUEST_PANICKED"
}

extension QMPEvent {
    /// The run-state event this is, or nil for any other event.
    public var runState: QMPRunStateEvent? { QMPRunStateEvent(rawValue: name) }
}
