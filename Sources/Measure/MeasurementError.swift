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
        // Regular files: one read of st_size bytes. Pipes and devices report 0 and grow.
        var capacity = max(Int(info.st_size), 0) + 1  // +1 so EOF is seen without regrowing
        var result: [UInt8] = []
        while true {
            var failed = false
            let previous = result
            result = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                let base = buffer.baseAddress!
                previous.withUnsafeBytes { old in
                    if let from = old.baseAddress { UnsafeMutableRawPointer(base).copyMemory(from: from, byteCount: old.count) }
                }
                count = previous.count
                while count < capacity {
                    let got = Glibc.read(fd, base + count, capacity - count)
                    if got < 0 {
                        if errno == EINTR { continue }
                        failed = true
                        return
                    }
                    if got == 0 { return }
                    count += got
                }
            }
            if failed { throw failure(path) }
            if result.count < capacity { return result }
            capacity *= 2
        }
    }

    private static func failure(_ path: String) -> MeasurementError {
        MeasurementError(.unreadableInput, "cannot read \(path): \(String(cString: strerror(errno)))")
    }
}
