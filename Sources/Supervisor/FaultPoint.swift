#if canImport(Glibc)
import Glibc
#endif

/// Named points of the supervisor's start and stop where a test can make it die (`kill -9` of
/// itself), to show that every point leaves a VM that `list`, `stop --force` and `cleanup` can
/// act on. Only the supervisor reads the variable, and only the exact name of a point acts:
/// `IGVM_MGR_TEST_FAULT=pid-recorded`.
public enum FaultPoint: String, Sendable, CaseIterable {
    /// The supervisor runs and holds the lock; nothing is spawned yet.
    case beforeSpawn = "before-spawn"
    /// QEMU's process exists, held before exec; its pid is not on record yet.
    case gateSpawned = "gate-spawned"
    /// `state.json` names the held process; QEMU does not run yet.
    case pidRecorded = "pid-recorded"
    /// QEMU runs (with -S); its monitor is not connected yet.
    case qemuReleased = "qemu-released"
    /// QEMU's monitor and the control socket are up; `cont` was not sent yet.
    case monitorConnected = "monitor-connected"
    /// A stop was requested and recorded (`stopping`); no step was taken yet.
    case stopRequested = "stop-requested"
    /// The first stop step was sent to QEMU.
    case stopStepSent = "stop-step-sent"
    /// QEMU has exited; its exit is not recorded yet.
    case qemuExited = "qemu-exited"

    public static let variable = "IGVM_MGR_TEST_FAULT"

    public static let startPoints: [FaultPoint] = [.beforeSpawn, .gateSpawned, .pidRecorded, .qemuReleased, .monitorConnected]
    public static let stopPoints: [FaultPoint] = [.stopRequested, .stopStepSent, .qemuExited]

    /// The point this supervisor was told to die at, read once.
    private static let armed: FaultPoint? = getenv(variable).flatMap { FaultPoint(rawValue: String(cString: $0)) }

    /// Dies here (SIGKILL, no clean-up) when this is the armed point.
    public func reach() {
        if Self.armed == self { kill(getpid(), SIGKILL) }
    }
}
