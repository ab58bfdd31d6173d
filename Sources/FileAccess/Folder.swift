#if canImport(Glibc)
import Glibc
#endif

/// Folders and paths of the files igvm-mgr keeps (the state directory, a VM's interface files).
public enum Folder {
    /// Creates `path` and its missing parents (parents 0755, `path` itself `mode`), then sets
    /// `path`'s mode: an existing folder gets `mode` too.
    public static func make(_ path: String, mode: mode_t) throws(SystemError) {
        var prefix = ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, prefix == path ? mode : 0o755) != 0 && errno != EEXIST {
                throw SystemError("cannot create the folder", prefix)
            }
        }
        guard chmod(path, mode) == 0 else { throw SystemError("cannot set the mode of", path) }
    }

    /// `path` made absolute against the working directory (without resolving links).
    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (cwd == "/" ? "" : cwd) + "/" + path
    }
}
