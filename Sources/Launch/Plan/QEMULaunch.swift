import Definition
import JSON
import ObjectModel

/// Everything the supervisor needs to launch one QEMU run: the binary, the exact arguments
/// from the launch plan, and what the host checks and `state.json` need to know.
///
/// The supervisor adds only its own monitor (`-S` and a QMP chardev on an inherited listening
/// socket); everything else comes from here. The reset flows (vmfwupdate) relaunch by changing
/// a copy of this value — e.g. swapping the firmware arguments — and asking the supervisor
/// to launch it (`SupervisorControl.relaunch`).
public struct QEMULaunch: Sendable, Equatable {
    public var name: String
    /// `qemu-system-x86_64` (looked up on PATH) or an absolute path.
    public var binary: String
    /// QEMU's arguments after argv[0], without `-S`, `-qmp`, `-daemonize`.
    public var arguments: [String]
    public var requirements: HostRequirements
    /// The firmware in use (for `state.json` and `status`): a `-bios` image or an IGVM file.
    public var firmware: String?
    /// The definition file this launch came from (for `list` and `status`).
    public var definitionSource: String?
    /// Keep the guest's CPUs stopped after start-up (no `cont`).
    public var startPaused: Bool
    /// The launch digest this launch is expected to produce, which the supervisor records before
    /// it spawns QEMU. Set by `VMFWUpdateSetup.launch`: `sev-guest` and `sev-snp-guest` cannot be
    /// reset in place, so every launch of theirs is built there; other guests have no digest.
    public var launchMeasurement: ExpectedLaunchMeasurement?
    /// What the supervisor builds its reset/vmfwupdate policy from; nil for a guest that resets
    /// in place without the interface (QEMU's own reset stands).
    public var resetFlow: ResetFlowSource?
    /// The typed plan `arguments` were rendered from, for the capability check before a start
    /// (`LaunchCapabilityCheck`); not kept in `plan.json`, which holds the rendered arguments.
    public var plan: LaunchPlan?
    /// `[console]`: the first serial port goes to a socket in the VM's folder and is logged
    /// there; the supervisor, which knows the folder, names both (`argv(monitor:console:)`).
    public var console: Bool = false
    /// The guest's disks, NICs and vsock CID as `status` lists them (`GuestDevicePlan.summary`).
    public var devices: JSON = .null

    public init(name: String, binary: String, arguments: [String], requirements: HostRequirements = .init(accelerator: nil, confidentialType: nil),
                firmware: String? = nil, definitionSource: String? = nil, startPaused: Bool = false) {
        self.name = name
        self.binary = binary
        self.arguments = arguments
        self.requirements = requirements
        self.firmware = firmware
        self.definitionSource = definitionSource
        self.startPaused = startPaused
    }

    /// The chardev id of the supervisor's monitor; plans must not use it.
    public static let monitorChardevID = "igvm-mgr-qmp"
    /// The descriptor number QEMU finds the QMP listening socket on.
    public static let monitorDescriptor: Int32 = 3

    /// Options the supervisor owns; a plan that carries them is refused.
    static let reservedOptions: Set<String> = ["-daemonize", "-qmp", "-qmp-pretty", "-S", "-pidfile", "-runas"]

    /// Checks the arguments before anything is spawned.
    public func validate() throws(LifecycleError) {
        for argument in arguments where Self.reservedOptions.contains(argument) || Self.reservedOptions.contains("-" + argument) {
            throw .invalidInput("the launch plan of \(name) uses \(argument), which the supervisor manages itself")
        }
        for id in [Self.monitorChardevID, Self.consoleChardevID] where arguments.contains(where: { $0.contains("id=\(id)") }) {
            throw .invalidInput("the launch plan of \(name) uses the chardev id \(id), reserved for the supervisor")
        }
    }

    /// Where QEMU's monitor listens.
    public enum Monitor: Sendable, Equatable {
        /// The listening socket the supervisor creates and hands QEMU as descriptor 3.
        case inheritedDescriptor
        /// A socket QEMU creates itself at this path (`igvm-mgr args --qmp-socket`, to run the
        /// command line by hand).
        case socket(path: String)
    }

    /// The argv with the monitor on descriptor 3 and no console endpoint.
    public var argv: [String] { argv(monitor: .inheritedDescriptor) }

    /// The chardev id of the serial console; plans must not use it.
    public static let consoleChardevID = "igvm-mgr-console"

    /// The descriptor number QEMU finds its end of the console's socket pair on.
    public static let consoleDescriptor: Int32 = 4

    /// Where the serial console of a `[console]` VM goes.
    public struct ConsoleEndpoint: Sendable, Equatable {
        /// `.inheritedDescriptor`: QEMU's end of a connected socket pair (`server=off`) whose
        /// other end the supervisor relays, logs and lets one client attach to. `.socket(path)`,
        /// to run the command line by hand: QEMU listens at `path` (one client at a time) and
        /// appends what the guest prints to `log` itself (the chardev's `logfile`/`logappend`,
        /// chardev/char.c).
        public var socket: Monitor
        public var log: String

        public init(socket: Monitor, log: String) {
            self.socket = socket
            self.log = log
        }

