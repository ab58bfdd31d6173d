import VMState
import Launch
import FileAccess

#if canImport(Glibc)
import Glibc
#endif

/// Starts programs with `posix_spawn` from an argv array — never through `/bin/sh` — with
/// exactly the descriptors we choose: stdin from /dev/null, stdout and stderr to a log, and
/// named descriptors mapped to fixed numbers (the QMP listening socket, the VM lock, the
/// readiness pipe). Everything else is closed in the child.
public struct SpawnRequest: Sendable {
    /// An absolute path, or a bare name looked up on `PATH`.
    public var executable: String
    /// argv[1...] (argv[0] is the executable as given).
    public var arguments: [String]
    /// Where the child's stdout and stderr go (appended).
    public var logPath: String
    /// `(descriptor in this process, number in the child)`.
    public var inheritedDescriptors: [(source: Int32, target: Int32)] = []
    /// Start a new session (`setsid`): the child survives its parent's terminal and signals.
    public var newSession: Bool = false
    /// `NAME=value` entries added to (and overriding) this process's environment.
    public var extraEnvironment: [String] = []

    public init(executable: String, arguments: [String], logPath: String) {
        self.executable = executable
        self.arguments = arguments
        self.logPath = logPath
    }
}

public enum ProcessSpawner {
    /// Spawns the request; returns the child's pid.
    public static func spawn(_ request: SpawnRequest) throws(LifecycleError) -> Int32 {
        let path = try resolve(request.executable)
        let logFD = try openLog(request.logPath)
        defer { close(logFD) }

        let staged = try stage(request.inheritedDescriptors)
        defer { for (fd, _) in staged { close(fd) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, logFD, 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        var highestTarget: Int32 = 2
        for (high, target) in staged {
            posix_spawn_file_actions_adddup2(&actions, high, target)
            highestTarget = max(highestTarget, target)
        }
        // Nothing else leaks into the child (NIO and Foundation descriptors are CLOEXEC, but
        // a library that forgot must not hand QEMU a socket it has no business holding).
        _ = GlibcExtensions.addCloseFrom?(&actions, highestTarget + 1)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if request.newSession { flags |= GlibcExtensions.spawnSetSID }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = [request.executable] + request.arguments
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        var cEnvironment: [UnsafeMutablePointer<CChar>?] = environment(adding: request.extraEnvironment).map { strdup($0) } + [nil]
        defer { for p in cEnvironment { free(p) } }
        let result = posix_spawn(&pid, path, &actions, &attributes, &cArgs, &cEnvironment)
        guard result == 0 else {
            throw .failed(SystemError("cannot start", path, code: result).description)
        }
        return pid
    }

    /// The child's stdout and stderr: `path`, appended to (the caller closes it).
    static func openLog(_ path: String) throws(LifecycleError) -> Int32 {
        let fd = retryingOnInterrupt { open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw LifecycleError(SystemError("cannot open the log", path)) }
        return fd
    }

    /// This process's environment with `extra` (`NAME=value`) added, replacing same-named entries.
    static func environment(adding extra: [String]) -> [String] {
        let names = Set(extra.map { $0.prefix { $0 != "=" } })
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let pair = String(cString: entry)
            if !names.contains(pair.prefix { $0 != "=" }) { result.append(pair) }
            cursor += 1
        }
        return result + extra
    }

    /// Copies every inherited descriptor above the targets first, so that dup2 onto a target
    /// can never clobber a source that has not been copied yet. The caller closes the copies.
    static func stage(_ descriptors: [(source: Int32, target: Int32)]) throws(LifecycleError) -> [(Int32, Int32)] {
        var staged: [(Int32, Int32)] = []
        for (source, target) in descriptors {
            let high = fcntl(source, F_DUPFD_CLOEXEC, 64)
            guard high >= 0 else {
                for (fd, _) in staged { close(fd) }
                throw LifecycleError(SystemError("cannot duplicate descriptor", String(source)))
            }
            staged.append((high, target))
        }
        return staged
    }

    /// The absolute path of `executable` (searched on PATH when it has no slash).
    public static func resolve(_ executable: String) throws(LifecycleError) -> String {
        if executable.contains("/") {
            guard access(executable, X_OK) == 0 else {
                throw .invalidInput("\(executable) is not an executable file")
            }
            return executable
        }
        let path = StateDirectory.processEnvironment()["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let candidate = "\(folder)/\(executable)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw .invalidInput("\(executable) was not found on PATH")
    }
}

/// glibc extensions the Swift Glibc module does not import (they need `_GNU_SOURCE`).
enum GlibcExtensions {
    /// `POSIX_SPAWN_SETSID` from glibc's <spawn.h> (glibc ≥ 2.26; part of POSIX 2024).
    static let spawnSetSID: Int32 = 0x80

    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    /// `posix_spawn_file_actions_addclosefrom_np` (glibc ≥ 2.34), looked up at run time; nil on
    /// older C libraries, where the CLOEXEC flags alone keep descriptors from leaking.
    static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
}
