#if canImport(Glibc)
import Glibc
#endif

/// A file a user names as output (`igvm build -o`, `id-block -o`): written whole, or not at all.
///
/// The bytes go to a new temporary file in the same folder (created exclusively, never through
/// a link), are synced, and replace the target by `rename`. A target that exists must be a
/// regular file: a device (`/dev/full`), a FIFO, a directory or a symbolic link is refused, so
/// that `-o` can never replace a device node or write through a link somewhere unexpected.
public enum OutputFile {
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(OutputFileError) {
        var info = stat()
        if lstat(path, &info) == 0 {
            let kind = FileKind(mode: info.st_mode)
            guard kind == .regular else { throw OutputFileError(path: path, message: "refusing to replace it: it is \(kind)") }
        } else if errno != ENOENT {
            throw OutputFileError(path: path, message: "cannot inspect: \(String(cString: strerror(errno)))")
        }
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        var fd: Int32 = -1
        var temporary = ""
        for attempt in 0..<16 {
            temporary = "\(folder)/.\(name).\(getpid()).\(attempt).tmp"
            fd = retryingOnInterrupt { open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode) }
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw OutputFileError(path: path, message: "cannot create a file in \(folder): \(String(cString: strerror(errno)))") }
        var offset = 0
        var failure: Int32 = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                retryingOnInterrupt { Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            }
            if n <= 0 { failure = n < 0 ? errno : ENOSPC; break }
            offset += n
        }
        if failure == 0, fchmod(fd, mode) != 0 || fsync(fd) != 0 { failure = errno }
        close(fd)
        guard failure == 0 else {
            unlink(temporary)
            throw OutputFileError(path: path, message: "cannot write: \(String(cString: strerror(failure))) (nothing was replaced)")
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw OutputFileError(path: path, message: "cannot rename into place: \(String(cString: strerror(code)))")
        }
    }
}

/// Why an output file was not written: one line naming it.
public struct OutputFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}
