import JSON

/// A firmware image the guest supplied, as stored in the VM's state folder.
public struct StoredFirmware: Sendable, Hashable {
    public var format: FirmwareImageFormat
    public var imagePath: String
    /// Lowercase hex SHA-256 of the image.
    public var imageSHA256: String
    public var imageSize: UInt64
    /// The opaque blob handed to the new firmware as a read-only fw-cfg file, if any.
    public var opaquePath: String?
    public var opaqueSHA256: String?
    /// The launch digest of the relaunch on this image (for `sev-guest`/`sev-snp-guest`; nil for
    /// ordinary guests), computed when the image is stored, before the old instance is quit.
    public var launchMeasurement: ExpectedLaunchMeasurement?

    public init(format: FirmwareImageFormat, imagePath: String, imageSHA256: String, imageSize: UInt64,
                opaquePath: String? = nil, opaqueSHA256: String? = nil, launchMeasurement: ExpectedLaunchMeasurement? = nil) {
        self.format = format
        self.imagePath = imagePath
        self.imageSHA256 = imageSHA256
        self.imageSize = imageSize
        self.opaquePath = opaquePath
        self.opaqueSHA256 = opaqueSHA256
        self.launchMeasurement = launchMeasurement
    }

    /// How a definition names this image as its firmware (what the relaunch boots).
    public var bootSource: BootSource {
        switch format {
        case .platformROM: .bios(imagePath)
        case .igvm: .igvm(file: imagePath)
        }
    }

    public var json: JSON {
        var object: JSONObject = [
            "format": .string(format.rawValue), "image": .string(imagePath),
            "sha256": .string(imageSHA256), "size": JSON(imageSize),
        ]
        if let opaquePath { object["opaque"] = .string(opaquePath) }
        if let opaqueSHA256 { object["opaque-sha256"] = .string(opaqueSHA256) }
        if let launchMeasurement { object["launch-measurement"] = launchMeasurement.json }
        return .object(object)
    }
}

/// Which firmware an instance boots.
public enum FirmwareInUse: Sendable, Hashable {
    /// The provider's firmware from the VM's config (every `start` boots this).
    case provider
    /// An image the guest supplied through the interface.
    case guestSupplied(StoredFirmware)

    public var json: JSON {
        switch self {
        case .provider: ["source": "provider"]
        case .guestSupplied(let stored): ["source": "guest", "stored": stored.json]
        }
    }
}

/// The image and opaque blob read out of guest memory.
public struct FirmwareUpdatePayload: Sendable, Hashable {
    public var format: FirmwareImageFormat
    public var image: [UInt8]
    public var opaque: [UInt8]?

    public init(format: FirmwareImageFormat, image: [UInt8], opaque: [UInt8]?) {
        self.format = format
        self.image = image
        self.opaque = opaque
    }
}

/// Checks image bytes that the request alone cannot vouch for (an IGVM file's structure and
/// platform). Returns the reason to reject, or nil.
public protocol FirmwareImageChecking: Sendable {
    func problem(with payload: FirmwareUpdatePayload) -> String?
}

/// The bytes read must be exactly what the request named; a platform ROM needs nothing more
/// (the reset vector is the guest's business, as with any `-bios`).
public struct ReadLengthCheck: FirmwareImageChecking {
    public var request: FirmwareUpdateRequest
    public init(request: FirmwareUpdateRequest) { self.request = request }
    public func problem(with payload: FirmwareUpdatePayload) -> String? {
        if UInt64(payload.image.count) != request.image.length {
            return "read \(payload.image.count) image bytes, the request names \(request.image.length)"
        }
        if UInt64(payload.opaque?.count ?? 0) != (request.opaque?.length ?? 0) {
            return "read \(payload.opaque?.count ?? 0) opaque bytes, the request names \(request.opaque?.length ?? 0)"
        }
        return nil
    }
}

/// One entry for the event log (and an `x-igvm-mgr` event on the control socket).
public enum FirmwareUpdateEvent: Sendable, Hashable {
    case guestReset
    /// A reset the host asked for (QMP `system_reset`), not the guest.
    case hostReset
    case guestPoweredOff
    case noUpdate(NoUpdateReason)
    case requestRead(FirmwareUpdateRequest)
    case requestRejected(reason: String)
    case imageStored(StoredFirmware)
    case instanceQuit
    case instanceLaunched(FirmwareInUse)
    case resetInPlace
    case stepFailed(step: String, reason: String)

    /// The event's name in the log and on the control socket.
    public var name: String {
        switch self {
        case .guestReset: "vmfwupdate-guest-reset"
        case .hostReset: "vmfwupdate-host-reset"
        case .guestPoweredOff: "vmfwupdate-guest-poweroff"
        case .noUpdate: "vmfwupdate-no-update"
        case .requestRead: "vmfwupdate-request-read"
        case .requestRejected: "vmfwupdate-request-rejected"
        case .imageStored: "vmfwupdate-image-stored"
        case .instanceQuit: "vmfwupdate-instance-quit"
        case .instanceLaunched: "vmfwupdate-instance-launched"
        case .resetInPlace: "vmfwupdate-reset-in-place"
        case .stepFailed: "vmfwupdate-step-failed"
        }
    }

