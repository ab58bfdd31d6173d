import FileAccess
import Foundation
import JSON
import Testing
import TestSupport
@testable import Launch
@testable import Lifecycle

@Suite("vsock at start")
struct VsockStartTests {
    @Test("[vsock] needs /dev/vhost-vsock")
    func hostCheck() {
        let tcg = HostRequirements(accelerator: "tcg", confidentialType: nil, vsockGuestCID: 3)
        #expect(HostChecks.problems(for: tcg, on: DescribedHost(files: [])).first?.contains("/dev/vhost-vsock") == true)
        #expect(HostChecks.problems(for: tcg, on: DescribedHost(files: ["/dev/vhost-vsock"])).isEmpty)
    }

    /// A VM whose guest CID a running VM of the state directory uses is refused; another CID,
    /// or one a stopped VM used, is not. (VM a runs without a vsock device, on a host without
    /// vhost-vsock; its recorded plan carries the CID.)
    @Test("a guest CID is unique among running VMs")
    func uniqueCID() async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        _ = try await sandbox.start(try sandbox.launch("a"))
        let plan = try sandbox.paths("a").plan
        var recorded = try QEMULaunch(json: JSON.decode(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: plan)))))
        recorded.requirements.vsockGuestCID = 7
        try AtomicFile.write(try recorded.json.encoded(pretty: true), to: plan)
        func launch(_ name: String, cid: UInt32) throws -> QEMULaunch {
            var l = try sandbox.launch(name)
            l.requirements.vsockGuestCID = cid
            return l
        }
        let procedure = StartProcedure(stateDirectory: sandbox.directory, supervisorExecutable: try IGVMManagerBinary.path())
        #expect(throws: LifecycleError.self) { try procedure.checkVsockCID(of: try launch("b", cid: 7)) }
        do {
            try procedure.checkVsockCID(of: try launch("b", cid: 7))
        } catch {
            #expect("\(error)".contains("guest-cid 7 is already used by running VM a"), "\(error)")
        }
        try procedure.checkVsockCID(of: try launch("b", cid: 8))
        try procedure.checkVsockCID(of: try launch("a", cid: 7))  // its own record
        _ = try await sandbox.lifecycle.stop("a", mode: .quit, timeout: .seconds(10))
        #expect(try await sandbox.waitForSupervisorExit("a"))
        try procedure.checkVsockCID(of: try launch("b", cid: 7))
    }
}
