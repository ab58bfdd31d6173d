import FileAccess

#if canImport(Glibc)
import Glibc
#endif

/// The per-VM `flock`. Whoever holds it owns the VM: `start` takes it, hands the same open file
/// to the supervisor it spawns (so there is no window in which a second `start` could slip in),
/// and the supervisor keeps it until it exits. The kernel drops it when the holder dies, even
/// by `kill -9`, so a stale lock is impossible.
public final class VMLock: @unchecked Sendable {
    /// The locked descriptor (closing it releases the lock).
    public private(set) var descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Takes the lock without waiting; nil when someone else holds it.
    public static func tryAcquire(_ path: String) throws(SystemError) -> VMLock? {
        switch try LockFile.tryLock(path) {
        case .locked(let fd):
            return VMLock(descriptor: fd)
        case .held(let fd):
            close(fd)
            return nil
        }
    }

    /// Adopts a descriptor that is already locked (the supervisor's inherited one).
    public static func adopt(descriptor: Int32) -> VMLock {
        // Never let QEMU inherit it: the lock must mean "a supervisor is alive".
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return VMLock(descriptor: descriptor)
    }

    /// Whether anyone holds the lock on `path` right now (a supervisor or a `start` in progress).
    public static func isHeld(_ path: String) -> Bool {
        guard let lock = try? tryAcquire(path) else {
            return access(path, F_OK) == 0
        }
        lock.release()
        return false
    }

    /// Releases the lock (idempotent).
    public func release() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
    }

    deinit { release() }
}
