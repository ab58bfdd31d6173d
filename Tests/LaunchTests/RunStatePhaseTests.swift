import QMP
import Testing

@testable import Supervisor
@testable import VMState

/// How QEMU's run-state events move the recorded phase (`RunStatePhase`), every pair of event
/// and phase in one table: what is not listed must leave the phase alone.
@Suite("Run-state events → phase")
struct RunStatePhaseTests {
    static let changes: [QMPRunStateEvent: [VMPhase: VMPhase]] = [
        .stop: [.running: .paused],
        .resume: [.paused: .running, .starting: .running],
    ]

    static let pairs: [(QMPRunStateEvent, VMPhase)] = QMPRunStateEvent.allCases.flatMap { event in
        VMPhase.allCases.map { (event, $0) }
    }

    @Test("each run-state event in each phase", arguments: pairs)
    func table(event: QMPRunStateEvent, phase: VMPhase) {
        #expect(RunStatePhase.phase(after: event, in: phase) == Self.changes[event]?[phase])
    }

    @Test("QEMU's event names map to the typed events; others stay untyped")
    func names() {
        #expect(QMPEvent(name: "SHUTDOWN", data: [:], seconds: 0, microseconds: 0).runState == .shutdown)
        #expect(QMPEvent(name: "GUEST_PANICKED", data: [:], seconds: 0, microseconds: 0).runState == .guestPanicked)
        #expect(QMPEvent(name: "BLOCK_JOB_COMPLETED", data: [:], seconds: 0, microseconds: 0).runState == nil)
        #expect(QMPEvent(name: "shutdown", data: [:], seconds: 0, microseconds: 0).runState == nil)
    }
}
