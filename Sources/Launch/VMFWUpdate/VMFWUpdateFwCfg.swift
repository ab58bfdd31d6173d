import Definition
import Capabilities
import FileAccess
import Foundation
import Numerals

/// The read-only fw-cfg files through which the guest learns the mailbox address and the
/// interface's read-only values (`-fw_cfg name=…,file=…`; docs/vmfwupdate.md).
public enum VMFWUpdateFwCfg {
    /// QEMU asks user-supplied fw-cfg names to start with "opt/" and a reverse-DNS owner.
    public static let prefix = "opt/org.igvm-mgr/vmfwupdate/"
    public static let mailboxGPAName = prefix + "mailbox-gpa"
    public static let capabilitiesName = prefix + "capabilities"
    public static let firmwareROMSizeName = prefix + "fw-rom-size"
    /// The opaque blob of the last update, for the guest's new firmware (absent on a first boot).
    public static let opaqueName = prefix + "opaque"

    /// One fw-cfg file: its name and its contents.
    public struct File: Sendable, Hashable {
        public var name: String
        public var contents: [UInt8]
    }

    /// The files every instance of a VM with the interface enabled gets.
    public static func files(mailboxGPA: UInt64, offer: VMFWUpdateOffer) -> [File] {
        [
            File(name: mailboxGPAName, contents: LittleEndian.bytes(mailboxGPA)),
            File(name: capabilitiesName, contents: LittleEndian.bytes(offer.capabilities.rawValue)),
            File(name: firmwareROMSizeName, contents: LittleEndian.bytes(offer.firmwareROMSize)),
        ]
    }
}

extension VMFWUpdateFwCfg {
    /// Writes `files` whole into `directory` (one file per fw-cfg name, named after its last
    /// path component) and returns the name → path pairs for `-fw_cfg`.
    public static func write(_ files: [File], into directory: String) throws -> [(name: String, path: String)] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let named = paths(files, in: directory)
        for (file, entry) in zip(files, named) { try AtomicFile.write(file.contents, to: entry.path) }
        return named
    }

    /// Where `write` puts each file: name → path pairs for `-fw_cfg`, nothing written.
    public static func paths(_ files: [File], in directory: String) -> [(name: String, path: String)] {
        files.map { ($0.name, "\(directory)/fw-cfg-\($0.name.split(separator: "/").last ?? "file")") }
    }
}
