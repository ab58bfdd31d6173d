import JSON
import QMP
import VMState

/// What the supervisor knows about one QEMU run: the process, how it ended, its monitor, what
/// it printed, the last shutdown and the stop in progress. A relaunch starts a fresh value, so
/// nothing of the previous run can leak into the next one's records.
struct QEMURun {
    var qemu: ProcessIdentity?
    /// Set once, when `waitpid` reports the exit.
    let exit = OnceValue<ProcessTermination>()
    /// Set once `state.json` holds the run's exit record.
    let recorded = OnceValue<Bool>()
    var monitor: QMPClient?
    /// QEMU's output of this run (from where the log stood when it was spawned).
    var output = QEMUOutputLog(path: "", binary: "")
    /// The data of the last `SHUTDOWN` event (who asked and why).
    var lastShutdown: JSONObject?
    /// The stop step acting right now (an exit during it is attributed to it).
    var stopInProgress: StopStep?
    /// How the first stop of the run ended.
    var stopOutcome: StopOutcome?
}
