import FileAccess

#if canImport(Glibc)
import Glibc
#endif

/// Writes state files whole: a temporary file beside the target, `fsync`, `rename`, then
/// `fsync` of the folder. A `kill -9` at any moment leaves either the old or the new file,
/// never a torn one (docs/lifecycle.md, the state directory).
public enum AtomicFile {
    /// Replaces `path` with `bytes`, created with `mode` (subject to the umask-free `fchmod`).
    public static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o600) throws(SystemError) {
        let temporary = "\(path)\(temporaryInfix)\(getpid())"
        // A leftover of a dead process with our (recycled) pid goes first; O_EXCL | O_NOFOLLOW
        // then never write through a symlink someone planted at the temporary name.
        unlink(temporary)
        let fd = retryingOnInterrupt { open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw SystemError("cannot create", temporary) }
        do throws(SystemError) {
            try FileDescriptorIO.writeAll(fd, Array(bytes), subject: temporary)
            guard fchmod(fd, mode) == 0 else { throw SystemError("cannot set the mode of", temporary) }
            guard fsync(fd) == 0 else { throw SystemError("cannot sync", temporary) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let saved = errno
            unlink(temporary)
            throw SystemError("cannot rename into place", path, code: saved)
        }
        syncFolder(of: path)
    }

    /// Temporary files are `TARGET.tmp.PID`.
    static let temporaryInfix = ".tmp."

    /// Temporary files in `folder` left by writers that died between create and rename
    /// (`kill -9`, a full disk): their PID is no longer alive.
    public static func leftovers(in folder: String) -> [String] {
        guard let dir = opendir(folder) else { return [] }
        defer { closedir(dir) }
        var found: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let dot = name.lastIndex(of: "."), name[..<dot].hasSuffix(".tmp"),
                  let pid = Int32(name[name.index(after: dot)...]), pid > 0, kill(pid, 0) != 0, errno == ESRCH else { continue }
            found.append(folder + "/" + name)
        }
        return found.sorted()
    }

    /// Replaces `path` with `text` (UTF-8).
    public static func write(_ text: String, to path: String, mode: mode_t = 0o600) throws(SystemError) {
        try write(Array(text.utf8), to: path, mode: mode)
    }

    /// Makes a rename durable: the folder entry itself must reach the disk.
    private static func syncFolder(of path: String) {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }
}

/// Small helpers over raw file descriptors (no Foundation in the supervisor's hot path).
public enum FileDescriptorIO {
    /// Writes every byte, retrying short writes and EINTR.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], subject: String) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                retryingOnInterrupt { Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            }
            guard n > 0 else { throw SystemError("cannot write", subject) }
            offset += n
        }
    }

    /// Writes every byte at file offset `offset` (pwrite(2)), retrying short writes and EINTR.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: UInt64, subject: String) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                retryingOnInterrupt { pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done)) }
            }
            guard n > 0 else { throw SystemError("cannot write", subject, code: n == 0 ? EIO : errno) }
            done += n
        }
    }

    /// Exactly `count` bytes from file offset `offset` (pread(2)); nil when the file ends first.
    public static func readExactly(_ fd: Int32, count: Int, at offset: UInt64, subject: String) throws(SystemError) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done)) }
            }
            if n < 0 { throw SystemError("cannot read", subject) }
            if n == 0 { return nil }
            done += n
        }
        return bytes
    }

    /// Reads the whole file at `path`, or nil when it does not exist. State files are read with
    /// `followingSymlinks: false` (a symlink there is refused with ELOOP).
    public static func readFile(_ path: String, followingSymlinks: Bool = true) throws(SystemError) -> [UInt8]? {
        let fd = retryingOnInterrupt { open(path, O_RDONLY | O_CLOEXEC | (followingSymlinks ? 0 : O_NOFOLLOW)) }
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw SystemError("cannot open", path)
        }
        defer { close(fd) }
        return try readToEnd(fd, subject: path)
    }

    /// Reads from `fd` until end of file.
    public static func readToEnd(_ fd: Int32, subject: String) throws(SystemError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { read(fd, buffer.baseAddress!, buffer.count) }
            }
            if n < 0 { throw SystemError("cannot read", subject) }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    /// The last `maximum` bytes of the file at `path` from `offset` on (nil when it does not exist).
    public static func readTail(_ path: String, from offset: Int64 = 0, maximum: Int) throws(SystemError) -> [UInt8]? {
        let fd = retryingOnInterrupt { open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw SystemError("cannot open", path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError("cannot stat", path) }
        let start = max(offset, Int64(info.st_size) - Int64(maximum))
        guard lseek(fd, off_t(max(start, 0)), SEEK_SET) >= 0 else { throw SystemError("cannot seek", path) }
        return try readToEnd(fd, subject: path)
    }
}
