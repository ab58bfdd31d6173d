import FileAccess
import Foundation
import Numerals

/// The read-only fw-cfg files through which the guest learns the mailbox address and the
/// interface's read-only values (`-fw_cfg name=…,file=…`; docs/vmfwupdate.md).
///
/// The read-only values carry the names the v6 vmfwupdate patch gives its files
/// (`FILE_VMFWUPDATE_CAP`, `FILE_VMFWUPDATE_BIOS_SIZE`, `FILE_VMFWUPDATE_OBLOB` in its
/// include/hw/misc/vmfwupdate.h). Stock QEMU accepts `etc/` names from `-fw_cfg` with a warning
/// ("externally provided fw_cfg item names should be prefixed with \"opt/\""). The mailbox
/// address has no name in the thread (there the struct is the device), so it keeps ours.
public enum VMFWUpdateFwCfg {
    public static let mailboxGPAName = "opt/org.igvm-mgr/vmfwupdate/mailbox-gpa"
    /// u64 LE `capabilities` (bit 0 is BIOS_RESIZE in v6 and CAP_X86_RESIZE in the March 2025
    /// draft: the same bit; never offered).
    public static let capabilitiesName = "etc/vmfwupdate/cap"
    /// u64 LE `fw_rom_size` (v6: the BIOS region size).
    public static let firmwareROMSizeName = "etc/vmfwupdate/bios-size"
    /// The opaque blob of the last update, also left in RAM at `opaque_addr` (absent on a first boot).
    public static let opaqueName = "etc/vmfwupdate/opaque-blob"

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
