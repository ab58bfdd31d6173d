import Foundation
import JSON
import Definition
import Capabilities
import Launch
import QMP
import TestSupport
import Testing

/// The capability probe against Debian's QEMU 10.0 (TCG), and its per-binary cache.
@Suite struct ProbeTests {
    @Test func debianQEMU10HasSEVAndSNPButNoIGVMOrNocc() async throws {
        let caps = try await QEMUProbe().probe(binary: try QEMU.binary())
        #expect(caps.version.major == 10 && caps.version.minor == 0)
        #expect(caps.canCreate("sev-guest"))
        #expect(caps.canCreate("sev-snp-guest"))
        #expect(!caps.canCreate("igvm-cfg"))
        #expect(!caps.canCreate("nocc"))
        #expect(caps.has(property: "policy", of: "sev-snp-guest"))
        #expect(caps.objectProperties["sev-snp-guest"]?.first { $0.name == "policy" }?.type == "uint64")
        #expect(caps.has(property: "host-data", of: "sev-snp-guest"))
        #expect(caps.has(property: "confidential-guest-support", of: "q35"))
        #expect(!caps.has(property: "igvm-cfg", of: "q35"))
        #expect(caps.objectProperties["igvm-cfg"] == nil)
        #expect(caps.schema.pathExists("object-add/arg-type/+sev-snp-guest/*id-block"))
        #expect(!caps.schema.pathExists("object-add/arg-type/qom-type/^igvm-cfg"))

        #expect(throws: MissingCapability.self) { try caps.requireCreatable("igvm-cfg") }
        do {
            try caps.requireCreatable("igvm-cfg")
        } catch {
            #expect("\(error)" == "qemu-system-x86_64 \(caps.version.description) has no igvm-cfg (QEMU 10.1 or newer, built with IGVM support)")
        }
        do {
            try caps.require(property: "igvm-cfg", of: "q35")
        } catch {
            #expect("\(error)".hasSuffix("has no property 'igvm-cfg' of q35 (QEMU 10.1 or newer, built with IGVM support)"))
        }
        try caps.requireCreatable("sev-snp-guest")
        try caps.require(property: "policy", of: "sev-snp-guest")
        #expect(caps.problems(creating: "sev-snp-guest", properties: ["policy", "id-block", "host-data"]).isEmpty)
        #expect(caps.problems(creating: "sev-snp-guest", properties: ["policy", "no-such-knob"]).map(\.missing)
            == ["property 'no-such-knob' of sev-snp-guest"])
        #expect(caps.problems(creating: "igvm-cfg", properties: ["file"]).map(\.description)
            == ["qemu-system-x86_64 \(caps.version.description) has no igvm-cfg (QEMU 10.1 or newer, built with IGVM support)"])
        #expect(caps.problems(creating: "q35", properties: ["confidential-guest-support", "igvm-cfg"]).count == 1)
    }

    @Test func cacheIsReusedAndRebuiltWhenTheBinaryChanges() async throws {
        let dir = try TestPaths.makeTemporaryDirectory("caps")
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("qemu-system-x86_64").path
        try FileManager.default.copyItem(atPath: try QEMU.binary(), toPath: copy)
        let cache = QEMUCapabilityCache(directory: dir.appendingPathComponent("state").path)

        let (first, source1) = try await cache.capabilities(of: copy)
        #expect(source1 == .probe)
        #expect(FileManager.default.fileExists(atPath: cache.file(for: copy)))
        let (second, source2) = try await cache.capabilities(of: copy)
        #expect(source2 == .cache)
        #expect(second == first)

        // Same content, new mtime: the cached answer no longer applies.
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: copy)
        let (third, source3) = try await cache.capabilities(of: copy)
        #expect(source3 == .probe)
        #expect(third.binary.modificationTimeNanoseconds != first.binary.modificationTimeNanoseconds)
        #expect(third.creatableTypes == first.creatableTypes)
        let (_, source4) = try await cache.capabilities(of: copy)
        #expect(source4 == .cache)

        // The file on disk is the JSON the cache reads back.
        let onDisk = try JSON.decode(String(contentsOfFile: cache.file(for: copy), encoding: .utf8))
        #expect(QEMUCapabilities(cacheJSON: onDisk) == third)
    }

    @Test func aBinaryThatDiesAtOnceFailsTheProbeQuicklyWithItsStatus() async throws {
        // The message shows that the exit was noticed: had the probe waited for its watchdog
        // instead, it would say "no QMP connection from QEMU within …". (No wall-clock bound:
        // under the parallel suite on two cores the figure says more about the load than us.)
        await #expect {
            _ = try await QEMUProbe().probe(binary: "/bin/false")
        } throws: { error in
            "\(error)".contains("exited with status 1") && !"\(error)".contains("no QMP connection")
        }
    }
}
