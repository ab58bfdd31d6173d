import FileAccess

#if canImport(Glibc)
import Glibc
#endif

/// The part of `qemu.log` one QEMU run wrote: its last lines go into the exit record, its error
/// lines into a failed start's message.
struct QEMUOutputLog {
    let path: String
    /// The binary's file name: QEMU prefixes its errors with it (`qemu-system-x86_64: …`).
    let binaryName: String
    /// Where the log ended when the run began.
    let offset: Int64

    init(path: String, binary: String) {
        self.path = path
        binaryName = binary.split(separator: "/").last.map(String.init) ?? binary
        var info = stat()
        offset = !path.isEmpty && stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// The last `lines` lines QEMU printed during this run.
    func tail(lines: Int = 20) -> [String] {
        guard !path.isEmpty, let bytes = try? FileDescriptorIO.readTail(path, from: offset, maximum: 8192) else { return [] }
        let text = String(decoding: bytes, as: UTF8.self)
        return Array(text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init).suffix(lines))
    }

    /// QEMU's error lines (`qemu-system-x86_64: …`), or the whole tail when none look like errors.
    func errorLines(in tail: [String]) -> [String] {
        let errors = tail.filter { $0.hasPrefix(binaryName + ":") || $0.hasPrefix("qemu") }
        return errors.isEmpty ? tail : errors
    }
}
