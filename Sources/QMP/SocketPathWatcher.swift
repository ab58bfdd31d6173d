import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Waits for a file (a server's socket) to appear, driven by inotify rather than by polling:
/// the wait ends as soon as the directory reports the name, not at the next tick.
enum SocketPathWatcher {
    struct Timeout: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) did not appear in time" }
    }

    static func waitForPath(_ path: String, until deadline: ContinuousClock.Instant) async throws {
        if access(path, F_OK) == 0 { return }
        try await NIOThreadPool.singleton.runIfActive {
            try blockingWait(path, until: deadline)
        }
    }

    private static func blockingWait(_ path: String, until deadline: ContinuousClock.Instant) throws {
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw QMPClientError.connectionFailed(path: path, reason: "inotify_init1 failed") }
        defer { close(fd) }
        guard inotify_add_watch(fd, directory.isEmpty ? "/" : directory, UInt32(IN_CREATE | IN_MOVED_TO | IN_ATTRIB)) >= 0 else {
            throw QMPClientError.connectionFailed(path: path, reason: "cannot watch \(directory): \(String(cString: strerror(errno)))")
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            // Checked after the watch is in place, so a creation in between is not missed.
            if access(path, F_OK) == 0 { return }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                throw QMPClientError.connectionFailed(path: path, reason: "socket did not appear within the wait time")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(min(remaining.nanoseconds / 1_000_000 + 1, Int64(Int32.max)))
            _ = poll(&pfd, 1, ms)
            _ = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        }
    }
}
