import Foundation
import JSON
import QMP
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The client against a real QEMU (Debian's 10.0, TCG).
@Suite struct QMPQEMUTests {
    /// `commandTimeout`: a client that missed a disconnect would end pending commands with
    /// `timedOut` after it, which tests about interruption tell apart from `interrupted`.
    static func connect(_ qemu: QEMUUnderTest, commandTimeout: Duration? = nil) async throws -> QMPClient {
        var config = QMPClient.Configuration()
        config.waitForSocket = .seconds(30)
        config.defaultCommandTimeout = commandTimeout
        return try await QMPClient.connect(unixSocket: qemu.qmpSocket, configuration: config)
    }

    @Test func negotiationEnablesOOBAndGreetingMatchesQueryVersion() async throws {
        let qemu = try QEMUUnderTest()
        let qmp = try await Self.connect(qemu)
        #expect(qmp.greeting.capabilities.contains("oob"))
        #expect(qmp.outOfBandEnabled)
        let version = try await qmp.queryVersion()
        #expect(version.description == qmp.greeting.version.description)
        #expect(version.major >= 10)
        #expect(try await qmp.queryStatus() == QMPRunStatus(status: "prelaunch", running: false))
        // exec-oob reaches QEMU as such: it refuses it for a command not marked allow-oob.
        await #expect {
            _ = try await qmp.execute("query-status", outOfBand: true)
        } throws: { ($0 as? QMPCommandError)?.desc.contains("OOB") == true }
        await qmp.close()
    }

    @Test func thousandCommandsWith64InFlightAreAnsweredById() async throws {
        let qemu = try QEMUUnderTest(extra: ["-name", "routing-test"])
        let qmp = try await Self.connect(qemu)
        let table: [(String, JSONObject?)] = [
            ("query-status", nil), ("query-version", nil), ("query-target", nil), ("query-name", nil),
            ("qom-get", ["path": "/machine", "property": "type"]), ("query-kvm", nil), ("query-uuid", nil),
            ("qom-list-types", ["implements": "sev-guest"]),
        ]
        var expected: [JSON] = []
        for (name, args) in table { expected.append(try await qmp.execute(name, args)) }
        #expect(Set(expected).count == table.count, "the table's answers must be distinguishable")

        let total = 1000, window = 64
        let mismatches = try await withThrowingTaskGroup(of: Bool.self) { group in
            var started = 0, bad = 0
            func launch(_ i: Int) {
                let (name, args) = table[i % table.count]
                let want = expected[i % table.count]
                group.addTask { try await qmp.execute(name, args) != want }
            }
            while started < window { launch(started); started += 1 }
            while let wrong = try await group.next() {
                if wrong { bad += 1 }
                if started < total { launch(started); started += 1 }
            }
            return bad
        }
        #expect(mismatches == 0)
        await qmp.close()
    }

    @Test func eventsReachTwoSubscribersWithDifferentFiltersWhileCommandsAreInFlight() async throws {
        let qemu = try QEMUUnderTest(machine: "q35")
        let qmp = try await Self.connect(qemu)
        let runState = qmp.events(named: "STOP", "RESUME")
        let lifecycle = qmp.events(QMPEventFilter(where: { ["RESET", "SHUTDOWN"].contains($0.name) }))
        // Background traffic: commands in flight the whole time.
        let traffic = Task {
            var n = 0
            while !Task.isCancelled {
                _ = try? await qmp.queryStatus()
                n += 1
            }
            return n
        }
        try await qmp.cont()
        try await qmp.stop()
        try await qmp.systemReset()
        try await qmp.cont()
        try await qmp.quit()
        traffic.cancel()
        #expect(await traffic.value > 0)

        var a: [String] = [], b: [QMPEvent] = []
        do { for try await e in runState { a.append(e.name) } } catch {}
        do { for try await e in lifecycle { b.append(e) } } catch {}
        #expect(Array(a.prefix(3)) == ["RESUME", "STOP", "RESUME"])
        #expect(Set(a).isSubset(of: ["STOP", "RESUME"]))
        // Only the host's own: q35's default firmware may reset the guest by itself while it
        // runs (seen under load: a second RESET), which is QEMU's business, not ours.
        b = b.filter { $0.data["guest"] != .bool(true) }
        #expect(b.map(\.name) == ["RESET", "SHUTDOWN"], "\(b)")
        #expect(b.first?.data["reason"] == "host-qmp-system-reset")
        #expect(b.last?.data["reason"] == "host-qmp-quit")
        #expect(b.allSatisfy { $0.seconds > 1_600_000_000 })
    }

    @Test func aQMPErrorKeepsItsClass() async throws {
        let qemu = try QEMUUnderTest()
        let qmp = try await Self.connect(qemu)
        await #expect {
            _ = try await qmp.execute("no-such-command")
        } throws: { ($0 as? QMPCommandError)?.errorClass == "CommandNotFound" }
        do {
            _ = try await qmp.execute("device_del", ["id": "nope"])
            Issue.record("device_del of a missing device succeeded")
        } catch let error as QMPCommandError {
            #expect(error.errorClass == "DeviceNotFound")
            #expect(error.desc == "Device 'nope' not found")
            #expect(error.command == "device_del")
            #expect("\(error)" == "DeviceNotFound: Device 'nope' not found")
        }
        await #expect {
            _ = try await qmp.qomGet("/machine", property: "no-such-property")
        } throws: { ($0 as? QMPCommandError)?.errorClass == "GenericError" }
        await qmp.close()
    }

    /// Keeps `width` commands in flight until one fails; returns how each worker ended.
    static func traffic(_ qmp: QMPClient, width: Int) -> Task<[any Error], Never> {
        Task {
            await withTaskGroup(of: (any Error).self) { group in
                for _ in 0..<width {
                    group.addTask {
                        while true {
                            do { _ = try await qmp.queryStatus() } catch { return error }
                        }
                    }
                }
                var errors: [any Error] = []
                for await e in group { errors.append(e) }
                return errors
            }
        }
    }

    /// Commands queued behind `quit` never run: each must fail as interrupted, by the peer's
    /// departure and not by its timeout. QEMU is frozen (SIGSTOP) while `quit` and 64 queries
    /// go out, so that the queries are certainly pending behind `quit` when it runs, however
    /// loaded the machine is.
    @Test func quitFailsPendingCommandsAsInterruptedNotByTimeout() async throws {
        let qemu = try QEMUUnderTest()
        let qmp = try await Self.connect(qemu, commandTimeout: .seconds(60))
        kill(qemu.pid, SIGSTOP)
        let quit = Task { try await qmp.quit() }
        while qmp.pendingCommandCount < 1 { await Task.yield() }
        let queries = (0..<64).map { _ in Task { () -> (any Error)? in
            do { _ = try await qmp.queryStatus(); return nil } catch { return error }
        } }
        while qmp.pendingCommandCount < 65 { await Task.yield() }
        kill(qemu.pid, SIGCONT)
        try await quit.value
        var errors: [any Error] = []
        for query in queries { if let error = await query.value { errors.append(error) } }
        // A query QEMU answered before its main loop ended is fine; every other one must end
        // as interrupted, with the peer's departure as the cause.
        #expect(errors.allSatisfy {
            if case QMPClientError.interrupted(_, let cause) = $0 { return cause.peerWentAway } else { return false }
        }, "\(errors)")
        #expect(!errors.isEmpty)
        #expect(await qmp.waitUntilDisconnected().peerWentAway)
        // QEMU's own exit status is not the client's behaviour: QEMU 10.0.2 was seen to end by
        // SIGSEGV once when quitting with 64 commands queued behind `quit` (a QEMU fault).
        qemu.waitForExit()
    }

    /// QEMU frozen (SIGSTOP) with commands pending, then SIGKILL: all fail as interrupted, by
    /// the peer's departure, not by their timeout. (How fast is the benchmark's business; a
    /// wall-clock bound here only measured how loaded the machine was.)
    @Test func killMinus9FailsPendingCommandsAsInterruptedNotByTimeout() async throws {
        let qemu = try QEMUUnderTest()
        let qmp = try await Self.connect(qemu, commandTimeout: .seconds(60))
        kill(qemu.pid, SIGSTOP)
        let commands = (0..<10).map { _ in Task { try await qmp.queryStatus() } }
        while qmp.pendingCommandCount < 10 { await Task.yield() }
        qemu.kill9()
        _ = qemu.waitForExit()
        for command in commands {
            await #expect {
                _ = try await command.value
            } throws: { error in
                guard case QMPClientError.interrupted("query-status", let cause) = error else { return false }
                return cause.peerWentAway
            }
        }
    }

    @Test func largeSchemaDecodesAndAnswersPathQuestions() async throws {
        let qemu = try QEMUUnderTest()
        let qmp = try await Self.connect(qemu)
        let schema = try await qmp.queryQMPSchema()
        #expect(schema.entities.count > 500)
        #expect(schema.commandNames.contains("query-sev-capabilities"))
        #expect(schema.pathExists("object-add/arg-type/qom-type/^sev-snp-guest"))
        #expect(schema.pathExists("object-add/arg-type/+sev-snp-guest/policy"))
        #expect(schema.pathExists("object-add/arg-type/+sev-snp-guest/*id-block"))
        #expect(!schema.pathExists("object-add/arg-type/qom-type/^igvm-cfg"))  // QEMU 10.0 has no IGVM
        #expect(!schema.pathExists("object-add/arg-type/qom-type/^no-such-type"))
        #expect(!schema.pathExists("no-such-command"))
        #expect(schema.pathExists("query-status/ret-type/status/^prelaunch"))
        await qmp.close()
    }

    /// `sev-snp-guest.policy` is a settable uint64: a value above Int64.max goes out as bare
    /// unsigned digits and comes back exactly.
    @Test func uint64AboveInt64MaxRoundTripsThroughQOM() async throws {
        let qemu = try QEMUUnderTest()
        let qmp = try await Self.connect(qemu)
        try await qmp.objectAdd(qomType: "sev-snp-guest", id: "snp0", properties: ["reduced-phys-bits": 1])
        let big: UInt64 = 0x8000_0000_0003_0000
        try await qmp.qomSet("/objects/snp0", property: "policy", value: JSON(big))
        #expect(try await qmp.qomGet("/objects/snp0", property: "policy") == .unsigned(big))
        try await qmp.qomSet("/objects/snp0", property: "policy", value: JSON(UInt64.max))
        #expect(try await qmp.qomGet("/objects/snp0", property: "policy").uint64Value == UInt64.max)
        try await qmp.objectDel(id: "snp0")
        await qmp.close()
    }

    /// The typed wrappers' argument names and reply shapes, as QEMU 10.0 takes and gives them.
    @Test func typedWrappersAgainstQEMU() async throws {
        let qemu = try QEMUUnderTest(machine: "q35", extra: ["-m", "64"])
        let qmp = try await Self.connect(qemu)
        let creatable = try await qmp.qomListTypes(implements: "user-creatable")
        #expect(creatable.contains { $0.name == "sev-snp-guest" })
        let props = try await qmp.qomListProperties("sev-snp-guest")
        #expect(props.first { $0.name == "policy" }?.type == "uint64")
        #expect(try await qmp.deviceListProperties("virtio-rng-pci").contains { $0.name == "rng" })
        #expect(try await qmp.qomList("/machine").contains { $0.name == "type" })

        let dump = qemu.directory.appendingPathComponent("low.bin").path
        try await qmp.pmemsave(address: 0, size: 4096, file: dump)
        #expect(try FileManager.default.attributesOfItem(atPath: dump)[.size] as? Int == 4096)

        let powerdown = qmp.events(named: "POWERDOWN")
        try await qmp.systemPowerdown()
        var it = powerdown.makeAsyncIterator()
        #expect(try await it.next()?.name == "POWERDOWN")

        // No SEV under TCG: query-sev answers "not enabled", the others fail with QEMU's reason.
        #expect(try await qmp.querySEV()["enabled"] == false)
        await #expect { _ = try await qmp.querySEVCapabilities() } throws: {
            ($0 as? QMPCommandError)?.errorClass == "GenericError"
        }
        await #expect { _ = try await qmp.querySEVLaunchMeasure() } throws: {
            ($0 as? QMPCommandError)?.desc == "SEV launch measurement is not available"
        }
        await qmp.close()
    }
}
