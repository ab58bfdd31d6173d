import Launch
import CProcess
#if canImport(Glibc)
import Glibc
import FileAccess
#endif

/// A child forked and held before `execve` until `release()`: its pid can be recorded
/// (`state.json`) before the program runs, so that a supervisor killed at any moment leaves
/// either nothing running (the held child sees its gate close and exits without running the
/// program) or a program whose pid and start time are on record. `execve` keeps both, so the
/// recorded identity stays the program's.
public final class GatedChild: @unchecked Sendable {
    public let pid: Int32
    private var gate: Int32
    private var status: Int32

    init(pid: Int32, gate: Int32, status: Int32) {
        self.pid = pid
        self.gate = gate
        self.status = status
    }

    /// Lets the child run the program; returns once `execve` has happened, or throws with the
    /// reason it failed (then the child has exited).
    public func release(executable: String) throws(LifecycleError) {
        guard gate >= 0 else { throw .failed("the gate of pid \(pid) is already closed") }
        var go: UInt8 = 0x67  // "g"
        let sent = retryingOnInterrupt { write(gate, &go, 1) }
        closeGate()
        guard sent == 1 else { throw LifecycleError(SystemError("cannot release", "pid \(pid)")) }
        // The status pipe is close-on-exec in the child: end of file means execve succeeded.
        var code: Int32 = 0
        let n = retryingOnInterrupt { read(status, &code, MemoryLayout<Int32>.size) }
        Glibc.close(status)
        status = -1
        if n == MemoryLayout<Int32>.size {
            throw .failed(SystemError("cannot start", executable, code: code).description)
        }
    }

    /// Closes the gate without releasing: the child exits (status 125) and runs nothing.
    public func abandon() {
        closeGate()
        if status >= 0 { Glibc.close(status); status = -1 }
    }

    private func closeGate() {
        if gate >= 0 { Glibc.close(gate); gate = -1 }
    }

    deinit { abandon() }
}

extension ProcessSpawner {
    /// Forks `request` held at a gate (see `GatedChild`); the same descriptors as `spawn`.
    public static func spawnGated(_ request: SpawnRequest) throws(LifecycleError) -> GatedChild {
        let path = try resolve(request.executable)
        let logFD = try openLog(request.logPath)
        defer { close(logFD) }
        let staged = try stage(request.inheritedDescriptors)
        defer { for (fd, _) in staged { close(fd) } }

        var gatePipe: [Int32] = [-1, -1]
        var statusPipe: [Int32] = [-1, -1]
        guard cprocess_pipe_cloexec(&gatePipe) == 0 else { throw LifecycleError(SystemError("cannot create a pipe", "")) }
        guard cprocess_pipe_cloexec(&statusPipe) == 0 else {
            close(gatePipe[0]); close(gatePipe[1])
            throw LifecycleError(SystemError("cannot create a pipe", ""))
        }
        // Everything the child uses is allocated here, before fork.
        let argv = [request.executable] + request.arguments
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        let sources = staged.map(\.0)
        let targets = staged.map(\.1)
        let pid = cArgs.withUnsafeBufferPointer { args in
            cprocess_spawn_gated(path, args.baseAddress, environ, logFD, sources, targets, Int32(staged.count),
                                 gatePipe[0], statusPipe[1], request.newSession ? 1 : 0)
        }
        close(gatePipe[0])
        close(statusPipe[1])
        guard pid > 0 else {
            close(gatePipe[1]); close(statusPipe[0])
            throw .failed(SystemError("cannot fork for", path, code: -pid).description)
        }
        return GatedChild(pid: pid, gate: gatePipe[1], status: statusPipe[0])
    }
}
