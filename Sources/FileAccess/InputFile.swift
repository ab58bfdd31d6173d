#if canImport(Glibc)
import Glibc
#endif

/// A file a user names as input (firmware, IGVM file, kernel, key, definition): a regular file,
/// at most as large as its format allows, read whole.
///
/// Opened with `O_NONBLOCK` so that a FIFO never blocks the open, then checked with `fstat`
/// before a byte is read: `/dev/zero`, a FIFO or a directory is refused with one line naming
/// what it is, and a file over the limit is refused before anything is allocated for it.
public enum InputFile {
    /// Upper bounds by what the formats allow, with room to spare.
    public enum Limit {
        /// A firmware image (`-bios`, pflash, OVMF): QEMU maps it below 4 GiB beside the other
        /// ROMs; no x86 firmware comes near this (hw/i386/x86-common.c, `x86_bios_rom_init`).
        public static let firmware = 64 << 20
        /// An IGVM file: the firmware plus whatever payload (kernel, initrd) it carries.
        public static let igvm = 1 << 30
        /// A kernel or initrd for measured direct boot: QEMU loads the initrd below 4 GiB.
        public static let kernel = 2 << 30
        /// A VM definition, a PEM key, a certificate: text of a few KiB.
        public static let text = 1 << 20
    }

    /// Reads all of the regular file at `path`, at most `limit` bytes.
    public static func read(_ path: String, limit: Int) throws(InputFileError) -> [UInt8] {
        let fd = retryingOnInterrupt { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { throw InputFileError(path: path, reason: .cannotOpen(errno: errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw InputFileError(path: path, reason: .cannotOpen(errno: errno)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw InputFileError(path: path, reason: .notRegular(kind: FileKind(mode: info.st_mode)))
        }
        let size = Int(info.st_size)
        guard size <= limit else { throw InputFileError(path: path, reason: .tooLarge(size: size, limit: limit)) }
        // A regular file ignores O_NONBLOCK; reading stops at `limit` even if it grows meanwhile.
        var bytes = [UInt8](repeating: 0, count: size)
        var count = 0
        while count < size {
            let got = bytes.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { Glibc.read(fd, buffer.baseAddress! + count, size - count) }
            }
            if got < 0 { throw InputFileError(path: path, reason: .cannotRead(errno: errno)) }
            if got == 0 { break }  // shrank while we read: what is there is the file
            count += got
        }
        return count == size ? bytes : Array(bytes[..<count])
    }

    /// Reads the file as UTF-8 text (at most `limit` bytes).
    public static func readText(_ path: String, limit: Int = Limit.text) throws(InputFileError) -> String {
        String(decoding: try read(path, limit: limit), as: UTF8.self)
    }

    /// Why `path` cannot be used as an input, without reading it; nil when it can.
    public static func problem(_ path: String, limit: Int) -> InputFileError? {
        var info = stat()
        guard stat(path, &info) == 0 else { return InputFileError(path: path, reason: .cannotOpen(errno: errno)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            return InputFileError(path: path, reason: .notRegular(kind: FileKind(mode: info.st_mode)))
        }
        guard Int(info.st_size) <= limit else {
            return InputFileError(path: path, reason: .tooLarge(size: Int(info.st_size), limit: limit))
        }
        guard access(path, R_OK) == 0 else { return InputFileError(path: path, reason: .cannotOpen(errno: errno)) }
        return nil
    }
}

/// Why an input file was refused: one line naming the file and what it is.
public struct InputFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case cannotOpen(errno: Int32)
        case cannotRead(errno: Int32)
        case notRegular(kind: FileKind)
        case tooLarge(size: Int, limit: Int)
    }

    public var path: String
    public var reason: Reason

    /// Whether the file does not exist (ENOENT), as opposed to existing but being unusable.
    public var isMissing: Bool { reason == .cannotOpen(errno: ENOENT) }

    public var description: String { "\(path): \(message)" }

    /// The message without the path.
    public var message: String {
        switch reason {
        case .cannotOpen(let code): "cannot open: \(String(cString: strerror(code)))"
        case .cannotRead(let code): "cannot read: \(String(cString: strerror(code)))"
        case .notRegular(let kind): "is \(kind.description), not a regular file"
        case .tooLarge(let size, let limit): "is \(size) bytes, over the \(limit)-byte limit for this kind of file"
        }
    }
}

/// What a path is, for messages ("is a character device, not a regular file").
public enum FileKind: Sendable, Equatable, CustomStringConvertible {
    case regular, directory, characterDevice, blockDevice, fifo, socket, symbolicLink, unknown

    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink
        default: self = .unknown
        }
    }

    public var description: String {
        switch self {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .fifo: "a FIFO"
        case .socket: "a socket"
        case .symbolicLink: "a symbolic link"
        case .unknown: "of an unknown type"
        }
    }
}

/// Retries a system call interrupted by a signal (EINTR). The one copy: the state files and the
/// supervisor's spawning use it too.
@inline(__always)
public func retryingOnInterrupt<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}
