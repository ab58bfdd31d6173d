import Foundation
import JSON
import Launch
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

    func start(_ launch: QEMULaunch, wait: StartWait = .running, timeout: Double = 30) async throws -> StartResult {
        try await StartProcedure(stateDirectory: directory, supervisorExecutable: IGVMManagerBinary.path())
            .start(launch, definitionText: nil, wait: wait, timeout: timeout)
    }

    func paths(_ name: String) throws -> VMPaths { try directory.vm(name) }

    func state(_ name: String) throws -> VMState? { try VMState.read(paths(name).state) }

    /// Waits (up to `timeout` s) until the VM's supervisor has exited, i.e. its lock is free.
    /// (Sleeps with `Task.sleep`: a blocking sleep would starve the other tests' tasks.)
    func waitForSupervisorExit(_ name: String, timeout: Double = 20) async throws -> Bool {
        let lock = try paths(name).lock
        let deadline = Date().addingTimeInterval(timeout)
        while VMLock.isHeld(lock) {
            if Date() > deadline { return false }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        return true
    }

    /// Kills every QEMU and supervisor still recorded, then removes the directory.
    func tearDown() {
        for name in directory.vmNames() {
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
