import Foundation
import JSON
import Launch
import VMState
import Supervisor
import FirmwareUpdate
import Lifecycle
import TestSupport

/// A private state directory with short paths (Unix socket paths are limited to 107 bytes) and
/// helpers to start real QEMU (TCG) VMs in it. `tearDown` kills whatever is left.
struct LifecycleSandbox {
    let directory: StateDirectory
    let lifecycle: Lifecycle

    init() throws {
        let path = "/tmp/im-" + UUID().uuidString.prefix(8).lowercased()
        directory = StateDirectory(path: path)
        lifecycle = Lifecycle(stateDirectory: directory)
    }

    /// A small TCG guest: q35, 64 MiB, no devices, no display (SeaBIOS finds nothing to boot).
    func launch(_ name: String, extra: [String] = [], paused: Bool = false, confidentialType: String? = nil) throws -> QEMULaunch {
        QEMULaunch(
            name: name, binary: try QEMU.binary(),
            arguments: ["-machine", "q35", "-accel", "tcg", "-m", "64M", "-nodefaults", "-no-user-config", "-display", "none"] + extra,
            requirements: HostRequirements(accelerator: "tcg", confidentialType: confidentialType),
            startPaused: paused)
    }

    /// Starts `launch`; `fault` arms a `FaultPoint` in the supervisor (it kills itself there).
    func start(_ launch: QEMULaunch, wait: StartWait = .running, timeout: Duration = .seconds(30), fault: FaultPoint? = nil,
               signalStopTimeout: Duration? = nil) async throws -> StartResult {
        var procedure = StartProcedure(stateDirectory: directory, supervisorExecutable: try IGVMManagerBinary.path())
        procedure.supervisorEnvironment = fault.map { ["\(FaultPoint.variable)=\($0.rawValue)"] } ?? []
        procedure.signalStopTimeout = signalStopTimeout
        return try await procedure.start(launch, definitionText: nil, wait: wait, timeout: timeout)
    }

    /// Live processes whose stdout is `log` (QEMU writes to `qemu.log`, the supervisor to
    /// `supervisor.log`): what runs for a VM whatever its record says.
    func processes(writingTo log: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter { pid in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1") else { return false }
            return target == log && ProcessIdentity.of(pid: pid)?.isAlive == true
        }
    }

    /// Waits (up to `timeout` s) until the VM's event log holds `event` (with `data` matching,
    /// when given); returns the record.
    func waitForEvent(_ name: String, _ event: String, timeout: Double = 30, where matches: (JSON) -> Bool = { _ in true }) async throws -> JSON? {
        let log = try paths(name).eventLog
        return await eventually(timeout: .seconds(timeout)) {
            EventLog.read(log).first { $0["event"]?.stringValue == event && matches($0) }
        }
    }

    func paths(_ name: String) throws -> VMPaths { try directory.vm(name) }

    func state(_ name: String) throws -> VMState? { try VMState.read(paths(name).state) }

    /// Waits (up to `timeout` s) until the VM's supervisor has exited, i.e. its lock is free.
    func waitForSupervisorExit(_ name: String, timeout: Double = 20) async throws -> Bool {
        let lock = try paths(name).lock
        return await eventually(timeout: .seconds(timeout)) { !VMLock.isHeld(lock) }
    }

    /// Kills every QEMU and supervisor still recorded, then removes the directory.
    func tearDown() {
        for name in directory.vmNames() {
            for pid in processes(writingTo: (try? paths(name).qemuLog) ?? "") + processes(writingTo: (try? paths(name).supervisorLog) ?? "") {
                kill(pid, SIGKILL)
            }
            if let state = try? state(name) {
                // An in-process supervisor is this test process: never kill that.
                for identity in [state.qemu, state.supervisor].compactMap({ $0 }) where identity.isAlive && identity.pid != getpid() {
                    kill(identity.pid, SIGKILL)
                }
            }
        }
        try? FileManager.default.removeItem(atPath: directory.path)
    }
}
