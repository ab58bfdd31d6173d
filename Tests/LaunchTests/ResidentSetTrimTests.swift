#if canImport(Glibc)
import FileAccess
import Glibc
#endif
import Foundation
@testable import Definition
@testable import Launch
@testable import Supervisor
import Testing

@Suite("ResidentSetTrim: which mappings a supervisor may forget")
struct ResidentSetTrimTests {
    /// Excerpt of a real static igvm-mgr's smaps (fields trimmed), one mapping of each kind.
    static let smaps = """
        55d0a0000000-55d0a1000000 r--p 00000000 fe:01 1234    /usr/bin/igvm-mgr
        Size:              16384 kB
        Anonymous:             0 kB
        Private_Dirty:         0 kB
        VmFlags: rd mr mw me dw
        55d0a1000000-55d0a5000000 r-xp 01000000 fe:01 1234    /usr/bin/igvm-mgr
        Size:              65536 kB
        Anonymous:             0 kB
        Private_Dirty:       616 kB
        VmFlags: rd ex mr mw me dw
        55d0a5000000-55d0a5200000 r--p 05000000 fe:01 1234    /usr/bin/igvm-mgr
        Size:               2048 kB
        Anonymous:           512 kB
        Private_Dirty:       512 kB
        VmFlags: rd mr mw me dw ac
        55d0a5200000-55d0a5300000 rw-p 05200000 fe:01 1234    /usr/bin/igvm-mgr
        Size:               1024 kB
        Anonymous:            64 kB
        Private_Dirty:        64 kB
        VmFlags: rd wr mr mw me dw ac
        55d0a6000000-55d0a7000000 rw-p 00000000 00:00 0       [heap]
        Size:              16384 kB
        Anonymous:          2048 kB
        Private_Dirty:      2048 kB
        7ffd1000-7ffd3000 r-xp 00000000 00:00 0               [vdso]
        Anonymous:             0 kB
        Private_Dirty:         0 kB
        7f0000000000-7f0000100000 r--p 00000000 fe:01 99      /usr/lib/locale/C.utf8/LC_CTYPE (deleted)
        Anonymous:             0 kB
        Private_Dirty:         0 kB
        """

    @Test("only read-only file mappings without copied pages are droppable: code and constants (dirty page cache or not), not RELRO, data, heap or vdso")
    func droppable() {
        let mappings = ResidentSetTrim.parse(Self.smaps)
        #expect(mappings.count == 7)
        #expect(mappings.map(\.isDroppable) == [true, true, false, false, false, false, true])
        #expect(mappings[2].anonymousKiB == 512)
        #expect(mappings[1].start == 0x55d0a1000000 && mappings[1].end == 0x55d0a5000000)
        #expect(mappings[1].permissions == "r-xp" && mappings[1].path == "/usr/bin/igvm-mgr")
        #expect(mappings[6].path == "/usr/lib/locale/C.utf8/LC_CTYPE (deleted)" && mappings[4].path == "[heap]")
    }

    /// This process's resident KiB (`Rss:`) in the mapping that starts at `address`, from
    /// /proc/self/smaps (proc(5)): the figure of one mapping this test alone uses, whatever
    /// other tests running in the same process fault in meanwhile.
    private func residentKiB(at address: UnsafeMutableRawPointer) throws -> Int {
        let smaps = String(decoding: try #require(try FileDescriptorIO.readFile("/proc/self/smaps")), as: UTF8.self)
        var inMapping = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if let dash = first.firstIndex(of: "-"), let start = UInt(first[..<dash], radix: 16) {
                inMapping = start == UInt(bitPattern: address)
            } else if inMapping, first == "Rss:", fields.count >= 2 {
                return try #require(Int(fields[1]))
            }
        }
        throw MappingNotFound()
    }

    private struct MappingNotFound: Error {}

    @Test("trimming this very process drops a clean read-only file mapping, which faults back in from the file, and keeps one with copied pages")
    func trimsALiveProcess() throws {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = 64 * pageSize
        let content = (0..<length).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("resident-set-trim-\(getpid())-\(UInt64.random(in: 0...UInt64.max))").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(content)))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        // The binary's code and constants: file-backed, read-only, never copied.
        let clean = try #require(mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0).flatMap { $0 == MAP_FAILED ? nil : $0 })
        defer { munmap(clean, length) }
        // RELRO: a private file mapping written once (copy-on-write), then made read-only.
        let copied = try #require(mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0).flatMap { $0 == MAP_FAILED ? nil : $0 })
        defer { munmap(copied, length) }
        copied.storeBytes(of: 0xAA, as: UInt8.self)
        try #require(mprotect(copied, length, PROT_READ) == 0)

        let pages = UnsafeRawBufferPointer(start: clean, count: length)
        #expect(Array(pages) == content)  // every page read: all of them resident
        #expect(try residentKiB(at: clean) == length / 1024)

        let advised = ResidentSetTrim.dropReadOnlyFileMappings()
        #expect(advised >= length)
        #expect(try residentKiB(at: clean) == 0, "the clean mapping's pages are still mapped after the trim")
        // Dropped pages fault back in from the file; the copied page is not the file's and stays.
        #expect(Array(pages) == content)
        #expect(copied.load(as: UInt8.self) == 0xAA)
    }
}
