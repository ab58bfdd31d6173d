#if canImport(Glibc)
import FileAccess
import Glibc
#endif
@testable import Definition
@testable import Capabilities
@testable import Launch
@testable import VMState
@testable import Supervisor
@testable import FirmwareUpdate
@testable import Lifecycle
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
    }

    /// Reads this process's file-backed resident set (RssFile) in KiB.
    private func residentFileKiB() throws -> Int {
        let status = String(decoding: try #require(try FileDescriptorIO.readFile("/proc/self/status")), as: UTF8.self)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssFile:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    @Test("trimming this very process shrinks its file-backed RSS and everything keeps running")
    func trimsALiveProcess() throws {
        let before = try residentFileKiB()
        let advised = ResidentSetTrim.dropReadOnlyFileMappings()
        let after = try residentFileKiB()
        #expect(advised > 0)
        #expect(after < before, "RssFile \(before) KiB → \(after) KiB")
        // The dropped code and constants fault back in from the file.
        #expect(ResidentSetTrim.parse(Self.smaps).count == 7)
    }
}
