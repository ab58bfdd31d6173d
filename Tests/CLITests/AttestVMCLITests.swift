import Foundation
import Testing
import TestSupport

/// `attest verify --vm NAME` against VMs igvm-mgr really started (TCG: no SEV-SNP here, so the
/// VM has no launch digest and the command says so instead of verifying against nothing).
@Suite("attest verify --vm (real QEMU)")
struct AttestVMCLITests {
    static let report = TestPaths.fixtures.appendingPathComponent("sev-snp-attestation/report_milan.bin").path
    static let vcek = TestPaths.fixtures.appendingPathComponent("sev-snp-attestation/vcek_milan.der").path

    @Test("--vm of a running ordinary guest: exit 2, one line saying it has no launch digest; --vm of no VM: exit 2")
    func vmWithoutDigest() throws {
        let sandbox = try LifecycleCLITests.Sandbox()
        defer { sandbox.tearDown() }
        let config = try sandbox.config("plain")
        #expect(try sandbox.run(["start", config]).status == 0)
        let r = try sandbox.run(["attest", "verify", Self.report, "--vcek", Self.vcek, "--vm", "plain"])
        #expect(r.status == 2)
        #expect(r.stderr == "igvm-mgr: error: VM plain is not an SEV-SNP guest (no confidential object): it has no launch digest\n")
        #expect(r.stdout.isEmpty)
        let none = try sandbox.run(["attest", "verify", Self.report, "--vcek", Self.vcek, "--vm", "ghost"])
        #expect(none.status == 2)
        #expect(none.stderr.hasPrefix("igvm-mgr: error: no VM named ghost in "))
    }
}
