import Supervisor
import VMState
import Launch
import JSON

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

        /// The phase as `state.json` records it.
        public var recorded: FirmwareUpdateRecord.Phase {
            switch self {
            case .running: .running
            case .readingRequest: .readingRequest
            case .readingPayload: .readingImage
            case .storing: .storingImage
            case .quitting(_, let isUpdate): isUpdate ? .imageStored : .quitting
            case .launching: .launching
            case .resettingInPlace: .resetting
            case .poweringOff: .poweringOff
            case .stopped: .stopped
            case .failed: .failed
            }
        }

        public var isLaunching: Bool { if case .launching = self { true } else { false } }
        public var isFailed: Bool { if case .failed = self { true } else { false } }
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
        public var description: String { "vmfwupdate flow: \(input) is unexpected in phase \(phase.recorded.rawValue)" }
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
            let step = phase.recorded.rawValue
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
