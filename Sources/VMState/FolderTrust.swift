#if canImport(Glibc)
import Glibc
#endif

/// Whether a state directory or VM folder may be used: its sockets give full control of the
/// VMs and the supervisor (often root) writes there, so a folder someone else controls could
/// redirect those writes. The rule of ssh's `StrictModes` and of systemd's `RuntimeDirectory`:
/// owned by the caller or root, writable by nobody else, and — for a VM folder, which we create
/// ourselves — not a symbolic link.
public enum FolderTrust {
    public enum Kind: String, Sendable { case stateDirectory = "state directory", vmFolder = "VM folder" }

    /// Why the folder may not be used, or nil. Pure: `ownerUID`, `mode` and `isSymlink` are what
    /// `lstat` (`stat` for a state directory, which may be reached through a symlink) reported.
    public static func problem(path: String, kind: Kind, isDirectory: Bool, isSymlink: Bool, ownerUID: uid_t, mode: mode_t,
                               callerUID: uid_t) -> String? {
        if kind == .vmFolder && isSymlink { return "the \(kind.rawValue) \(path) is a symbolic link: refused" }
        if !isDirectory { return "the \(kind.rawValue) \(path) is not a directory" }
        if ownerUID != callerUID && ownerUID != 0 {
            return "the \(kind.rawValue) \(path) is owned by uid \(ownerUID), not by you (uid \(callerUID)) or root: refused"
        }
        if mode & 0o022 != 0 {
            return "the \(kind.rawValue) \(path) is writable by \(mode & 0o002 != 0 ? "others" : "its group") (mode \(String(mode & 0o7777, radix: 8))): refused"
        }
        return nil
    }

    /// Checks the folder at `path` if it exists (nil when it does not or passes).
    public static func check(_ path: String, kind: Kind) -> String? {
        var link = stat()
        guard lstat(path, &link) == 0 else { return nil }
        let isSymlink = (link.st_mode & S_IFMT) == S_IFLNK
        var info = link
        if isSymlink && kind == .stateDirectory && stat(path, &info) != 0 { return nil }
        return problem(path: path, kind: kind, isDirectory: (info.st_mode & S_IFMT) == S_IFDIR, isSymlink: isSymlink,
                       ownerUID: info.st_uid, mode: info.st_mode, callerUID: geteuid())
    }
}
