import Foundation

/// A real QEMU started from an argv (as `igvm-mgr args --json` prints it) for a test: its
/// stderr is kept for failure messages, and `quit` ends it over QMP and waits for the exit.
public final class QEMUInstance {
    public let process = Process()
    private let stderrPipe = Pipe()
    private let exited = DispatchSemaphore(value: 0)

    /// Starts `argv[0]` with the rest of `argv`, stdin from /dev/null.
    public init(argv: [String]) throws {
        guard let program = argv.first else { throw QMPSocketExchange.Failure(description: "empty argv") }
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = Array(argv.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderrPipe
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
    }

    /// QEMU's stderr so far (call after it exited).
    public func standardError() -> String {
        String(decoding: stderrPipe.fileHandleForReading.availableData, as: UTF8.self)
    }

    /// Waits up to `timeout` seconds for QEMU to exit; true when it did.
    public func waitForExit(timeout: Double = 20) -> Bool {
        exited.wait(timeout: .now() + timeout) == .success
    }

    /// Kills QEMU if it is still running (cleanup after a failed test).
    public func kill() {
        if process.isRunning {
            process.terminate()
            _ = waitForExit(timeout: 5)
        }
    }

    deinit { kill() }
}
