import Launch
import FileAccess
import Numerals
#if canImport(Glibc)
import Glibc
#endif

/// Drops this process's page-table entries for read-only file mappings never copied (the binary's code
/// and constants) once the supervisor has finished starting its VM.
///
/// Why: start-up (capability probe, validation, measurement, argv generation, spawning) runs
/// most of the binary once, and every page it touched stays mapped (the kernel maps 64 KiB
/// around each faulting page), so a supervisor that then only watches QEMU keeps ~20 MiB of the
/// shared binary in its RSS for its whole life. `MADV_DONTNEED` on those mappings forgets them;
/// the pages stay in the page cache (shared with every other supervisor) and what the watch
/// loop still runs faults back in from there at once. The RSS then says what the supervisor
/// actually uses.
///
/// Safety: only mappings that are file-backed, not writable, and hold no anonymous
/// (copied-on-write) pages are touched. For those, `MADV_DONTNEED` is exactly "re-read from the
/// file on next access", and the file is the running binary: no content can change. A mapping
/// with copied pages (relocated read-only data: RELRO) would lose its relocations and is left
/// alone.
public enum ResidentSetTrim {
    /// One mapping from `/proc/self/smaps` with the fields the decision needs.
    struct Mapping: Equatable {
        var start: UInt
        var end: UInt
        var permissions: String
        var path: String
        /// Copied-on-write pages: content that exists nowhere but in this mapping.
        var anonymousKiB = 0

        /// Pages of a file that this mapping never copied. (`Private_Dirty` is no test: it also
        /// counts page-cache pages not yet written back, e.g. of a binary just built, which are
        /// still the file's content.)
        var isDroppable: Bool {
            path.hasPrefix("/") && !permissions.contains("w") && anonymousKiB == 0
        }
    }

    /// Drops the droppable mappings; returns how many bytes of address space were advised
    /// (0 when `/proc/self/smaps` cannot be read: trimming is an optimisation, never an error).
    @discardableResult
    public static func dropReadOnlyFileMappings() -> Int {
        guard let bytes = try? FileDescriptorIO.readFile("/proc/self/smaps") else { return 0 }
        var advised = 0
        for mapping in parse(bytes) where mapping.isDroppable {
            guard let address = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            let length = Int(mapping.end - mapping.start)
            if madvise(address, length, MADV_DONTNEED) == 0 { advised += length }
        }
        return advised
    }

    static func parse(_ smaps: String) -> [Mapping] { parse(Array(smaps.utf8)) }

    /// The mappings of an smaps text: a header line (`start-end perms offset dev inode [path]`)
    /// followed by `Key: value kB` lines. Read as bytes, line by line, keeping only the headers
    /// and `Anonymous:`: a supervisor's smaps is ~25 lines for each of a few hundred mappings, and
    /// splitting all of it into Swift strings was 10 % of its CPU until ready.
    static func parse(_ smaps: [UInt8]) -> [Mapping] {
        var mappings: [Mapping] = []
        var lineStart = 0
        while lineStart < smaps.count {
            let lineEnd = smaps[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? smaps.count
            let line = smaps[lineStart..<lineEnd]
            lineStart = lineEnd + 1
            // "Anonymous:" first: its "A" is a hex digit too.
            if line.starts(with: anonymousKey) {
                if !mappings.isEmpty,
                    let value = fields(line.dropFirst(anonymousKey.count)).first.flatMap({ Numeral.decimal(String(decoding: $0, as: UTF8.self)) }),
                    let kib = Int(exactly: value)
                {
                    mappings[mappings.count - 1].anonymousKiB = kib
                }
            } else if let first = line.first, Numeral.hexDigitValue(first) != nil, let mapping = header(line) {
                mappings.append(mapping)
            }
        }
        return mappings
    }

    private static let anonymousKey = Array("Anonymous:".utf8)

    /// `start-end perms offset dev inode [path]`; nil for a line of any other shape.
    private static func header(_ line: ArraySlice<UInt8>) -> Mapping? {
        let parts = fields(line)
        guard parts.count >= 5, let dash = parts[0].firstIndex(of: UInt8(ascii: "-")),
            let start = hexNumber(parts[0][..<dash]), let end = hexNumber(parts[0][(dash + 1)...])
        else { return nil }
        // The path is the rest of the line after the inode (it may hold spaces, e.g. "(deleted)").
        var path = ""
        if parts.count > 5 { path = String(decoding: line[parts[5].startIndex...], as: UTF8.self) }
        return Mapping(start: start, end: end, permissions: String(decoding: parts[1], as: UTF8.self), path: path)
    }

    /// The space-separated fields of a line.
    private static func fields(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
    }

    private static func hexNumber(_ digits: ArraySlice<UInt8>) -> UInt? {
        Numeral.hexDigits(String(decoding: digits, as: UTF8.self)).flatMap { UInt(exactly: $0) }
    }
}
