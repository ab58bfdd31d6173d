import Launch
import FileAccess
import JSON

/// Where a VM is in its life, as the supervisor records it in `state.json`.
public enum VMPhase: String, Sendable, CaseIterable {
    /// The supervisor is launching QEMU (host checks, spawn, QMP negotiation).
    case starting
    case running
    /// QEMU is alive with the guest's CPUs stopped (`-S`, `stop`, a paused shutdown).
    case paused
    /// A stop was requested and is in progress.
    case stopping
    /// QEMU exited because it was asked to (stop, destroy, guest power-off).
    case stopped
    /// QEMU never got to running (host check, bad option, early exit).
    case failed
    /// QEMU exited without being asked (crash, `kill -9`).
    case crashed

    /// Whether a supervisor and QEMU are expected to be alive in this phase.
    public var isActive: Bool { self == .starting || self == .running || self == .paused || self == .stopping }
}

/// How a process ended.
public enum ProcessTermination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// QEMU was not our child (its supervisor was gone), so its status could not be collected.
    case unknown

    /// Decodes a `waitpid` status.
    public init(waitStatus status: Int32) {
        if status & 0x7f == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(status & 0x7f)
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "killed by signal \(signal) (\(Self.signalName(signal)))"
        case .unknown: return "ended (status unknown: its supervisor was gone)"
        }
    }

    public static func signalName(_ signal: Int32) -> String {
        switch signal {
        case 1: return "SIGHUP"
        case 2: return "SIGINT"
        case 6: return "SIGABRT"
        case 9: return "SIGKILL"
        case 11: return "SIGSEGV"
        case 15: return "SIGTERM"
        default: return "signal \(signal)"
        }
    }
}

/// What ended the last QEMU run: its termination, who asked, which stop step finished it,
/// and the tail of what it printed (QEMU's own error lines, which other stacks hide behind a
/// QMP "command cancelled"; docs/background.md, "QMP and libvirt conventions the lifecycle follows").
public struct ExitRecord: Sendable, Equatable {
    public var termination: ProcessTermination
    /// Why: "stop", "guest-shutdown", "unexpected", "start-failed", "destroy", …
    public var reason: String
    /// The stop step that ended it ("acpi", "quit", "sigterm", "sigkill"), when a stop did.
    public var stopStep: String?
    /// The last lines QEMU wrote to stdout/stderr during this run.
    public var outputTail: [String]
    public var at: String

    public init(termination: ProcessTermination, reason: String, stopStep: String? = nil, outputTail: [String] = [], at: String = Timestamp.nowRFC3339()) {
        self.termination = termination
        self.reason = reason
        self.stopStep = stopStep
        self.outputTail = outputTail
        self.at = at
    }

    public var json: JSON {
        var o: JSONObject = [:]
        switch termination {
        case .exited(let code): o["status"] = "exited"; o["code"] = JSON(Int(code))
        case .signaled(let signal): o["status"] = "signaled"; o["signal"] = JSON(Int(signal))
        case .unknown: o["status"] = "unknown"
        }
        o["description"] = .string(termination.description)
        o["reason"] = .string(reason)
        if let stopStep { o["stop-step"] = .string(stopStep) }
        o["output-tail"] = .array(outputTail.map(JSON.string))
        o["at"] = .string(at)
        return .object(o)
    }

    public init?(json: JSON?) {
        guard let json, let status = json["status"]?.stringValue else { return nil }
        switch status {
        case "exited": termination = .exited(Int32(json["code"]?.intValue ?? 0))
        case "signaled": termination = .signaled(Int32(json["signal"]?.intValue ?? 0))
        case "unknown": termination = .unknown
        default: return nil
        }
        reason = json["reason"]?.stringValue ?? "unknown"
        stopStep = json["stop-step"]?.stringValue
        outputTail = json["output-tail"]?.arrayValue?.compactMap(\.stringValue) ?? []
        at = json["at"]?.stringValue ?? ""
    }
}

