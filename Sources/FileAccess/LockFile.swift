#if canImport(Glibc)
import Glibc
#endif

/// A lock file: an exclusive `flock(2)` on a file created 0600 when missing and never opened
/// through a symbolic link. The kernel drops the lock when the last descriptor of the open file
/// closes, also when its holder dies by `kill -9`, so a stale lock cannot exist. The VM lock
/// (`VMLock`) and the capability probe's lock (`ProbeLock`) are both this.
public enum LockFile {
    /// What one non-blocking attempt found.
    public enum Attempt {
        /// Locked: closing the descriptor releases the lock.
        case locked(Int32)
        /// Someone else holds it; the descriptor is open (for a blocking wait, or to close).
        case held(Int32)
    }

    /// Opens `path` and tries to take its lock without waiting.
    public static func tryLock(_ path: String) throws(SystemError) -> Attempt {
        let fd = retryingOnInterrupt { open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw SystemError("cannot open the lock file", path) }
        if retryingOnInterrupt({ flock(fd, LOCK_EX | LOCK_NB) }) == 0 { return .locked(fd) }
        let saved = errno
        if saved == EWOULDBLOCK { return .held(fd) }
        close(fd)
        throw SystemError("cannot lock", path, code: saved)
    }
}
