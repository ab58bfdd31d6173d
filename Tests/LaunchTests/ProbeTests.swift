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
        #expect(caps.schema?.pathExists("object-add/arg-type/+sev-snp-guest/*id-block") == true)
        #expect(caps.schema?.pathExists("object-add/arg-type/qom-type/^igvm-cfg") == false)

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

        // The file on disk is the JSON the cache reads back; the schema is in a file of its own,
        // read only when asked for.
        var withoutSchema = third
        withoutSchema.schema = nil
        let onDisk = try JSON.decode(String(contentsOfFile: cache.file(for: copy), encoding: .utf8))
        #expect(QEMUCapabilities(cacheJSON: onDisk) == withoutSchema)
        let (lean, source5) = try await cache.capabilities(of: copy, includingSchema: false)
        #expect(source5 == .cache)
        #expect(lean == withoutSchema)
        #expect(third.schema?.entities.isEmpty == false)

        // Without its schema file the entry still serves lookups that do not ask for the schema;
        // one that does probes again.
        try FileManager.default.removeItem(atPath: cache.schemaFile(for: cache.file(for: copy)))
        let (_, source6) = try await cache.capabilities(of: copy, includingSchema: false)
        #expect(source6 == .cache)
        let (reprobed, source7) = try await cache.capabilities(of: copy)
        #expect(source7 == .probe)
        #expect(reprobed.schema == third.schema)
    }

    /// Writes, in `dir`, a wrapper standing in for qemu-system-x86_64 (a test double, not QEMU
    /// itself): each run with the probe's arguments (`-machine none`) appends a line to
    /// `dir/probes`, then it execs the real binary. The number of lines is the number of probes.
    static func countingWrapper(in dir: URL) throws -> (binary: String, probes: String) {
        let probes = dir.appendingPathComponent("probes").path
        let binary = dir.appendingPathComponent("qemu-counting-wrapper").path
        try """
            #!/bin/sh
            if [ "$1 $2" = "-machine none" ]; then echo probe >> '\(probes)'; fi
            exec '\(try QEMU.binary())' "$@"

            """.write(toFile: binary, atomically: true, encoding: .utf8)
        #expect(chmod(binary, 0o755) == 0)
        return (binary, probes)
    }

    static func probeCount(_ probes: String) -> Int {
        ((try? String(contentsOfFile: probes, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test func concurrentLookupsOfOneBinaryRunOneProbe() async throws {
        let dir = try TestPaths.makeTemporaryDirectory("caps-once")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (binary, probes) = try Self.countingWrapper(in: dir)
        let cache = QEMUCapabilityCache(directory: dir.appendingPathComponent("state").path)
        let results = try await withThrowingTaskGroup(of: (QEMUCapabilities, QEMUCapabilityCache.Source).self) { group in
            for _ in 0..<6 { group.addTask { try await cache.capabilities(of: binary) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Self.probeCount(probes) == 1)
        #expect(results.map(\.1).sorted { $0.rawValue < $1.rawValue } == [.cache, .cache, .cache, .cache, .cache, .probe])
        #expect(Set(results.map(\.0)).count == 1)
    }

    /// The lock's holder is played by the test: it takes the entry's lock itself, and lets go of
    /// it by closing the descriptor, as the kernel does for a prober that dies (flock(2)).
    @Test func aLookupWaitsForTheLockAndProbesWhenItsHolderLeftNoEntry() async throws {
        let dir = try TestPaths.makeTemporaryDirectory("caps-wait")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (binary, probes) = try Self.countingWrapper(in: dir)
        var cache = QEMUCapabilityCache(directory: dir.appendingPathComponent("state").path)
        try FileManager.default.createDirectory(atPath: cache.directory, withIntermediateDirectories: true)
        let lockFile = cache.lockFile(for: cache.file(for: binary))
        let holder = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(holder >= 0 && flock(holder, LOCK_EX) == 0)

        // A holder that never lets go: the lookup gives up at its deadline, without probing.
        cache.lockWait = .milliseconds(300)
        await #expect(throws: ProbeLockTimeout.self) { _ = try await cache.capabilities(of: binary) }
        #expect(Self.probeCount(probes) == 0)

        cache.lockWait = .seconds(60)
        let lookup = Task { try await cache.capabilities(of: binary) }
        var info = stat()
        #expect(stat(lockFile, &info) == 0)
        // /proc/locks lists a waiter blocked on a lock with "->" (Documentation/filesystems/proc.rst):
        // two of them, the abandoned wait of the timed-out lookup and this one.
        let waiting = await eventually(timeout: .seconds(30)) {
            ((try? String(contentsOfFile: "/proc/locks", encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { $0.contains("-> FLOCK") && $0.hasSuffix(":\(info.st_ino) 0 EOF") }.count == 2
        }
        #expect(waiting)
        #expect(Self.probeCount(probes) == 0)
        close(holder)
        let (_, source) = try await lookup.value
        #expect(source == .probe)
        #expect(Self.probeCount(probes) == 1)
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