/// The contents of a VM's `state.json`, always written whole.
public struct VMState: Sendable, Equatable {
    public var name: String
    public var phase: VMPhase
    public var supervisor: ProcessIdentity?
    public var qemu: ProcessIdentity?
    /// When the current (or last) QEMU run started.
    public var startedAt: String?
    /// The firmware in use (a `-bios` image or an IGVM file), when the plan names one.
    public var firmware: String?
    /// `sev-guest`, `sev-snp-guest`, … or nil for an ordinary guest.
    public var confidentialType: String?
    /// The launch digest the current (or last) run is expected to produce, or why it could not
    /// be computed; nil for guests without one (ordinary, `nocc`).
    public var launchMeasurement: ExpectedLaunchMeasurement?
    /// QEMU's version from the QMP greeting.
    public var qemuVersion: String?
    /// The definition file the VM was started from.
    public var definitionSource: String?
    public var lastExit: ExitRecord?
    /// A one-line reason when `phase` is `failed`.
    public var error: String?
    /// The vmfwupdate flow of this start: phase, firmware in use, updates and relaunches
    /// (`FirmwareUpdateRecord`); nil for VMs outside the flow.
    public var vmfwupdate: FirmwareUpdateRecord?

    public init(name: String, phase: VMPhase) {
        self.name = name
        self.phase = phase
    }

    public var json: JSON {
        var o: JSONObject = ["name": .string(name), "phase": .string(phase.rawValue)]
        o["supervisor"] = supervisor?.json ?? .null
        o["qemu"] = qemu?.json ?? .null
        o["started-at"] = startedAt.map(JSON.string) ?? .null
        o["firmware"] = firmware.map(JSON.string) ?? .null
        o["confidential-type"] = confidentialType.map(JSON.string) ?? .null
        o["launch-measurement"] = launchMeasurement?.json ?? .null
        o["qemu-version"] = qemuVersion.map(JSON.string) ?? .null
        o["definition-source"] = definitionSource.map(JSON.string) ?? .null
        o["last-exit"] = lastExit?.json ?? .null
        o["error"] = error.map(JSON.string) ?? .null
        if let vmfwupdate { o["vmfwupdate"] = vmfwupdate.json }
        return .object(o)
    }

    public init(json: JSON) throws(StateError) {
        guard let name = json["name"]?.stringValue else { throw .corruptRecord(path: "state.json", reason: "no \"name\"") }
        guard let phaseText = json["phase"]?.stringValue, let phase = VMPhase(rawValue: phaseText) else {
            throw .corruptRecord(path: "state.json of \(name)", reason: "an unknown \"phase\"")
        }
        self.init(name: name, phase: phase)
        supervisor = ProcessIdentity(json: json["supervisor"])
        qemu = ProcessIdentity(json: json["qemu"])
        startedAt = json["started-at"]?.stringValue
        firmware = json["firmware"]?.stringValue
        confidentialType = json["confidential-type"]?.stringValue
        launchMeasurement = ExpectedLaunchMeasurement(json: json["launch-measurement"])
        qemuVersion = json["qemu-version"]?.stringValue
        definitionSource = json["definition-source"]?.stringValue
        lastExit = ExitRecord(json: json["last-exit"])
        error = json["error"]?.stringValue
        vmfwupdate = FirmwareUpdateRecord(json: json["vmfwupdate"])
    }

    /// Reads `state.json` at `path`; nil when the file does not exist.
    public static func read(_ path: String) throws(StateError) -> VMState? {
        let bytes: [UInt8]?
        do { bytes = try FileDescriptorIO.readFile(path, followingSymlinks: false) } catch { throw .system(error) }
        guard let bytes else { return nil }
        let json: JSON
        do { json = try JSON.decode(bytes: bytes) } catch { throw .corruptRecord(path: path, reason: "\(error)") }
        do { return try VMState(json: json) } catch {
            if case .corruptRecord(_, let reason) = error { throw .corruptRecord(path: path, reason: reason) }
            throw error
        }
    }

    /// Writes `state.json` whole (temp + fsync + rename).
    public func write(_ path: String) throws(StateError) {
        do {
            try AtomicFile.write((try? json.encoded(pretty: true)) ?? "{}", to: path)
        } catch {
            throw .system(error)
        }
    }
}