    public var data: JSON {
        let empty: JSON = [:]
        switch self {
        case .guestReset, .hostReset, .guestPoweredOff, .instanceQuit, .resetInPlace: return empty
        case .noUpdate(let reason): return ["reason": .string(reason.rawValue)]
        case .requestRead(let request):
            var object: JSONObject = [
                "format": .string(request.format.rawValue),
                "image-addr": JSON(request.image.start), "image-size": JSON(request.image.length),
            ]
            if let opaque = request.opaque {
                object["opaque-addr"] = JSON(opaque.start)
                object["opaque-size"] = JSON(opaque.length)
            }
            return .object(object)
        case .requestRejected(let reason): return ["reason": .string(reason)]
        case .imageStored(let stored): return stored.json
        case .instanceLaunched(let firmware): return firmware.json
        case .stepFailed(let step, let reason): return ["step": .string(step), "reason": .string(reason)]
        }
    }
}

/// The reset policy and the vmfwupdate flow as a pure state machine: it is fed what happened
/// (a guest reset, the mailbox read, the image stored, the old instance gone…) and answers with
/// the steps to take. The supervisor performs the steps (see `FirmwareUpdateExecutor`); keeping
/// the decisions here makes every branch testable without QEMU, and the phase is what
/// `state.json` records so that a supervisor killed mid-update can be recovered.
public struct FirmwareUpdateFlow: Sendable {
    /// What the VM is doing, from the flow's point of view.
    public enum Phase: Sendable, Hashable {
        case running
        case readingRequest
        case readingPayload(FirmwareUpdateRequest)
        case storing(FirmwareUpdateRequest)
        /// The old instance is being quit; `next` is what to launch after it.
        case quitting(next: FirmwareInUse, isUpdate: Bool)
        case launching(FirmwareInUse, isUpdate: Bool)
        case resettingInPlace
        case poweringOff
        case stopped
        /// A step failed where no safe continuation exists (quit or launch); the VM is down.
        case failed(reason: String)

        /// The phase's name in `state.json`.
        public var name: String {
            switch self {
            case .running: "running"
            case .readingRequest: "reading-request"
            case .readingPayload: "reading-image"
            case .storing: "storing-image"
            case .quitting(_, let isUpdate): isUpdate ? "image-stored" : "quitting"
            case .launching: "launching"
            case .resettingInPlace: "resetting"
            case .poweringOff: "powering-off"
            case .stopped: "stopped"
            case .failed: "failed"
            }
        }
    }

    /// What happened.
    public enum Input: Sendable, Hashable {
        /// SHUTDOWN {guest: true, reason: "guest-reset"}: the VM is paused with memory intact.
        case guestReset
        /// SHUTDOWN {guest: false, reason: "host-qmp-system-reset"}: QMP `system_reset` under the
        /// reset policy (QEMU's `qemu_system_reset_request` turns it into a shutdown when the
        /// reboot action is `shutdown`, system/runstate.c); the VM is paused like a guest reset.
        case hostReset
        /// SHUTDOWN {guest: true, reason: "guest-shutdown"}.
        case guestPowerOff
        case mailboxRead(VMFWUpdateMailbox.Contents)
        case payloadRead(FirmwareUpdatePayload)
        case stored(StoredFirmware)
        case instanceQuit
        case instanceLaunched
        case resetCompleted
        /// The step the flow asked for could not be done.
        case stepFailed(reason: String)
    }

    /// What to do next.
    public enum Step: Sendable, Hashable {
        case log(FirmwareUpdateEvent)
        /// Read the mailbox (or the device's registers) of the paused instance.
        case readMailbox
        /// Read the image and the opaque blob out of guest memory.
        case readPayload(FirmwareUpdateRequest)
        /// Write the payload to the state folder, whole, before anything is torn down.
        case store(FirmwareUpdatePayload)
        case quitInstance
        /// Launch a new instance (fresh confidential context) booting `firmware`.
        case launchInstance(FirmwareInUse)
        /// An ordinary guest's reboot: `system_reset` + `cont` in the same QEMU.
        case resetInPlace
        /// The VM is down after a guest poweroff: record phase `stopped`.
        case finishStopped
    }

    /// Whether QEMU can reset the guest in place; confidential guests cannot and are relaunched
    /// (`VMFWUpdateSetup.canResetInPlace`; docs/background.md, "`sev-guest`" and "vmfwupdate").
    public let canResetInPlace: Bool
    /// Whether the config enables the interface (`[vmfwupdate] enabled`).
    public let interfaceEnabled: Bool
    public let validator: FirmwareUpdateRequestValidator
    public let imageChecker: (any FirmwareImageChecking)?

