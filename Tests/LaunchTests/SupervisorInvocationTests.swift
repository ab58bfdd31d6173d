@testable import Lifecycle
import Testing

@Suite("SupervisorInvocation: the supervisor's argv that start writes, read back without the parser")
struct SupervisorInvocationTests {
    @Test("what start writes reads back as itself", arguments: [
        SupervisorInvocation(name: "vm1", stateDirectory: "/run/igvm-mgr"),
        SupervisorInvocation(name: "a.b_c-1", stateDirectory: "/tmp/state dir,with=odd chars", stopTimeout: .seconds(30)),
        SupervisorInvocation(name: "vm", stateDirectory: "/s", stopTimeout: .milliseconds(2500)),
        SupervisorInvocation(name: "vm", stateDirectory: "/s", stopTimeout: .zero),
        SupervisorInvocation(name: "vm", stateDirectory: "/s", stopTimeout: .seconds(86_400)),
    ])
    func roundTrip(invocation: SupervisorInvocation) {
        #expect(SupervisorInvocation(arguments: invocation.arguments) == invocation)
    }

    @Test("the form is the documented one")
    func form() {
        #expect(SupervisorInvocation(name: "vm", stateDirectory: "/s", stopTimeout: .milliseconds(2500)).arguments
            == ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4", "--stop-timeout", "2.5"])
    }

    /// Each of these goes to swift-argument-parser, which reads, refuses or explains it.
    @Test("anything but that exact form is declined", arguments: [
        [],
        ["supervise", "vm"],
        ["supervise", "vm", "--help"],
        ["supervise", "--help", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4"],
        ["supervise", "-h", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4"],
        ["supervise", "", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4"],
        ["supervise", "vm", "--state-dir", "relative", "--lock-fd", "3", "--readiness-fd", "4"],
        ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "5", "--readiness-fd", "4"],
        ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "04"],
        ["supervise", "vm", "--readiness-fd", "4", "--lock-fd", "3", "--state-dir", "/s"],
        ["status", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4"],
        ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4", "--stop-timeout", "-1"],
        ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4", "--stop-timeout", "86401"],
        ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4", "--stop-timeout", "nan"],
        ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4", "--stop-timeout", "inf"],
        ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4", "--stop-timeout"],
        ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4", "--max-command-bytes", "2048"],
        ["supervise", "vm", "--state-dir", "/s", "--lock-fd", "3", "--readiness-fd", "4", "--stop-timeout", "1", "--help"],
    ])
    func declined(arguments: [String]) {
        #expect(SupervisorInvocation(arguments: arguments) == nil)
    }
}
