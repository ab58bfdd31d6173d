import Foundation
import JSON
import Measure
import Testing
import TestSupport

@testable import Definition
@testable import Launch
@testable import VMState
@testable import Supervisor
@testable import FirmwareUpdate
@testable import Lifecycle

/// The expected launch digest of what `start` launches: computed from the definition with the
/// Measure module, carried in the plan, recorded by the supervisor before QEMU is spawned, and
/// shown by `status`. No SEV host here: the supervisor's own host check refuses the launch right
/// after recording, which is where these tests look.
@Suite("Launch measurement of start")
struct LaunchMeasurementTests {
    /// The firmware tables of the measurable definitions.
    enum Firmware: String, CaseIterable, Sendable {
        case snpOVMF, sevESOVMF, snpIGVM

        var confidential: MeasurementFixtures.Confidential { self == .sevESOVMF ? .sevES : .snp }

        /// Writes what the table needs into `folder` and returns the table.
        func table(in folder: URL) throws -> String {
            switch self {
            case .snpOVMF, .sevESOVMF:
                return "[firmware]\nbios = \"\(MeasurementFixtures.amdSev.path)\""
            case .snpIGVM:
                try Data(try MeasurementFixtures.igvm(MeasurementFixtures.amdSev, vcpus: 2)).write(to: folder.appendingPathComponent("snp.igvm"))
                return "[igvm]\nfile = \"snp.igvm\""
            }
        }
    }

    static func startLaunch(_ config: String, in directory: StateDirectory) throws -> QEMULaunch {
        try QEMULaunch.forStart(definition: VMDefinition.load(path: config), name: nil, stateDirectory: directory)
    }

    @Test("start's launch carries the digest and the values `igvm-mgr measure CONFIG --json` prints; plan.json keeps it",
          arguments: Firmware.allCases)
    func startLaunchMatchesMeasure(firmware: Firmware) throws {
        let folder = try TestPaths.makeTemporaryDirectory("launch-digest")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try MeasurementFixtures.writeDefinition(
            "vm", in: folder, confidential: firmware.confidential, firmware: try firmware.table(in: folder))
        let launch = try Self.startLaunch(config, in: StateDirectory(path: folder.appendingPathComponent("state").path))
        let record = try #require(launch.launchMeasurement?.json.objectValue, "\(String(describing: launch.launchMeasurement))")

        let measured = try IGVMManagerBinary.run(["measure", config, "--json"])
        #expect(measured.status == 0, "\(measured.stderr)")
        let printed = try JSON.decode(measured.stdout)
        #expect(record["digest"] != nil)
        for (key, value) in record { #expect(printed[key] == value, "\(key)") }

        #expect(try QEMULaunch(json: launch.json).launchMeasurement == launch.launchMeasurement)
    }

    @Test("ordinary and nocc guests have no launch digest", arguments: [MeasurementFixtures.Confidential.none, .nocc])
    func noDigest(confidential: MeasurementFixtures.Confidential) throws {
        let folder = try TestPaths.makeTemporaryDirectory("launch-digest")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try MeasurementFixtures.writeDefinition(
            "vm", in: folder, confidential: confidential, firmware: "[firmware]\nbios = \"\(MeasurementFixtures.amdSev.path)\"")
        let launch = try Self.startLaunch(config, in: StateDirectory(path: folder.appendingPathComponent("state").path))
        #expect(launch.launchMeasurement == nil)
        #expect(launch.json["launch-measurement"] == nil)
    }

    @Test("a firmware that cannot be measured is carried with the reason `igvm-mgr measure` gives, not an error")
    func unmeasurableFirmware() throws {
        let folder = try TestPaths.makeTemporaryDirectory("launch-digest")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(count: 0x10000).write(to: folder.appendingPathComponent("blank.rom"))
        let config = try MeasurementFixtures.writeDefinition("vm", in: folder, confidential: .snp, firmware: "[firmware]\nbios = \"blank.rom\"")
        let launch = try Self.startLaunch(config, in: StateDirectory(path: folder.appendingPathComponent("state").path))
        guard case .unavailable(let reason)? = launch.launchMeasurement else {
            Issue.record("expected a reason, got \(String(describing: launch.launchMeasurement))")
            return
        }
        let measured = try IGVMManagerBinary.run(["measure", config])
        #expect(measured.status == 1)
        #expect(measured.stderr.contains(reason), "\(measured.stderr) vs \(reason)")
    }

    @Test("the supervisor records the digest (or why there is none) in state.json and the event log before QEMU; status shows it",
          arguments: [true, false])
    func supervisorRecordsIt(measurable: Bool) async throws {
        let sandbox = try LifecycleSandbox()
        defer { sandbox.tearDown() }
        let folder = try TestPaths.makeTemporaryDirectory("launch-digest")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(count: 0x10000).write(to: folder.appendingPathComponent("blank.rom"))
        let firmware = measurable ? MeasurementFixtures.amdSev.path : "blank.rom"
        let config = try MeasurementFixtures.writeDefinition("dg", in: folder, confidential: .snp, firmware: "[firmware]\nbios = \"\(firmware)\"")
        let launch = try Self.startLaunch(config, in: sandbox.directory)
        let expected = try #require(launch.launchMeasurement)
        #expect((expected.digest != nil) == measurable)

        // `start` passes on a described SNP host; the supervisor then checks the real one.
        var procedure = StartProcedure(stateDirectory: sandbox.directory, supervisorExecutable: try IGVMManagerBinary.path())
        procedure.host = LifecycleHostCheckTests.snpHost
        await #expect(throws: LifecycleError.self) { try await procedure.start(launch, definitionText: nil) }
        #expect(try await sandbox.waitForSupervisorExit("dg"))

        #expect(try sandbox.state("dg")?.launchMeasurement == expected)
        let events = EventLog.read(try sandbox.paths("dg").eventLog)
        let names = events.compactMap { $0["event"]?.stringValue }
        let recorded = try #require(names.firstIndex(of: "LAUNCH_MEASUREMENT"), "\(names)")
        let launchAttempt = try #require(names.firstIndex { $0 == "START_FAILED" || $0 == "QEMU_SPAWNED" }, "\(names)")
        #expect(recorded < launchAttempt)
        #expect(events[recorded]["source"] == "igvm-mgr")
        #expect(events[recorded]["data"] == expected.json)

        let human = try IGVMManagerBinary.run(["status", "dg", "--state-dir", sandbox.directory.path])
        #expect(human.status == 0, "\(human.stderr)")
        let line = try #require(human.stdout.split(separator: "\n").first { $0.hasPrefix("launch digest:") }, "\(human.stdout)")
        if let digest = expected.digest {
            #expect(line.hasSuffix("snp \(digest.hex)"), "\(line)")
        } else {
            #expect(line.contains("not computed: ") && line.contains("SEV_ES_RESET_BLOCK_GUID"), "\(line)")
        }
        let json = try JSON.decode(try IGVMManagerBinary.run(["status", "dg", "--json", "--state-dir", sandbox.directory.path]).stdout)
        #expect(json["launch-measurement"] == expected.json)
    }
}
