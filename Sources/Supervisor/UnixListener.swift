import FileAccess
#if canImport(Glibc)
import Glibc
#endif

/// A listening Unix socket made by the supervisor and handed to QEMU as its QMP monitor
/// (`-chardev socket,fd=3,server=on`), the way libvirt does: the socket exists, with mode
/// 0600, before QEMU starts, so nobody polls for it to appear, and it outlives the supervisor
/// so that `status` and `stop` can still reach an orphaned QEMU.
enum UnixListener {
    /// Binds and listens on `path` (replacing a stale socket file); returns the descriptor.
    static func listen(at path: String, backlog: Int32 = 8) throws(SystemError) -> Int32 {
        unlink(path)
        let fd = try UnixSocketAddress.socket(at: path, "cannot bind") { bind($0, $1, $2) }
        guard chmod(path, 0o600) == 0, Glibc.listen(fd, backlog) == 0 else {
            let saved = errno
            close(fd)
            throw SystemError("cannot listen on", path, code: saved)
        }
        return fd
    }
}