        var arguments: [String] {
            let options: [(String, String)] = switch socket {
            case .inheritedDescriptor:
                // A client chardev "connects" through socket_connect() (util/qemu-sockets.c),
                // which uses an `fd` address as the connected socket it already is.
                [("fd", String(QEMULaunch.consoleDescriptor)), ("server", "off")]
            case .socket(let path):
                [("path", path), ("server", "on"), ("wait", "off"), ("logfile", log), ("logappend", "on")]
            }
            let chardev = KeyValueSyntax.render(implied: ("backend", "socket"), [("id", QEMULaunch.consoleChardevID)] + options)
            return ["-chardev", chardev, "-serial", "chardev:\(QEMULaunch.consoleChardevID)"]
        }
    }

    /// The argv with the monitor on `monitor` and, for a `[console]` VM, the console on
    /// `console`; everything else is what the supervisor runs.
    public func argv(monitor: Monitor, console endpoint: ConsoleEndpoint?) -> [String] {
        argv(monitor: monitor) + (console ? endpoint?.arguments ?? [] : [])
    }

    /// The argv with the monitor on `monitor` (no console endpoint).
    public func argv(monitor: Monitor) -> [String] {
        let endpoint: (String, String) = switch monitor {
        case .inheritedDescriptor: ("fd", String(Self.monitorDescriptor))
        case .socket(let path): ("path", path)
        }
        let chardev = KeyValueSyntax.render(implied: ("backend", "socket"), [
            ("id", Self.monitorChardevID), endpoint, ("server", "on"), ("wait", "off"),
        ])
        return [binary] + arguments + ["-S", "-chardev", chardev, "-mon", "chardev=\(Self.monitorChardevID),mode=control"]
    }

    public var json: JSON {
        var o: JSONObject = ["name": .string(name), "binary": .string(binary), "arguments": .array(arguments.map(JSON.string))]
        o["accelerator"] = requirements.accelerator.map(JSON.string) ?? .null
        o["confidential-type"] = requirements.confidentialType.map(JSON.string) ?? .null
        if requirements.encryptedState { o["encrypted-state"] = .bool(true) }
        if let cid = requirements.vsockGuestCID { o["vsock-guest-cid"] = JSON(Int(cid)) }
        o["firmware"] = firmware.map(JSON.string) ?? .null
        o["definition-source"] = definitionSource.map(JSON.string) ?? .null
        o["start-paused"] = .bool(startPaused)
        if let launchMeasurement { o["launch-measurement"] = launchMeasurement.json }
        if let resetFlow { o["reset-flow"] = resetFlow.json }
        if console { o["console"] = .bool(true) }
        if devices != .null { o["devices"] = devices }
        return .object(o)
    }

    public init(json: JSON) throws(LifecycleError) {
        guard let name = json["name"]?.stringValue, let binary = json["binary"]?.stringValue,
              let arguments = json["arguments"]?.arrayValue?.compactMap(\.stringValue)
        else { throw .failed("the launch plan lacks name, binary or arguments") }
        self.init(
            name: name, binary: binary, arguments: arguments,
            requirements: HostRequirements(accelerator: json["accelerator"]?.stringValue, confidentialType: json["confidential-type"]?.stringValue,
                                           encryptedState: json["encrypted-state"]?.boolValue ?? false,
                                           vsockGuestCID: json["vsock-guest-cid"]?.intValue.flatMap(UInt32.init(exactly:))),
            firmware: json["firmware"]?.stringValue, definitionSource: json["definition-source"]?.stringValue,
            startPaused: json["start-paused"]?.boolValue ?? false)
        launchMeasurement = ExpectedLaunchMeasurement(json: json["launch-measurement"])
        console = json["console"]?.boolValue ?? false
        devices = json["devices"] ?? .null
        if let flow = json["reset-flow"], flow != .null {
            guard let source = ResetFlowSource(json: flow) else {
                throw .failed("the launch plan's reset-flow lacks definition-file or definition-text")
            }
            resetFlow = source
        }
    }
}

/// The VM definition exactly as `start` read and validated it — its TOML text and the file it
/// came from (absolute; relative paths inside resolve against its folder) — kept in `plan.json`
/// so that the supervisor builds the reset/vmfwupdate flow from what was validated, never from
/// the user's file, which may have changed or gone since.
public struct ResetFlowSource: Sendable, Equatable {
    public var definitionFile: String
    public var definitionText: String
    /// The binary's IGVM loader as `start` probed it: decides the `FORMAT_IGVM` offer.
    public var igvmLoader: IGVMLoaderProbe?

    public init(definitionFile: String, definitionText: String) {
        self.definitionFile = definitionFile
        self.definitionText = definitionText
    }

    public init?(json: JSON) {
        guard let file = json["definition-file"]?.stringValue, let text = json["definition-text"]?.stringValue else { return nil }
        self.init(definitionFile: file, definitionText: text)
        igvmLoader = IGVMLoaderProbe(json: json["igvm-loader"])
    }

    public var json: JSON {
        var o: JSONObject = ["definition-file": .string(definitionFile), "definition-text": .string(definitionText)]
        if let igvmLoader { o["igvm-loader"] = igvmLoader.json }
        return .object(o)
    }

    /// The definition again, parsed as `start` parsed it.
    public func definition() throws(ConfigError) -> VMDefinition {
        try VMDefinition.parse(bytes: Array(definitionText.utf8), file: definitionFile)
    }
}
