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
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("cannot create a socket for", path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw SystemError("socket path too long:", path, code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let saved = errno
            close(fd)
            throw SystemError("cannot bind", path, code: saved)
        }
        guard chmod(path, 0o600) == 0, Glibc.listen(fd, backlog) == 0 else {
            let saved = errno
            close(fd)
            throw SystemError("cannot listen on", path, code: saved)
        }
        return fd
    }
}
