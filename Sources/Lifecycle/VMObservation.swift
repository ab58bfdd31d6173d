import FirmwareUpdate
import Supervisor
import VMState
import Launch
import JSON

/// The phase `list` and `status` show: a recorded `VMPhase`, or what the processes say when the
/// record cannot be right (its supervisor is gone).
public enum ObservedPhase: String, Sendable, CaseIterable, CustomStringConvertible {
    case starting, running, paused, stopping, stopped, failed, crashed
    /// QEMU runs but its supervisor is gone.
    case orphaned
    /// Both are gone while the record says active (killed without recording an exit).
    case lost
    /// The folder has no readable `state.json`.
    case unknown

    public init(_ phase: VMPhase) {
        switch phase {
        case .starting: self = .starting
        case .running: self = .running
        case .paused: self = .paused
        case .stopping: self = .stopping
        case .stopped: self = .stopped
        case .failed: self = .failed
        case .crashed: self = .crashed
        }
    }

    public var description: String { rawValue }
}

/// A VM's recorded state checked against the processes that are actually alive, so that every
/// VM in the state directory has an explanation — even after `kill -9` of its supervisor.
public struct VMObservation: Sendable {
    public var name: String
    public var paths: VMPaths
    /// nil when the folder has no (readable) `state.json`.
    public var state: VMState?
    public var supervisorAlive: Bool
    public var qemuAlive: Bool

    /// The phase to show: the recorded one, or `orphaned` (QEMU alive, supervisor gone), or `lost`
    /// (both gone while the record says active), or `unknown` (no state file).
    public var phase: ObservedPhase {
        guard let state else { return supervisorAlive ? .starting : .unknown }
        guard state.phase.isActive, !supervisorAlive else { return ObservedPhase(state.phase) }
        return qemuAlive ? .orphaned : .lost
    }

    /// One sentence explaining a phase that needs it (nil for ordinary ones).
    public var explanation: String? {
        switch phase {
        case .orphaned:
            return "its supervisor (pid \(state?.supervisor?.pid ?? 0)) is gone but QEMU (pid \(state?.qemu?.pid ?? 0)) still runs; `stop` or `cleanup` ends it"
        case .lost:
            return "its supervisor and QEMU are both gone without recording an exit (killed); `cleanup` records it"
        case .unknown:
            return "the folder has no readable state.json"
        case .failed:
            return state?.error
        case .crashed, .stopped:
            return state?.lastExit.map { "QEMU \($0.termination) (\($0.reason)\($0.stopStep.map { ", ended by \($0)" } ?? ""))" }
        case .starting, .running, .paused, .stopping:
            return nil
        }
    }

    /// Looks at the VM `name` in `directory`.
    public static func observe(_ name: String, in directory: StateDirectory) throws(LifecycleError) -> VMObservation {
        let paths = try stateAccess { () throws(StateError) in try directory.vm(name) }
        let state = try? VMState.read(paths.state)
        let supervisorAlive = VMLock.isHeld(paths.lock)
        let qemuAlive = state?.qemu?.isAlive ?? false
        return VMObservation(name: name, paths: paths, state: state ?? nil, supervisorAlive: supervisorAlive, qemuAlive: qemuAlive)
    }

    /// Every VM in `directory`.
    public static func observeAll(in directory: StateDirectory) -> [VMObservation] {
        directory.vmNames().compactMap { try? observe($0, in: directory) }
    }

    /// Seconds since the current run started, when it is running.
    public var uptimeSeconds: Int64? {
        guard qemuAlive, let startedAt = state?.startedAt, let started = Self.parseRFC3339(startedAt) else { return nil }
        return max(0, Timestamp.now().seconds - started)
    }

    public var json: JSON {
        var o: JSONObject = ["name": .string(name), "phase": .string(phase.rawValue)]
        o["pid"] = qemuAlive ? state?.qemu.map { JSON(Int($0.pid)) } ?? .null : .null
        o["supervisor-pid"] = supervisorAlive ? state?.supervisor.map { JSON(Int($0.pid)) } ?? .null : .null
        o["uptime-seconds"] = uptimeSeconds.map { JSON($0) } ?? .null
        o["config"] = state?.definitionSource.map(JSON.string) ?? .null
        o["explanation"] = explanation.map(JSON.string) ?? .null
        return .object(o)
    }

    /// Parses the timestamps `Timestamp` writes (UTC, `YYYY-MM-DDTHH:MM:SS…Z`) to epoch seconds.
    static func parseRFC3339(_ text: String) -> Int64? {
        let digits = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int64($0) }
        guard digits.count >= 6 else { return nil }
        let (y, m, d) = (digits[0], digits[1], digits[2])
        // Days from civil (Howard Hinnant's algorithm).
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return days * 86400 + digits[3] * 3600 + digits[4] * 60 + digits[5]
    }
}
