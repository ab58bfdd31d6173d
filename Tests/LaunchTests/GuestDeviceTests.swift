import Foundation
import JSON
import ObjectModel
import Testing
@testable import Definition
@testable import Launch

/// A definition parsed from `text` as the file /cfg/x.toml.
private func definition(_ text: String) throws -> VMDefinition {
    try VMDefinition.parse(text, file: "/cfg/x.toml", baseDirectory: URL(fileURLWithPath: "/cfg"), defaultName: "x")
}

/// The problems of `text` (reading and planning), one line each.
private func problems(_ text: String) -> [String] {
    do {
        let d = try VMDefinition.parse(text, file: "/cfg/x.toml", baseDirectory: URL(fileURLWithPath: "/cfg"), defaultName: "x")
        return LaunchPlan.build(d, binary: "/usr/bin/qemu-system-x86_64", qmpSocket: nil).1.map(\.description)
    } catch {
        return error.problems.map(\.description)
    }
}

/// The `-device` JSON objects of `text`'s plan, by id.
private func devices(_ text: String) throws -> [String: JSONObject] {
    let d = try definition(text)
    let (plan, found) = LaunchPlan.build(d, binary: "/usr/bin/qemu-system-x86_64", qmpSocket: nil)
    #expect(found.isEmpty, "\(found)")
    var out: [String: JSONObject] = [:]
    for device in try #require(plan).devices { out[device.id ?? ""] = device.deviceAddArguments() }
    return out
}

/// The `[confidential]` table of each confidential type the device rules distinguish.
private let confidentialTables: [(name: String, table: String, encrypted: Bool)] = [
    ("none", "", false),
    ("sev", "[confidential]\ntype = \"sev-guest\"\nreduced-phys-bits = 1\npolicy = \"0x1\"\n", true),
    ("sev-es", "[confidential]\ntype = \"sev-guest\"\nreduced-phys-bits = 1\npolicy = \"0x5\"\n", true),
    ("sev-snp", "[confidential]\ntype = \"sev-snp-guest\"\nreduced-phys-bits = 1\n", true),
    ("nocc", "[confidential]\ntype = \"nocc\"\n", false),
]

/// One definition snippet per device type, and the ids of the virtio-pci devices it yields.
private let deviceTables: [(name: String, table: String, virtioIDs: [String])] = [
    ("virtio-blk", "[[disk]]\nfile = \"d.raw\"\nformat = \"raw\"\n", ["disk0"]),
    ("virtio-scsi", "[[disk]]\nfile = \"d.qcow2\"\nformat = \"qcow2\"\ninterface = \"virtio-scsi\"\n", ["scsi0"]),
    // Not virtio: no transport properties whatever the guest (checked below).
    ("nvme", "[[disk]]\nfile = \"d.raw\"\nformat = \"raw\"\ninterface = \"nvme\"\nserial = \"NV1\"\n", []),
    ("nic-user", "[[nic]]\ntype = \"user\"\nhostfwd = [\"tcp::2222-:22\"]\n", ["net0"]),
    ("nic-tap", "[[nic]]\ntype = \"tap\"\nifname = \"tap0\"\n", ["net0"]),
    ("vsock", "[vsock]\nguest-cid = 3\n", ["vsock0"]),
]

@Suite struct GuestDeviceTests {
    /// Every device type × every confidential type: encrypted guests get iommu_platform=on and
    /// disable-legacy=on on every virtio device (and no NIC option ROM), others neither.
    @Test func confidentialRuleTable() throws {
        for c in confidentialTables {
            for dev in deviceTables {
                let all = try devices("[qemu]\naccel = \"kvm\"\n" + dev.table + c.table)
                for id in dev.virtioIDs {
                    let p = try #require(all[id], "\(c.name) × \(dev.name): no device \(id)")
                    let expectation: JSON? = c.encrypted ? .bool(true) : Optional<JSON>.none
                    #expect(p["iommu_platform"] == expectation, "\(c.name) × \(dev.name)")
                    #expect(p["disable-legacy"] == (c.encrypted ? .string("on") : nil), "\(c.name) × \(dev.name)")
                    if dev.name.hasPrefix("nic") {
                        #expect(p["romfile"] == (c.encrypted ? .string("") : nil), "\(c.name) × \(dev.name)")
                    }
                }
                // The scsi-hd hangs on the controller, which carries the rule; the disk itself is
                // not a virtio-pci device and gets no transport properties. Nor does an NVMe controller.
                if dev.name == "virtio-scsi" {
                    #expect(all["scsi0"]?["driver"] == "virtio-scsi-pci", "\(c.name)")
                    #expect(all["disk0"]?["driver"] == "scsi-hd", "\(c.name)")
                    #expect(all["disk0"]?["bus"] == "scsi0.0", "\(c.name)")
                }
                if dev.name == "nvme" {
                    #expect(all["disk0"]?["driver"] == "nvme", "\(c.name)")
                    #expect(all["disk0"]?["serial"] == "NV1", "\(c.name)")
                }
                if dev.name == "virtio-scsi" || dev.name == "nvme" {
                    for key in ["iommu_platform", "disable-legacy", "romfile"] {
                        #expect(all["disk0"]?[key] == nil, "\(c.name) × \(dev.name): \(key)")
                    }
                }
            }
        }
    }

