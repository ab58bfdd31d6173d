import VMState
import Launch
import JSON
import QMP

/// Decides what the supervisor does about QEMU's events. Every QMP event is logged first and
/// then handed here; `SHUTDOWN` and `RESET` are where the reset flows plug in (the vmfwupdate
/// flow reads the guest's update request on `SHUTDOWN {reason: guest-reset}` and relaunches).
public protocol VMEventPolicy: Sendable {
    /// Called for every QMP event, in order, after it has been written to the event log.
    func handle(event: QMPEvent, supervisor: any SupervisorControl) async
}

/// What an event policy may do to the supervised VM.
public protocol SupervisorControl: Sendable {
    /// The VM's state folder.
    var paths: VMPaths { get }
    /// The launch the current QEMU was started from.
    func currentLaunch() async -> QEMULaunch
    /// Runs a QMP command on QEMU's monitor.
    func execute(_ command: String, arguments: JSONObject?) async throws -> JSON
    /// Appends a lifecycle record to the event log (`source: igvm-mgr`).
    func record(event: String, data: JSON) async
    /// Ends the current QEMU (`quit`, then SIGKILL) and launches `launch` in its place, under the
    /// same supervisor, lock and control socket. Returns once the old QEMU is gone; the new one
    /// starts as the supervisor's next run.
    func relaunch(_ launch: QEMULaunch) async throws(LifecycleError)
    /// Changes the VM's state record (a policy's own part of it, e.g. `vmfwupdate`) and writes
    /// `state.json` whole.
    func updateState(_ change: @Sendable (inout VMState) -> Void) async
}

/// The policy of a plan without a reset flow: QEMU's own behaviour stands (a guest power-off
/// ends the run, a reset reboots in place); nothing beyond the logging every event gets.
public struct PlainEventPolicy: VMEventPolicy {
    public init() {}
    public func handle(event: QMPEvent, supervisor: any SupervisorControl) async {}
}

