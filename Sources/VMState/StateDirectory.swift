import Launch
import Definition
import FileAccess
#if canImport(Glibc)
import Glibc
#endif

/// The folder under which every VM's state lives.
///
/// Default `$XDG_RUNTIME_DIR/igvm-mgr`, or `/run/igvm-mgr` for root; `--state-dir` and the
/// `IGVM_MGR_STATE_DIR` environment variable override it (in that order). The folder and
/// every VM folder in it are mode 0700: sockets inside give full control of the VMs.
public struct StateDirectory: Sendable, Equatable {
    /// The environment variable that overrides the default location.
    public static let environmentVariable = "IGVM_MGR_STATE_DIR"

    /// The absolute path of the state directory.
    public let path: String

    public init(path: String) { self.path = path }

    /// Resolves the location: `explicit` (from `--state-dir`), then the environment, then the default.
    public static func resolve(explicit: String?, environment: [String: String]) throws(StateError) -> StateDirectory {
        if let explicit, !explicit.isEmpty { return StateDirectory(path: Folder.absolute(explicit)) }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty {
            return StateDirectory(path: Folder.absolute(fromEnvironment))
        }
        if geteuid() == 0 { return StateDirectory(path: "/run/igvm-mgr") }
        guard let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty else {
            throw .invalidInput(
                "XDG_RUNTIME_DIR is not set: pass --state-dir or set \(environmentVariable) to choose the state directory")
        }
        return StateDirectory(path: Folder.absolute(runtime) + "/igvm-mgr")
    }

    /// The current process environment as a dictionary (no Foundation needed).
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let pair = String(cString: entry)
            if let equals = pair.firstIndex(of: "=") {
                result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }

    /// Creates the directory (and missing parents) and makes sure it is 0700; an existing one
    /// must pass `FolderTrust` first.
    public func create() throws(StateError) {
        try checkTrusted()
        do { try Folder.make(path, mode: 0o700) } catch { throw .system(error) }
    }

    /// Refuses a directory someone else controls (`FolderTrust`); a missing one passes.
    public func checkTrusted() throws(StateError) {
        if let problem = FolderTrust.check(path, kind: .stateDirectory) { throw .untrusted(problem) }
    }

    /// Creates the VM folder (0700); an existing one must be a real, trusted directory.
    public func createFolder(_ paths: VMPaths) throws(StateError) {
        if let problem = FolderTrust.check(paths.folder, kind: .vmFolder) { throw .untrusted(problem) }
        do { try Folder.make(paths.folder, mode: 0o700) } catch { throw .system(error) }
    }

    /// The paths of the VM called `name` (the name is checked first).
    public func vm(_ name: String) throws(StateError) -> VMPaths {
        guard VMName.isValid(name) else { throw .invalidInput("VM name \"\(name)\" is not valid: \(VMName.rule)") }
        let paths = VMPaths(folder: "\(path)/\(name)")
        // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
        let longest = max(paths.controlSocket.utf8.count, paths.qmpSocket.utf8.count)
        guard longest <= VMPaths.maximumSocketPathLength else {
            throw .invalidInput(
                "the socket path \(paths.controlSocket) is \(longest) bytes, over the \(VMPaths.maximumSocketPathLength)-byte limit of Unix sockets: use a shorter --state-dir or VM name")
        }
        return paths
    }

    /// Where `start` caches the capability probe of each QEMU binary (`QEMUCapabilityCache`); a
    /// leading dot keeps it apart from VM folders, whose names cannot start with one.
    public var capabilityCache: String { path + "/.qemu-caps" }

    /// The names of every VM that has a folder here, sorted.
    public func vmNames() -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard VMName.isValid(name) else { continue }
            // lstat: a symlink planted as a VM folder is not a VM.
            var info = stat()
            if lstat("\(path)/\(name)", &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { names.append(name) }
        }
        return names.sorted()
    }

}

/// Where each piece of one VM's state lives inside its folder.
public struct VMPaths: Sendable, Equatable {
    /// Unix socket paths are limited by `sockaddr_un.sun_path` (108 bytes with the NUL).
    public static let maximumSocketPathLength = 107

    public let folder: String
    public init(folder: String) { self.folder = folder }

    public var name: String { String(folder[folder.index(after: folder.lastIndex(of: "/")!)...]) }
    /// The resolved definition the VM was started from (a copy, so later edits don't change history).
    public var definition: String { folder + "/definition.toml" }
    /// The launch plan as JSON: binary, exact argv, and what the host checks need.
    public var plan: String { folder + "/plan.json" }
    /// The exact argv QEMU was started with, one JSON array.
    public var argv: String { folder + "/argv.json" }
    public var supervisorPid: String { folder + "/supervisor.pid" }
    public var qemuPid: String { folder + "/qemu.pid" }
    /// QEMU's own QMP monitor (a listening socket the supervisor creates and hands to QEMU).
    public var qmpSocket: String { folder + "/qmp.sock" }
    /// The supervisor's control socket (speaks QMP).
    public var controlSocket: String { folder + "/control.sock" }
    /// The guest's serial console (`[console]`): a socket QEMU listens on.
    public var consoleSocket: String { folder + "/console.sock" }
    /// Everything the guest printed on its serial console, appended across relaunches.
    public var consoleLog: String { folder + "/console.log" }
    /// QEMU's stdout and stderr.
    public var qemuLog: String { folder + "/qemu.log" }
    /// The supervisor's own diagnostics.
    public var supervisorLog: String { folder + "/supervisor.log" }
    /// Append-only JSON lines: one record per QMP event and lifecycle step.
    public var eventLog: String { folder + "/events.jsonl" }
    public var state: String { folder + "/state.json" }
    /// `flock`ed by the supervisor for its whole life (and by `start` before it).
    public var lock: String { folder + "/lock" }
}

extension QEMULaunch.ConsoleEndpoint {
    /// The console log in the VM's folder and its socket: the supervisor's descriptor, or
    /// (`inheritedSocket: false`, for a command line run by hand) the socket's path there.
    public init(_ paths: VMPaths, inheritedSocket: Bool = true) {
        self.init(socket: inheritedSocket ? .inheritedDescriptor : .socket(path: paths.consoleSocket), log: paths.consoleLog)
    }
}
