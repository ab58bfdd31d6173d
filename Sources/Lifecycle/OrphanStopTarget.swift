import Supervisor
import VMState
#if canImport(Glibc)
import Glibc
#endif
import JSON
import QMP

/// A QEMU whose supervisor is gone, stopped from the CLI: its own QMP socket (QEMU still holds
/// the listening socket the supervisor gave it) for the polite steps, signals after. It is not
/// our child, so its exit is seen by watching its identity.
struct OrphanStopTarget: StopTarget {
    let qemu: ProcessIdentity
    let monitor: QMPClient?

    func perform(_ step: StopStep) async -> String? {
        switch step {
        case .acpi, .quit:
            guard let monitor else { return "QEMU's monitor cannot be reached" }
            do {
                _ = try await monitor.execute(step == .acpi ? "system_powerdown" : "quit", nil, timeout: StopProcedure.commandTimeout)
                return nil
            } catch {
                return qemu.isAlive ? "\(error)" : nil
            }
        case .sigterm: return signalProcess(qemu, SIGTERM)
        case .sigkill: return signalProcess(qemu, SIGKILL)
        case .alreadyExited, .other: return nil
        }
    }

    func waitForExit(timeout: Duration) async -> Bool {
        // Not our child: no waitpid, so its liveness is checked (every 20 ms) until the deadline.
        let deadline = ContinuousClock.now + timeout
        while qemu.isAlive {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}
