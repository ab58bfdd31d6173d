import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A QEMU started for a test, with its QMP monitor on a Unix socket in a private temporary
/// directory (`-qmp unix:PATH,server=on,wait=off`). Killed when released.
public final class QEMUUnderTest: @unchecked Sendable {
    public let process: Process
    public let qmpSocket: String
    /// A second, independent QMP monitor (QEMU's socket serves one client at a time), when asked for.
    public let secondQMPSocket: String?
    public let directory: URL
    private let stderrPipe = Pipe()

    /// Starts `qemu-system-x86_64 -machine MACHINE -nodefaults -display none -S` plus `extra`.
    /// `machine` "none" has no devices at all (fast); "q35" is needed for machine events.
    public init(machine: String = "none", extra: [String] = [], secondMonitor: Bool = false) throws {
        directory = try TestPaths.makeTemporaryDirectory("qmp")
        qmpSocket = directory.appendingPathComponent("qmp.sock").path
        secondQMPSocket = secondMonitor ? directory.appendingPathComponent("qmp2.sock").path : nil
        process = Process()
        process.executableURL = URL(fileURLWithPath: try QEMU.binary())
        process.arguments = [
            "-machine", machine, "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
            "-qmp", "unix:\(qmpSocket),server=on,wait=off",
        ] + (secondQMPSocket.map { ["-qmp", "unix:\($0),server=on,wait=off"] } ?? []) + extra
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    /// SIGKILL, as an operator's `kill -9` would.
    public func kill9() { kill(process.processIdentifier, SIGKILL) }

    /// Waits for QEMU to exit and returns its status.
    @discardableResult
    public func waitForExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