    public private(set) var phase: Phase = .running
    public private(set) var firmware: FirmwareInUse = .provider
    /// Updates carried out since `start`.
    public private(set) var updates = 0
    /// New instances launched since `start` (updates and confidential reboots).
    public private(set) var relaunches = 0
    /// Guest resets seen since `start`.
    public private(set) var resets = 0

    public init(canResetInPlace: Bool, interfaceEnabled: Bool, validator: FirmwareUpdateRequestValidator,
                imageChecker: (any FirmwareImageChecking)? = nil, firmware: FirmwareInUse = .provider) {
        self.canResetInPlace = canResetInPlace
        self.interfaceEnabled = interfaceEnabled
        self.validator = validator
        self.imageChecker = imageChecker
        self.firmware = firmware
    }

    /// An input that does not fit the phase (a bug in the caller, or a stale event).
    public struct UnexpectedInput: Error, CustomStringConvertible {
        public var input: Input
        public var phase: Phase
        public var description: String { "vmfwupdate flow: \(input) is unexpected in phase \(phase.name)" }
    }

    /// Feeds what happened; returns the steps to take, in order. At most one step is an action
    /// (not `.log`), and it is the last: its outcome is the next input.
    public mutating func handle(_ input: Input) throws(UnexpectedInput) -> [Step] {
        switch (phase, input) {
        case (.running, .guestPowerOff):
            phase = .poweringOff
            return [.log(.guestPoweredOff), .quitInstance]
        case (.running, .guestReset):
            resets += 1
            guard interfaceEnabled else { return [.log(.guestReset)] + reboot(into: firmware, isUpdate: false) }
            phase = .readingRequest
            return [.log(.guestReset), .readMailbox]

        case (.running, .hostReset):
            // The host's reset carries no update request: reboot on the firmware in use, the way
            // this guest type reboots (in place, or a new instance for a confidential guest).
            resets += 1
            return [.log(.hostReset)] + reboot(into: firmware, isUpdate: false)

        case (.readingRequest, .mailboxRead(let contents)):
            switch validator.assess(contents) {
            case .noUpdate(let reason):
                return [.log(.noUpdate(reason))] + reboot(into: firmware, isUpdate: false)
            case .rejected(let reason):
                return reject(reason)
            case .update(let request):
                phase = .readingPayload(request)
                return [.log(.requestRead(request)), .readPayload(request)]
            }
        case (.readingPayload(let request), .payloadRead(let payload)):
            let checks: [any FirmwareImageChecking] = [ReadLengthCheck(request: request)] + (imageChecker.map { [$0] } ?? [])
            if let problem = checks.lazy.compactMap({ $0.problem(with: payload) }).first {
                return reject(problem)
            }
            phase = .storing(request)
            return [.store(payload)]
        case (.storing, .stored(let stored)):
            return [.log(.imageStored(stored))] + relaunch(into: .guestSupplied(stored), isUpdate: true)

        case (.quitting(let next, let isUpdate), .instanceQuit):
            phase = .launching(next, isUpdate: isUpdate)
            return [.log(.instanceQuit), .launchInstance(next)]
        case (.launching(let next, let isUpdate), .instanceLaunched):
            phase = .running
            firmware = next
            relaunches += 1
            if isUpdate { updates += 1 }
            return [.log(.instanceLaunched(next))]
        case (.resettingInPlace, .resetCompleted):
            phase = .running
            return [.log(.resetInPlace)]
        case (.poweringOff, .instanceQuit):
            phase = .stopped
            return [.log(.instanceQuit), .finishStopped]

        // Reading or storing failed: the old instance still exists, so the request is
        // rejected and the VM reboots on the provider firmware, never dies silently.
        case (.readingRequest, .stepFailed(let reason)):
            return reject("reading the mailbox failed: \(reason)")
        case (.readingPayload, .stepFailed(let reason)):
            return reject("reading the image failed: \(reason)")
        case (.storing, .stepFailed(let reason)):
            return reject("storing the image failed: \(reason)")
        case (.quitting, .stepFailed(let reason)), (.launching, .stepFailed(let reason)),
             (.resettingInPlace, .stepFailed(let reason)), (.poweringOff, .stepFailed(let reason)):
            let step = phase.name
            phase = .failed(reason: reason)
            return [.log(.stepFailed(step: step, reason: reason))]
        default:
            throw UnexpectedInput(input: input, phase: phase)
        }
    }

    private mutating func reject(_ reason: String) -> [Step] {
        [.log(.requestRejected(reason: reason))] + reboot(into: .provider, isUpdate: false)
    }

    /// An ordinary reboot into `target`: in place when QEMU can reset this guest and the
    /// firmware stays the same; otherwise a new instance.
    private mutating func reboot(into target: FirmwareInUse, isUpdate: Bool) -> [Step] {
        if canResetInPlace && target == firmware {
            phase = .resettingInPlace
            return [.resetInPlace]
        }
        return relaunch(into: target, isUpdate: isUpdate)
    }

    private mutating func relaunch(into target: FirmwareInUse, isUpdate: Bool) -> [Step] {
        phase = .quitting(next: target, isUpdate: isUpdate)
        return [.quitInstance]
    }
}
