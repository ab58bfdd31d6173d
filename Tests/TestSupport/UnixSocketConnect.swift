#if canImport(Glibc)
import Glibc
#endif

/// Connects a new Unix stream socket to `path`: the descriptor, or -1 and the `errno` of the
/// failure (`ENAMETOOLONG` for a path that does not fit `sun_path`). Shared by the tests' raw
/// QMP clients and the benchmark's raw loop.
public func connectUnixSocket(_ path: String) -> (fd: Int32, errno: Int32) {
    unixSocket(path) { fd, address, length in connect(fd, address, length) }
}

/// A new Unix stream socket bound to `path` and listening (backlog 4): the descriptor, or -1 and
/// the `errno` of the failure. Shared by the tests' fake QMP peers and the benchmark's instant peer.
public func listenUnixSocket(_ path: String) -> (fd: Int32, errno: Int32) {
    unixSocket(path) { fd, address, length in
        bind(fd, address, length) == 0 ? listen(fd, 4) : -1
    }
}

/// A new Unix stream socket on which `setUp` (connect, or bind and listen) succeeded with `path`'s address.
private func unixSocket(_ path: String, _ setUp: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) -> (fd: Int32, errno: Int32) {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return (-1, ENAMETOOLONG) }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return (-1, errno) }
    let status = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { setUp(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard status == 0 else {
        let code = errno
        close(fd)
        return (-1, code)
    }
    return (fd, 0)
}
