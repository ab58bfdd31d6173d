import QMP
import VMState

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's own child as a stop target: QMP for the polite steps, signals after.
struct ChildStopTarget: StopTarget {
    let supervisor: Supervisor
    let qemu: ProcessIdentity
    let exit: OnceValue<ProcessTermination>

    func perform(_ step: StopStep) async -> String? {
        // Recorded before the step acts, so the exit it causes is attributed to it.
        await supervisor.noteStopStep(step)
        defer { FaultPoint.stopStepSent.reach() }
        switch step {
        case .acpi, .quit:
            guard let monitor = await supervisor.monitorForStop() else { return "QEMU's monitor is not connected" }
            do {
                _ = try await monitor.execute(step == .acpi ? "system_powerdown" : "quit", nil, timeout: StopProcedure.commandTimeout)
                return nil
            } catch {
                // `quit` may lose its reply to QEMU exiting first: that is success.
                return exit.current != nil ? nil : "\(error)"
            }
        case .sigterm: return signalProcess(qemu, SIGTERM)
        case .sigkill: return signalProcess(qemu, SIGKILL)
        case .alreadyExited, .other: return nil
        }
    }

    func waitForExit(timeout: Duration) async -> Bool {
        await exit.wait(timeout: timeout) != nil
    }
}
