#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a launch digest could not be computed. The description is one line naming the file,
/// offset or option at fault.
public struct MeasurementError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A file could not be read at all (exit status 2 in the CLI).
        case unreadableInput
        /// The inputs are readable but unusable together (missing table, bad combination).
        case invalidInput
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    static func invalid(_ description: String) -> MeasurementError { .init(.invalidInput, description) }
}

/// Whole-file reads without Foundation (keeps `igvm-mgr measure` start-up cheap).
public enum FileContents {
    public static func read(_ path: String) throws(MeasurementError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(path) }
        var bytes: [UInt8] = []
        var capacity = max(Int(info.st_size), 0) + 1  // +1 so EOF is seen without a regrow
        bytes.reserveCapacity(capacity)
        while true {
            if bytes.count == capacity {
                capacity *= 2
                bytes.reserveCapacity(capacity)
            }
            let want = capacity - bytes.count
            var got = 0
            bytes.append(contentsOf: repeatElement(0, count: want))
            got = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress! + (buffer.count - want), want)
            }
            if got < 0 {
                if errno == EINTR { bytes.removeLast(want); continue }
                throw failure(path)
            }
            bytes.removeLast(want - got)
            if got == 0 { return bytes }
        }
    }

    private static func failure(_ path: String) -> MeasurementError {
        MeasurementError(.unreadableInput, "cannot read \(path): \(String(cString: strerror(errno)))")
    }
}
