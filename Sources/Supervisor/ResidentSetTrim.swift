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
        var permissions: Substring
        var path: Substring
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
        for mapping in parse(String(decoding: bytes, as: UTF8.self)) where mapping.isDroppable {
            guard let address = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            let length = Int(mapping.end - mapping.start)
            if madvise(address, length, MADV_DONTNEED) == 0 { advised += length }
        }
        return advised
    }

    /// The mappings of an smaps text: a header line (`start-end perms offset dev inode [path]`)
    /// followed by `Key: value kB` lines.
    static func parse(_ smaps: String) -> [Mapping] {
        var mappings: [Mapping] = []
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if let dash = first.firstIndex(of: "-"), fields.count >= 5,
                let start = Numeral.hexDigits(first[..<dash]).map(UInt.init),
                let end = Numeral.hexDigits(first[first.index(after: dash)...]).map(UInt.init)
            {
                mappings.append(Mapping(start: start, end: end, permissions: fields[1], path: fields.count > 5 ? fields[5] : ""))
            } else if first == "Anonymous:", fields.count >= 2, let value = Int(fields[1]), !mappings.isEmpty {
                mappings[mappings.count - 1].anonymousKiB = value
            }
        }
        return mappings
    }
}
