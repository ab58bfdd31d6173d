import Supervisor
import Launch
import Foundation

/// What the executor needs from whoever owns the QEMU instance (the supervisor, or a test).
public protocol FirmwareUpdateHost: Sendable {
    /// The request channel of the instance running now (a new instance has a new QMP socket).
    func channel() async throws -> any FirmwareUpdateChannel
    /// Ends the current instance; `next` is the firmware the following launch will boot (nil
    /// after a guest poweroff), for hosts that quit and relaunch in one operation.
    func quitInstance(next: FirmwareInUse?) async throws
    /// Launches a new instance booting `firmware`, with a fresh confidential context.
    /// `.pending` when the launch completes later (the host then feeds `.instanceLaunched`).
    func launchInstance(_ firmware: FirmwareInUse) async throws -> FirmwareUpdateStepCompletion
    /// `system_reset` + `cont` in the running QEMU. `.pending` when the reset completes later
    /// (on QEMU's RESET event; the host then feeds `.resetCompleted`).
    func resetInstanceInPlace() async throws -> FirmwareUpdateStepCompletion
    /// Appends `event` to the event log and records the flow's phase and counters in state.json.
    func record(_ event: FirmwareUpdateEvent, flow: FirmwareUpdateFlow) async
    /// The guest powered off and QEMU is gone.
    func finishStopped(flow: FirmwareUpdateFlow) async
}

/// Whether a step finished when its method returned.
public enum FirmwareUpdateStepCompletion: Sendable {
    case done
    /// Finishes later: whoever sees it finish feeds the flow the matching input.
    case pending
}

/// How long one action step took (for the benchmark's split).
public struct FirmwareUpdateStepTiming: Sendable {
    public var step: String
    public var seconds: Double
}

/// Performs the steps `FirmwareUpdateFlow` asks for until it has none left.
public struct FirmwareUpdateExecutor: Sendable {
    /// The expected launch digest of a relaunch on a stored image (nil: the guest has none).
    public typealias Measure = @Sendable (StoredFirmware) -> ExpectedLaunchMeasurement?

    public let store: FirmwareImageStore
    public let measure: Measure

    public init(store: FirmwareImageStore, measure: @escaping Measure = { _ in nil }) {
        self.store = store
        self.measure = measure
    }

    /// Feeds `input` to `flow` and carries out the resulting steps, feeding each outcome back.
    @discardableResult
    public func run(_ input: FirmwareUpdateFlow.Input, flow: inout FirmwareUpdateFlow,
                    host: some FirmwareUpdateHost) async throws -> [FirmwareUpdateStepTiming] {
        var timings: [FirmwareUpdateStepTiming] = []
        var pending = try flow.handle(input)
        while !pending.isEmpty {
            let step = pending.removeFirst()
            if case .log(let event) = step {
                await host.record(event, flow: flow)
                continue
            }
            let started = ContinuousClock.now
            let outcome = await perform(step, host: host, flow: flow)
            let elapsed = started.duration(to: .now)
            timings.append(FirmwareUpdateStepTiming(
                step: Self.name(of: step),
                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            if let outcome { pending += try flow.handle(outcome) }
        }
        return timings
    }

    private func perform(_ step: FirmwareUpdateFlow.Step, host: some FirmwareUpdateHost,
                         flow: FirmwareUpdateFlow) async -> FirmwareUpdateFlow.Input? {
        do {
            switch step {
            case .log: return nil
            case .readMailbox:
                return .mailboxRead(try await host.channel().readMailbox())
            case .readPayload(let request):
                return .payloadRead(try await host.channel().readPayload(request))
            case .store(let payload):
                // Measured as part of storing, so the digest is in the `image-stored` record and
                // in state.json before the old instance is quit.
                var stored = try store.store(payload)
                stored.launchMeasurement = measure(stored)
                return .stored(stored)
            case .quitInstance:
                var next: FirmwareInUse?
                if case .quitting(let firmware, _) = flow.phase { next = firmware }
                try await host.quitInstance(next: next)
                return .instanceQuit
            case .launchInstance(let firmware):
                return try await host.launchInstance(firmware) == .done ? .instanceLaunched : nil
            case .resetInPlace:
                return try await host.resetInstanceInPlace() == .done ? .resetCompleted : nil
            case .finishStopped:
                await host.finishStopped(flow: flow)
                return nil
            }
        } catch {
            return .stepFailed(reason: "\(error)")
        }
    }

    static func name(of step: FirmwareUpdateFlow.Step) -> String {
        switch step {
        case .log: "log"
        case .readMailbox: "read-mailbox"
        case .readPayload: "read-image"
        case .store: "store"
        case .quitInstance: "quit"
        case .launchInstance: "launch"
        case .resetInPlace: "reset-in-place"
        case .finishStopped: "finish-stopped"
        }
    }
}
