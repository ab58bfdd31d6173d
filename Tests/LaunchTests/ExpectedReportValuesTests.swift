import FileAccess
import Foundation
import JSON
import Measure
import Testing
import TestSupport

@testable import Definition
@testable import Launch
@testable import VMState
@testable import Lifecycle

/// What an attestation report of a launch must carry, from a definition and from a VM's state
/// folder. SEV-SNP cannot launch on the TCG test host, so the state folder holds what `start`
/// records for such a launch — the supervisor's `argv.json` of the launch's exact argv and the
/// launch digest in `state.json` — written here through the same Launch APIs.
struct ExpectedReportValuesTests {
    static let virtee = TestPaths.fixtures.appendingPathComponent("virtee-sev")

    @Test("a VM's recorded launch (state.json digest, argv.json sev-snp-guest) gives the definition's own values: digest, policy, host-data, ID and author key digests")
    func vmStateMatchesDefinition() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let firmware = "[firmware]\nbios = \"\(MeasurementFixtures.amdSev.path)\""
        let plain = try MeasurementFixtures.writeDefinition("snp", in: dir, confidential: .snp, firmware: firmware)
        let digest = try VMDefinition.load(path: plain).launchMeasurement().digest

        // The ID block for that digest, signed with virtee's test ID and author keys.
        let builder = try IDBlockBuilder(
            idKeyPEM: try String(contentsOf: Self.virtee.appendingPathComponent("test_id_key.pem"), encoding: .utf8),
            authorKeyPEM: try String(contentsOf: Self.virtee.appendingPathComponent("test_auth_key.pem"), encoding: .utf8))
        let signed = try builder.sign(IDBlock(launchDigest: digest.bytes))
        let hostData = [UInt8](100..<132)
        // These lines follow the [confidential] table, so they belong to it.
        let path = try MeasurementFixtures.writeDefinition("snp", in: dir, confidential: .snp, firmware: """
            host-data = "\(Data(hostData).base64EncodedString())"
            id-block = "\(signed.idBlockBase64)"
            id-auth = "\(signed.idAuthBase64)"
            author-key-enabled = true

            \(firmware)
            """)
        let definition = try VMDefinition.load(path: path)

        let states = StateDirectory(path: dir.path + "/s")
        let paths = try states.vm("web")
        try FileManager.default.createDirectory(atPath: paths.folder, withIntermediateDirectories: true)
        let launch = try QEMULaunch(definition: definition, name: "web")
        try AtomicFile.write(try JSON.array(launch.argv.map(JSON.string)).encoded(pretty: true), to: paths.argv)
        var state = VMState(name: "web", phase: .running)
        state.launchMeasurement = definition.expectedLaunchMeasurement()
        try state.write(paths.state)

        let recorded = try ExpectedReportValues.forVM("web", in: states)
        #expect(recorded.source == "VM web")
        #expect(recorded.measurement == digest)
        #expect(recorded.policy == 0x30000)
        #expect(recorded.hostData == hostData)
        #expect(recorded.idKeyDigest == signed.idKeyDigest)
        #expect(recorded.authorKeyDigest == signed.authorKeyDigest)
        var fromDefinition = try definition.expectedReportValues()
        fromDefinition.source = recorded.source
        #expect(fromDefinition == recorded)
    }

    @Test("without host-data or an ID block the report must carry zeros there")
    func zerosWhenUnset() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try MeasurementFixtures.writeDefinition(
            "snp", in: dir, confidential: .snp, firmware: "[firmware]\nbios = \"\(MeasurementFixtures.amdSev.path)\"")
        let values = try VMDefinition.load(path: path).expectedReportValues()
        #expect(values.hostData == [UInt8](repeating: 0, count: 32))
        #expect(values.idKeyDigest == [UInt8](repeating: 0, count: 48))
        #expect(values.authorKeyDigest == [UInt8](repeating: 0, count: 48))
    }

    @Test("an SEV-ES definition has no attestation report: a clear error")
    func sevESRefused() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try MeasurementFixtures.writeDefinition(
            "es", in: dir, confidential: .sevES, firmware: "[firmware]\nbios = \"\(MeasurementFixtures.amdSev.path)\"")
        let error = #expect(throws: MeasurementError.self) { try VMDefinition.load(path: path).expectedReportValues() }
        #expect(error?.description == "\(path): only SEV-SNP guests have attestation reports (this one is seves)")
    }
}
