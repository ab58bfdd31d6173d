import JSON
import Launch

/// The vmfwupdate flow's record in `state.json` (key `vmfwupdate`): where the flow is, which
/// firmware runs and which is next, and the counters `status` shows. Written whole by the
/// supervisor at every step, so that a supervisor killed mid-update leaves its step (and the
/// stored image) on record for `status` and the next supervisor.
public struct FirmwareUpdateRecord: Sendable, Equatable {
    /// The flow's phase as recorded (one per `FirmwareUpdateFlow.Phase`; a quit that follows a
    /// stored update is `imageStored`, one that only reboots is `quitting`).
    public enum Phase: String, Sendable, CaseIterable {
        case running
        case readingRequest = "reading-request"
        case readingImage = "reading-image"
        case storingImage = "storing-image"
        case imageStored = "image-stored"
        case quitting
        case launching
        case resetting
        case poweringOff = "powering-off"
        case stopped
        case failed

        /// Whether the flow rests here: any other phase, found by a new supervisor, means an
        /// update was interrupted.
        public var isSettled: Bool { self == .running || self == .stopped }
    }

    public var phase: Phase
    /// The firmware the current (or last) instance boots.
    public var firmware: FirmwareInUse
    /// The firmware of the instance being launched (while quitting or launching).
    public var nextFirmware: FirmwareInUse?
    public var updates: Int
    public var relaunches: Int
    public var resets: Int
    /// Why the flow failed (phase `failed`).
    public var error: String?

    public init(phase: Phase, firmware: FirmwareInUse, nextFirmware: FirmwareInUse? = nil,
                updates: Int = 0, relaunches: Int = 0, resets: Int = 0, error: String? = nil) {
        self.phase = phase
        self.firmware = firmware
        self.nextFirmware = nextFirmware
        self.updates = updates
        self.relaunches = relaunches
        self.resets = resets
        self.error = error
    }

    public var json: JSON {
        var object: JSONObject = [
            "phase": .string(phase.rawValue), "firmware": firmware.json, "updates": JSON(updates),
            "relaunches": JSON(relaunches), "resets": JSON(resets),
        ]
        if let nextFirmware { object["next-firmware"] = nextFirmware.json }
        if let error { object["error"] = .string(error) }
        return .object(object)
    }

    /// The record in `json`, or nil when it is not one (a missing or unknown phase or firmware).
    public init?(json: JSON?) {
        guard let json, let phase = json["phase"]?.stringValue.flatMap(Phase.init(rawValue:)),
              let firmware = FirmwareInUse(json: json["firmware"])
        else { return nil }
        self.init(phase: phase, firmware: firmware, nextFirmware: FirmwareInUse(json: json["next-firmware"]),
                  updates: json["updates"]?.intValue ?? 0, relaunches: json["relaunches"]?.intValue ?? 0,
                  resets: json["resets"]?.intValue ?? 0, error: json["error"]?.stringValue)
    }
}
