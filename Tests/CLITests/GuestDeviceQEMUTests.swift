import Foundation
import JSON
import TestSupport
import Testing

/// The guest devices of a definition under the real QEMU (TCG, -S), started from exactly the
/// argv `igvm-mgr args` prints: values reach QEMU as data, never as new properties.
@Suite struct GuestDeviceQEMUTests {
    static func args(_ config: String, qmp: String) throws -> [String] {
        let result = try IGVMManagerBinary.run(["args", config, "--json", "--qmp-socket", qmp, "--state-dir", "/tmp/im-unused"])
        guard result.status == 0 else { throw QMPSocketExchange.Failure(description: "args failed: \(result.stderr)") }
        return try JSON.decode(result.stdout).arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// Writes a 64 MiB TCG definition named `name` with `devices` (TOML) into `dir`; returns its path.
    static func config(_ name: String, in dir: URL, devices: String) throws -> String {
        let path = dir.appendingPathComponent("\(name).toml").path
        try "name = \"\(name)\"\n[qemu]\naccel = \"tcg\"\nmemory = \"64M\"\n\(devices)".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Disk file names holding `,`, `=` and a newline are the node's file name (query-block);
    /// the properties they spell (read-only, locking) are not set; the NIC's MAC is the derived
    /// one (qom-get) and the forwarding rule is QEMU's (info usernet).
    @Test func diskNamesAndHostfwdAreData() throws {
        _ = try QEMU.binary()
        let dir = try TestPaths.makeTemporaryDirectory("gdev")
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = "d,read-only=on,file.locking=off=\nx.raw"
        FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data(count: 1 << 20))
        let config = try Self.config("g", in: dir, devices: """
            [[disk]]
            file = \(JSON.string(name))
            format = "raw"
            [[nic]]
            type = "user"
            hostfwd = ["tcp:127.0.0.1:0-:22"]
            """)
        let qmp = dir.appendingPathComponent("qmp.sock").path
        let qemu = try QEMUInstance(argv: try Self.args(config, qmp: qmp))
        defer { qemu.kill() }
        let session = try QMPSocketExchange(path: qmp, process: qemu.process)
        let blocks = try session.execute("query-block")["return"]?.arrayValue ?? []
        let disk = try #require(blocks.first { $0["qdev"]?.stringValue?.contains("disk0") == true }, "\(blocks)")
        #expect(disk["inserted"]?["file"]?.stringValue == dir.appendingPathComponent(name).path)
        #expect(disk["inserted"]?["ro"] == false, "read-only=on was injected: \(disk)")
        let mac = try session.execute("qom-get", arguments: ["path": "/machine/peripheral/net0", "property": "mac"])
        #expect(mac["return"]?.stringValue?.count == 17)
        let usernet = try session.execute("human-monitor-command", arguments: ["command-line": "info usernet"])
        #expect(usernet["return"]?.stringValue?.contains("HOST_FORWARD") == true, "\(usernet)")
        _ = try session.execute("quit")
        #expect(qemu.waitForExit())
    }

    /// A hostfwd value with `,`, `=` and a newline is refused when the definition is read, on
    /// one line that names the NIC, the rule and what is wrong; `args` and `start` refuse it the
    /// same way. (That such a value, were it passed, stays one rule's text inside the JSON is
    /// HostForwardTests.injectedOptionsStayData, which builds the argv without the check.)
    @Test func hostfwdWithOptionsIsRefused() throws {
        let dir = try TestPaths.makeTemporaryDirectory("gdev")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rule = "tcp:127.0.0.1:0-:22,restrict=on\nx=y"
        let config = try Self.config("h", in: dir, devices: """
            [[nic]]
            type = "user"
            hostfwd = [\(JSON.string(rule))]
            """)
        let expected = #"nic[0].hostfwd[0]: guest port "22,restrict=on\nx=y" is not a number from 1 to 65535 in "tcp:127.0.0.1:0-:22,restrict=on\nx=y""#
        let validate = try IGVMManagerBinary.run(["validate", config])
        #expect(validate.status == 1)
        #expect(validate.stdout.split(separator: "\n").contains { $0.hasPrefix("launch: \(config): \(expected) (QEMU's form") }, "\(validate.stdout)")
        for command in [["args", config], ["start", config, "--state-dir", dir.appendingPathComponent("s").path]] {
            let r = try IGVMManagerBinary.run(command)
            #expect(r.status == 1, "\(command)")
            #expect(r.stderr.split(separator: "\n").map(String.init) == ["igvm-mgr: error: \(config): \(expected) (QEMU's form [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, like \"tcp:127.0.0.1:2222-:22\")"], "\(command): \(r.stderr)")
        }
    }

    /// An SNP definition with a virtio-blk, a virtio-scsi and an NVMe disk and a NIC: `args`
    /// shows iommu_platform and disable-legacy on the virtio-pci devices (the SCSI controller,
    /// not the scsi-hd on it), none on the NVMe controller, and no NIC option ROM.
    @Test func snpArgsShowTheTransportRule() throws {
        let dir = try TestPaths.makeTemporaryDirectory("gdev")
        defer { try? FileManager.default.removeItem(at: dir) }
        FileManager.default.createFile(atPath: dir.appendingPathComponent("d.raw").path, contents: Data(count: 4096))
        let config = dir.appendingPathComponent("snp.toml").path
        try (String(contentsOfFile: ExampleConfigs.path("snp-ovmf"), encoding: .utf8) + """

            [[disk]]
            file = "\(dir.path)/d.raw"
            format = "raw"
            [[disk]]
            file = "\(dir.path)/d.raw"
            format = "raw"
            interface = "virtio-scsi"
            readonly = true
            [[disk]]
            file = "\(dir.path)/d.raw"
            format = "raw"
            interface = "nvme"
            serial = "NV1"
            readonly = true
            [[nic]]
            type = "user"
            """).write(toFile: config, atomically: true, encoding: .utf8)
        let argv = try Self.args(config, qmp: dir.appendingPathComponent("q.sock").path)
        let devices = zip(argv, argv.dropFirst()).filter { $0.0 == "-device" }.compactMap { try? JSON.decode($0.1) }
        let disk = try #require(devices.first { $0["driver"] == "virtio-blk-pci" })
        let scsi = try #require(devices.first { $0["driver"] == "virtio-scsi-pci" })
        let nic = try #require(devices.first { $0["driver"] == "virtio-net-pci" })
        for device in [disk, scsi, nic] {
            #expect(device["iommu_platform"] == true, "\(device)")
            #expect(device["disable-legacy"] == "on", "\(device)")
        }
        #expect(nic["romfile"] == "")
        let scsiDisk = try #require(devices.first { $0["driver"] == "scsi-hd" })
        #expect(scsiDisk["bus"]?.stringValue == "\(scsi["id"]?.stringValue ?? "").0", "\(scsiDisk)")
        let nvme = try #require(devices.first { $0["driver"] == "nvme" })
        for device in [scsiDisk, nvme] {
            #expect(device["iommu_platform"] == nil, "\(device)")
            #expect(device["disable-legacy"] == nil, "\(device)")
        }
    }
}
