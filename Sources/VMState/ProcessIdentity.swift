import FileAccess
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// A process as "pid + the time it started", so that a recycled pid is never mistaken for
/// the QEMU or supervisor we launched (after a reboot or a long uptime pids come back).
public struct ProcessIdentity: Sendable, Equatable {
    public var pid: Int32
    /// Field 22 of `/proc/PID/stat`: start time in clock ticks since boot.
    public var startTicks: UInt64

    public init(pid: Int32, startTicks: UInt64) {
        self.pid = pid
        self.startTicks = startTicks
    }

    /// The identity of the live process `pid`, or nil when there is none.
    public static func of(pid: Int32) -> ProcessIdentity? {
        guard pid > 0, let ticks = startTicks(of: pid) else { return nil }
        return ProcessIdentity(pid: pid, startTicks: ticks)
    }

    /// Whether this very process is still alive (a zombie counts as gone).
    public var isAlive: Bool {
        guard let stat = Self.statFields(of: pid), stat.count > 19 else { return false }
        // stat[0] is the state (after the command name); Z = zombie, X = dead.
        if stat[0] == "Z" || stat[0] == "X" { return false }
        return UInt64(stat[19]) == startTicks
    }

    /// Whether this very process is stopped (SIGSTOP, a debugger): it handles no signal but SIGKILL.
    public var isStopped: Bool {
        guard let stat = Self.statFields(of: pid), stat.count > 19, UInt64(stat[19]) == startTicks else { return false }
        return stat[0] == "T" || stat[0] == "t"
    }

    static func startTicks(of pid: Int32) -> UInt64? {
        guard let fields = statFields(of: pid), fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// The fields of /proc/PID/stat after the parenthesised command name (which may hold spaces).
    private static func statFields(of pid: Int32) -> [Substring]? {
        guard let bytes = try? FileDescriptorIO.readFile("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }
}

extension ProcessIdentity {
    var json: JSON { ["pid": JSON(Int(pid)), "start-ticks": JSON(startTicks)] }

    init?(json: JSON?) {
        guard let json, let pid = json["pid"]?.intValue, let ticks = json["start-ticks"]?.uint64Value else { return nil }
        self.init(pid: Int32(pid), startTicks: ticks)
    }
}