    /// A definition that turns the rule off is refused for each encrypted type, at launch level;
    /// an ordinary guest keeps what it set.
    @Test func overridingTheRule() throws {
        for c in confidentialTables {
            for dev in deviceTables where !dev.virtioIDs.isEmpty {
                let text = "[qemu]\naccel = \"kvm\"\n" + dev.table + "iommu_platform = false\ndisable-legacy = \"off\"\n" + c.table
                let found = problems(text)
                if c.encrypted {
                    #expect(found.count == 2, "\(c.name) × \(dev.name): \(found)")
                    #expect(found.allSatisfy { $0.contains("iommu_platform: must be true") || $0.contains("disable-legacy: must be \"on\"") })
                } else {
                    #expect(found.isEmpty, "\(c.name) × \(dev.name): \(found)")
                    let p = try #require(try devices(text)[dev.virtioIDs[0]])
                    #expect(p["iommu_platform"] == .bool(false))
                    #expect(p["disable-legacy"] == .string("off"))
                }
            }
        }
    }

    @Test func diskRendering() throws {
        let d = try definition("""
            [[disk]]
            file = "a,b=c\\nd.img"
            format = "qcow2"
            readonly = true
            cache = "directsync"
            discard = "unmap"
            serial = "S-1"
            bootindex = 2
            """)
        let (plan, _) = LaunchPlan.build(d, binary: "/usr/bin/qemu-system-x86_64", qmpSocket: nil)
        let nodes = try #require(plan).blockdevs
        #expect(nodes == [
            ["driver": "file", "filename": "/cfg/a,b=c\nd.img", "node-name": "disk0-file", "read-only": true,
             "cache": ["direct": true, "no-flush": false], "discard": "unmap"],
            ["driver": "qcow2", "file": "disk0-file", "node-name": "disk0", "read-only": true,
             "cache": ["direct": true, "no-flush": false], "discard": "unmap"],
        ])
        let argv = plan!.arguments
        // The name is JSON data inside one argument, never a new option or property.
        #expect(argv.contains(#"{"driver":"file","filename":"/cfg/a,b=c\nd.img","node-name":"disk0-file","read-only":true,"cache":{"direct":true,"no-flush":false},"discard":"unmap"}"#))
        #expect(plan!.devices.first?.deviceAddArguments() == [
            "driver": "virtio-blk-pci", "id": "disk0", "drive": "disk0", "serial": "S-1", "bootindex": 2, "write-cache": "off",
        ])
    }

    @Test func nicRendering() throws {
        let d = try definition("""
            name = "web"
            [[nic]]
            type = "user"
            hostfwd = ["tcp::2222-:22", "udp:127.0.0.1:5353-:53"]
            [[nic]]
            type = "tap"
            ifname = "tap7"
            mac = "02:00:00:00:00:07"
            """)
        let plan = try #require(LaunchPlan.build(d, binary: "/usr/bin/qemu-system-x86_64", qmpSocket: nil).0)
        #expect(plan.netdevs == [
            ["type": "user", "id": "net0", "hostfwd": [["str": "tcp::2222-:22"], ["str": "udp:127.0.0.1:5353-:53"]]],
            ["type": "tap", "id": "net1", "ifname": "tap7", "script": "no", "downscript": "no"],
        ])
        let mac = MACAddress.derived(vmName: "web", index: 0)
        #expect(mac == MACAddress.derived(vmName: "web", index: 0))
        #expect(mac != MACAddress.derived(vmName: "web", index: 1))
        #expect(mac.bytes[0] & 0x03 == 0x02, "locally administered, unicast")
        #expect(plan.devices.map { $0.deviceAddArguments()["mac"] } == [.string(mac.description), "02:00:00:00:00:07"])
    }

    @Test("a NIC's default MAC follows the VM name in use: one file started under two names gives two addresses")
    func macFollowsTheNameInUse() throws {
        let d = try definition("name = \"web\"\n[qemu]\naccel = \"tcg\"\nbinary = \"/usr/bin/qemu-system-x86_64\"\n[[nic]]\ntype = \"user\"\n")
        func mac(_ name: String?) throws -> String? {
            let launch = try QEMULaunch(definition: d, name: name)
            let device = try #require(launch.arguments.firstIndex(of: "-device").map { launch.arguments[$0 + 1] })
            return try JSON.decode(device)["mac"]?.stringValue
        }
        #expect(try mac(nil) == MACAddress.derived(vmName: "web", index: 0).description)
        #expect(try mac("web-2") == MACAddress.derived(vmName: "web-2", index: 0).description)
        #expect(try mac("web-2") != mac(nil))
    }

    @Test func definitionProblems() {
        let cases: [(String, String)] = [
            ("[[disk]]\nfile = \"d\"\n", "disk[0].format: missing"),
            ("[[disk]]\nformat = \"raw\"\n", "disk[0].file: missing"),
            ("[[disk]]\nfile = \"d\"\nformat = \"vmdk\"\n", "disk[0].format: expected one of \"raw\", \"qcow2\""),
            ("[[disk]]\nfile = \"d\"\nformat = \"raw\"\ninterface = \"ide\"\n", "disk[0].interface: expected one of"),
            ("[[disk]]\nfile = \"d\"\nformat = \"raw\"\ncache = \"fast\"\n", "disk[0].cache: expected one of"),
            ("[[disk]]\nfile = \"d\"\nformat = \"raw\"\nserial = \"a,b\"\n", "disk[0].serial: expected 1 to 20"),
            ("[[disk]]\nfile = \"d\"\nformat = \"raw\"\nsize = 3\n", "disk[0].size: unknown key"),
            ("[[disk]]\nfile = \"d\"\nformat = \"raw\"\ninterface = \"nvme\"\n", "disk[0].serial: missing: interface = \"nvme\" needs a serial number"),
            ("[[disk]]\nfile = \"d\"\nformat = \"raw\"\ninterface = \"nvme\"\nserial = \"n\"\niommu_platform = true\n",
             "disk[0].iommu_platform: only for virtio interfaces: interface = \"nvme\" is not a virtio device"),
            ("[[disk]]\nfile = \"d\"\nformat = \"raw\"\ninterface = \"nvme\"\nserial = \"n\"\ndisable-legacy = \"on\"\n",
             "disk[0].disable-legacy: only for virtio interfaces"),
            ("[[disk]]\nfile = \"d\"\nformat = \"raw\"\ninterface = \"nvme\"\nserial = \"123456789012345678901\"\n", "disk[0].serial: expected 1 to 20"),
            ("[disk]\nfile = \"d\"\n", "disk: expected an array of tables"),
            ("[[nic]]\ntype = \"bridge\"\n", "nic[0].type: expected \"user\" or \"tap\""),
            ("[[nic]]\ntype = \"tap\"\n", "nic[0].ifname: missing"),
            ("[[nic]]\ntype = \"tap\"\nifname = \"a,b\"\n", "nic[0].ifname: expected an interface name"),
            ("[[nic]]\ntype = \"user\"\nmac = \"01:00:00:00:00:01\"\n", "nic[0].mac: expected a unicast MAC"),
            ("[[nic]]\ntype = \"user\"\nmodel = \"e1000\"\n", "nic[0].model: expected one of"),
            ("[[nic]]\ntype = \"tap\"\nifname = \"t\"\nhostfwd = [\"tcp::1-:1\"]\n", "nic[0].hostfwd: only for type = \"user\""),
            ("[vsock]\nguest-cid = 2\n", "vsock.guest-cid: expected an integer from 3 to 4294967294"),
            ("[vsock]\n", "vsock.guest-cid: missing"),
            ("[console]\nlog = false\n", "console.log: unknown key"),
            ("[qemu]\nserial = \"s\"\n[console]\n", "console: not allowed together with qemu.serial"),
        ]
        for (text, expected) in cases {
            let found = problems(text)
            #expect(found.contains { $0.contains(expected) }, "\(text): \(found)")
        }
    }
}
