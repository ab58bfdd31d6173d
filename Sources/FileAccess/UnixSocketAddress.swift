#if canImport(Glibc)
import Glibc
#endif

/// A Unix stream socket bound or connected to a path: the one place that fills a
/// `sockaddr_un` (unix(7): the path must fit `sun_path` with its terminating NUL).
public enum UnixSocketAddress {
    /// A new close-on-exec stream socket, on which `call` (`bind` or `connect`) is made with
    /// `path`'s address; the descriptor, or the failure (`operation` names it) with the socket
    /// closed.
    public static func socket(at path: String, _ operation: String,
                              _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) throws(SystemError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemError("socket path too long:", path, code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("cannot create a socket for", path) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let saved = errno
            close(fd)
            throw SystemError(operation, path, code: saved)
        }
        return fd
    }

    /// A stream socket connected to `path`.
    public static func connect(_ path: String) throws(SystemError) -> Int32 {
        try socket(at: path, "cannot connect to") { Glibc.connect($0, $1, $2) }
    }
}
