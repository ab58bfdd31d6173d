import FileAccess
import Foundation
import Synchronization

/// The exclusive `flock` on the lock file beside a cache entry, held by the one process that
/// probes a binary: concurrent `start`s of the same binary wait for it and then read the entry
/// it wrote, instead of each running a probe QEMU of its own (20 at once took 4 s of CPU, see
/// bench/README.md). The kernel releases the lock when its holder exits, `kill -9` included
/// (flock(2)), so the waiters of a dead prober do not wait for nothing: one of them gets the
/// lock and probes itself.
final class ProbeLock: Sendable {
    private let descriptor: Mutex<Int32>

    private init(descriptor: Int32) { self.descriptor = Mutex(descriptor) }

    /// Takes the lock on `path` (created 0600 when missing), waiting at most `timeout` for a
    /// holder to let go of it.
    static func acquire(_ path: String, timeout: Duration) async throws -> ProbeLock {
        let fd: Int32
        switch try LockFile.tryLock(path) {
        case .locked(let locked): return ProbeLock(descriptor: locked)
        case .held(let open): fd = open
        }
        // Held by a prober: wait in a blocking flock(2) on a thread of its own (not on Swift's
        // cooperative pool), woken by the kernel the moment the lock is free; the deadline
        // gives up on it, and the thread then closes the descriptor once it has the lock.
        let handoff = Handoff(fd: fd, path: path)
        return try await withCheckedThrowingContinuation { continuation in
            handoff.wait(continuation)
            Thread.detachNewThread {
                let status = retryingOnInterrupt { flock(fd, LOCK_EX) }
                handoff.finish(status == 0 ? nil : SystemError("cannot lock", path))
            }
            handoff.timer.withLock {
                $0 = Task {
                    try? await Task.sleep(for: timeout)
                    handoff.expire(after: timeout)
                }
            }
        }
    }

    /// Releases the lock (idempotent).
    func release() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit { release() }

    /// The waiting thread's result meets the deadline here: whichever comes first decides, and
    /// a lock obtained after the deadline is released at once.
    private final class Handoff: Sendable {
        private enum State {
            case idle
            case waiting(CheckedContinuation<ProbeLock, any Error>)
            case done
        }
        private let state = Mutex<State>(.idle)
        /// The deadline's task, cancelled when the lock comes first.
        let timer = Mutex<Task<Void, Never>?>(nil)
        let fd: Int32
        let path: String

        init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
        }

        func wait(_ continuation: CheckedContinuation<ProbeLock, any Error>) {
            state.withLock { $0 = .waiting(continuation) }
        }

        /// The thread's flock returned (nil: locked).
        func finish(_ failure: SystemError?) {
            let continuation = take()
            timer.withLock { $0 }?.cancel()
            guard let continuation else {
                close(fd)  // the deadline passed first: nobody wants the lock any more
                return
            }
            if let failure {
                close(fd)
                continuation.resume(throwing: failure)
            } else {
                continuation.resume(returning: ProbeLock(descriptor: fd))
            }
        }

        func expire(after timeout: Duration) {
            take()?.resume(throwing: ProbeLockTimeout(path: path, timeout: timeout))
        }

        private func take() -> CheckedContinuation<ProbeLock, any Error>? {
            state.withLock { state in
                guard case .waiting(let continuation) = state else {
                    state = .done
                    return nil
                }
                state = .done
                return continuation
            }
        }
    }
}

/// Another process held the probe lock for longer than a probe may take.
public struct ProbeLockTimeout: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var timeout: Duration
    public var description: String {
        "another process has been probing the binary for more than \(timeout) (lock \(path) still held)"
    }
}
