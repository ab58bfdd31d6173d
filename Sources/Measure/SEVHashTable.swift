import Crypto
import Numerals
import IGVM
import FileAccess

/// The kernel/initrd/cmdline hash table QEMU writes for measured direct boot
/// (`kernel-hashes=on`; QEMU's `SevHashTable`, sev-snp-measure `SevHashes`).
///
/// Layout: header GUID, u16 length 168, then three entries `{GUID, u16 50, SHA-256}` for the
/// command line, the initrd and the kernel; padded with zeros to 176 bytes (16-byte multiple).
public struct SEVHashTable: Sendable, Equatable {
    public let cmdlineHash: [UInt8]
    public let initrdHash: [UInt8]
    public let kernelHash: [UInt8]

    static let headerGUID = OVMFGUID("9438d606-4f22-4cc9-b479-a793d411fd21")!.bytes
    static let cmdlineGUID = OVMFGUID("97d02dd8-bd20-4c94-aa78-e7714d36ab2a")!.bytes
    static let initrdGUID = OVMFGUID("44baf731-3a2f-4bd7-9af1-41e29169781d")!.bytes
    static let kernelGUID = OVMFGUID("4de79437-abd2-427f-b835-d5b172d2045b")!.bytes

    static let entrySize = 16 + 2 + 32
    static let tableSize = 16 + 2 + 3 * entrySize
    /// Size of the table as measured: rounded up to 16 bytes.
    public static let paddedSize = (tableSize + 15) & ~15

    /// Hashes the kernel and initrd bytes and the command line. QEMU hashes the command line
    /// with its terminating NUL, and an absent command line as a single NUL; an absent initrd
    /// hashes as empty.
    public init(kernel: [UInt8], initrd: [UInt8]?, cmdline: String?) {
        kernelHash = Array(SHA256.hash(data: kernel))
        initrdHash = Array(SHA256.hash(data: initrd ?? []))
        var cmdlineBytes = Array((cmdline ?? "").utf8)
        cmdlineBytes.append(0)
        cmdlineHash = Array(SHA256.hash(data: cmdlineBytes))
    }

    /// The 176-byte padded table.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.paddedSize)
        out += Self.headerGUID
        out += LittleEndian.bytes(UInt16(Self.tableSize))
        for (guid, hash) in [(Self.cmdlineGUID, cmdlineHash), (Self.initrdGUID, initrdHash), (Self.kernelGUID, kernelHash)] {
            out += guid
            out += LittleEndian.bytes(UInt16(Self.entrySize))
            out += hash
        }
        out += [UInt8](repeating: 0, count: Self.paddedSize - out.count)
        return out
    }

    /// A 4 KiB page holding the padded table at `offset` (the table GPA's offset in its page).
    public func page(offset: Int) -> [UInt8] {
        precondition(offset >= 0 && offset + Self.paddedSize <= 4096, "the hash table must fit in its page")
        var page = [UInt8](repeating: 0, count: 4096)
        page.replaceSubrange(offset..<offset + Self.paddedSize, with: bytes)
        return page
    }
}

extension SEVHashTable {
    /// Hashes the files QEMU's `-kernel`/`-initrd` load and its `-append` line.
    public init(kernelPath: String, initrdPath: String?, cmdline: String?) throws(MeasurementError) {
        let kernel = try FileContents.read(kernelPath, limit: InputFile.Limit.kernel)
        let initrd = try initrdPath.map { path throws(MeasurementError) in try FileContents.read(path, limit: InputFile.Limit.kernel) }
        self.init(kernel: kernel, initrd: initrd, cmdline: cmdline)
    }
}
