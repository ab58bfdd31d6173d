import FileAccess
import ObjectModel

#if canImport(Glibc)
import Glibc
#endif

/// Guest RAM kept in a file that outlives QEMU (`memory-backend-file,share=on` in the VM's
/// folder): every instance of one `start` maps the same file, so what the guest left in memory —
/// the opaque blob at its address, the mailbox, anything else — is there for the next firmware,
/// as the vmfwupdate thread asks ("all the existing guest memory is preserved", v6 patch's
/// docs/specs/vmfwupdate.rst). With `share=on` QEMU maps the file MAP_SHARED, so the manager's
/// `pread`/`pwrite` of a paused guest see and change the guest's memory.
///
/// For SEV/SEV-ES/SEV-SNP guests only shared (unencrypted) pages hold readable bytes here: private
/// memory is ciphertext under the old launch context and cannot be used by a new one.
public struct GuestRAMFile: Sendable, Hashable {
    public let path: String
    public let memory: GuestMemoryMap
    /// The size of the RAM block (`-m`).
    public let size: UInt64

    /// The backend's QOM id (fixed: one RAM backend per instance).
    public static let backendID = "igvm-mgr-ram"

    public init(path: String, memory: GuestMemoryMap, size: UInt64) {
        self.path = path
        self.memory = memory
        self.size = size
    }

    /// The `-object` of the backend for `-machine memory-backend=`.
    public var backendObject: QOMObject {
        var backend = MemoryBackendFile(id: Self.backendID)
        backend.memPath = path
        backend.backend.size = size
        backend.backend.share = true
        return QOMObject(backend)
    }

    /// Where guest-physical `range` lies in the file: QEMU's pc/q35 map RAM below 4 GiB at file
    /// offset = GPA and RAM above 4 GiB right after it (the `ram-below-4g` / `ram-above-4g`
    /// aliases of one RAM block, hw/i386/pc.c). nil when `range` is not plain RAM.
    public func fileOffset(of range: GuestPhysicalRange) -> UInt64? {
        guard memory.containsRAM(range) else { return nil }
        let fourGiB: UInt64 = 1 << 32
        guard range.start >= fourGiB else { return range.start }
        let below4G = memory.ranges.filter { $0.end <= fourGiB }.map(\.end).max() ?? 0
        return below4G + (range.start - fourGiB)
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Creates the file afresh at `size` bytes of zeros: a `start` boots with clean RAM.
    public func createAfresh() throws(Failure) {
        unlink(path)
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: SystemError("cannot create", path).description) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            throw Failure(description: SystemError("cannot size", path).description)
        }
    }

    /// The bytes of `range` (plain RAM only).
    public func read(_ range: GuestPhysicalRange) throws(Failure) -> [UInt8] {
        let offset = try offset(range)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: SystemError("cannot open", path).description) }
        defer { close(fd) }
        let bytes: [UInt8]?
        do { bytes = try FileDescriptorIO.readExactly(fd, count: Int(range.length), at: offset, subject: path) } catch {
            throw Failure(description: error.description)
        }
        guard let bytes else { throw Failure(description: "guest RAM file \(path) ends before \(range)") }
        return bytes
    }

    /// Writes `bytes` at guest-physical `address` (plain RAM only).
    public func write(_ bytes: [UInt8], at address: UInt64) throws(Failure) {
        guard let range = GuestPhysicalRange(start: address, length: UInt64(bytes.count)) else {
            throw Failure(description: "write at 0x\(String(address, radix: 16)) overflows")
        }
        let offset = try offset(range)
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: SystemError("cannot open", path).description) }
        defer { close(fd) }
        do { try FileDescriptorIO.writeAll(fd, bytes, at: offset, subject: path) } catch { throw Failure(description: error.description) }
    }

    private func offset(_ range: GuestPhysicalRange) throws(Failure) -> UInt64 {
        guard let offset = fileOffset(of: range), offset + range.length <= size else {
            throw Failure(description: "\(range) is not plain guest RAM")
        }
        return offset
    }
}
