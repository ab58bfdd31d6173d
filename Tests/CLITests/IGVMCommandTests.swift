import Foundation
import IGVM
import JSON
import Testing
import TestSupport

/// `igvm-mgr igvm build|inspect|check` run as a user would.
@Suite struct IGVMCommandTests {
    static let ovmf = "/usr/share/OVMF/OVMF_CODE_4M.fd"

    func build(_ platforms: [String], cpus: Int = 2, extra: [String] = [], in dir: URL) throws -> String {
        let out = dir.appendingPathComponent("\(platforms.joined(separator: "+")).igvm").path
        let r = try IGVMManagerBinary.run(["igvm", "build", "--firmware", Self.ovmf, "--cpus", "\(cpus)", "-o", out]
                                          + platforms.flatMap { ["--platform", $0] } + extra)
        #expect(r.status == 0, "\(r.stderr)")
        return out
    }

    @Test(arguments: [["native"], ["sev"], ["sev-es"], ["sev-snp"], ["sev-snp", "sev-es", "sev", "native"]])
    func builtFileInspectsAndChecksClean(platforms: [String]) throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try build(platforms, in: dir)

        let inspect = try IGVMManagerBinary.run(["igvm", "inspect", file, "--json"])
        #expect(inspect.status == 0)
        let json = try JSON.decode(inspect.stdout)
        let listed = json["platforms"]?.arrayValue ?? []
        #expect(listed.map { $0["type"]?.stringValue ?? "" } == platforms)
        #expect(listed.enumerated().allSatisfy { $1["compatibilityMask"]?.stringValue == "0x" + String(1 << $0, radix: 16) })
        // 3.5 MiB of OVMF = 892 pages, all below 4 GiB in one merged range.
        #expect(json["directives"]?["IGVM_VHT_PAGE_DATA"]?.intValue == 892)
        #expect(listed.first?["gpaRanges"]?[0]?["end"]?.stringValue == "0x100000000")
        let vmsaPlatforms = platforms.filter { $0 == "sev-es" || $0 == "sev-snp" }.count
        #expect(json["vmsas"]?.arrayValue?.count == 2 * vmsaPlatforms)
        #expect(json["directives"]?["IGVM_VHT_VP_CONTEXT"]?.intValue == (vmsaPlatforms == 0 ? nil : 2 * vmsaPlatforms))
        if let snp = listed.first(where: { $0["type"]?.stringValue == "sev-snp" }) {
            #expect(snp["policy"]?["value"]?.stringValue == "0x30000")
            #expect(snp["policy"]?["bits"]?.arrayValue?.compactMap(\.stringValue) == ["smt", "reserved-must-be-one"])
        }

        for platform in platforms {
            let check = try IGVMManagerBinary.run(["igvm", "check", file, "--platform", platform, "--cpus", "2", "--qemu-version", "10.2.2"])
            #expect(check.status == 0, "\(platform): \(check.stdout)")
        }
    }

    @Test func textInspectShowsHeaderPlatformsAndVMSAs() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try build(["sev-snp"], extra: ["--policy", "0x30000", "--vcpu-sig", "0x800F12"], in: dir)
        let r = try IGVMManagerBinary.run(["igvm", "inspect", file])
        #expect(r.status == 0)
        #expect(r.stdout.contains("format: V1"))
        #expect(r.stdout.contains("sev-snp: mask 0x1, version 1, highest VTL 0"))
        #expect(r.stdout.contains("policy 0x30000: smt, reserved-must-be-one"))
        #expect(r.stdout.contains("GPA ranges: 0xFFC84000-0xFFFFFFFF"))
        #expect(r.stdout.contains("VMSA vp 1 mask 0x1 gpa 0xFFFFFFFFF000: cs 0xF000:0x800000 rip 0x8004 rsp 0x0 rdx 0x800F12"))
    }

    @Test func checkExitCodes() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try build(["sev-snp"], in: dir)
        // Problems: wrong vCPU count and a policy that differs from the file's → exit 1.
        let bad = try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "sev-snp", "--cpus", "4", "--policy", "0x30001", "--json"])
        #expect(bad.status == 1)
        let codes = try JSON.decode(bad.stdout)["problems"]?.arrayValue?.compactMap { $0["code"]?.stringValue } ?? []
        #expect(codes == ["policy-mismatch", "vmsa-count"])
        // QEMU loads it; KVM and the SEV firmware are what refuse it.
        let text = try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "sev-snp", "--cpus", "4"])
        #expect(text.stdout.hasSuffix("QEMU loads the file, then the launch fails (vmsa-count)\n"), "\(text.stdout)")
        // Warnings only → exit 0.
        let warn = try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "sev-snp", "--qemu-version", "11.0"])
        #expect(warn.status == 0)
        // A file libigvm rejects → exit 1 with the IGVMAPI code; unreadable or bad usage → 2.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[0x14] ^= 0xFF
        let corrupt = dir.appendingPathComponent("corrupt.igvm")
        try Data(bytes).write(to: corrupt)
        let crc = try IGVMManagerBinary.run(["igvm", "check", corrupt.path, "--platform", "sev-snp"])
        #expect(crc.status == 1 && crc.stdout.contains("checksum-mismatch") && crc.stdout.contains("IGVMAPI_INVALID_CHECKSUM = -18"))
        let inspectCorrupt = try IGVMManagerBinary.run(["igvm", "inspect", corrupt.path])
        #expect(inspectCorrupt.status == 1 && inspectCorrupt.stderr.contains("offset 0x14"))
        #expect(try IGVMManagerBinary.run(["igvm", "check", dir.appendingPathComponent("missing").path, "--platform", "sev"]).status == 2)
        #expect(try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "tdx"]).status == 2)
        #expect(try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "sev", "--qemu-version", "x"]).status == 2)
        #expect(try IGVMManagerBinary.run(["igvm", "build", "--firmware", "/nonexistent", "--platform", "sev", "-o", dir.appendingPathComponent("x").path]).status == 2)
    }

    /// `--machine` and `--memory` give the memory map QEMU places the file in; the JSON says
    /// what QEMU does as a whole and each problem's stage and QEMU message.
    @Test func checkPlacesTheFileInTheMachinesMemory() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = IGVMWriter()
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: .native)]
        w.add(.pageData(IGVMPageData(gpa: 0xFED0_0000, compatibilityMask: 1)))  // the HPET
        w.trailingData = [0xAA]
        let file = dir.appendingPathComponent("hpet.igvm").path
        try Data(w.serialize()).write(to: URL(fileURLWithPath: file))
        for machine in ["q35", "pc", "pc-q35-10.2"] {
            let r = try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "native", "--machine", machine, "--memory", "2G", "--json"])
            #expect(r.status == 1, "\(r.stdout)")
            let json = try JSON.decode(r.stdout)
            #expect(json["memory"]?.intValue == 2 << 30)
            #expect(json["qemu"]?["verdict"]?.stringValue == "refuses")
            #expect(json["qemu"]?["qemuSays"]?.stringValue
                    == "Processing of IGVM file failed: Could not prepare memory at address 0xFED00000 due to existing non-RAM region")
            #expect(json["problems"]?[0]?["stage"]?.stringValue == "load")
        }
        let text = try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "native"])
        #expect(text.stdout.contains("error: memory-not-ram:") && text.stdout.contains("hpet 0xFED00000-0xFED003FF"))
        #expect(text.stdout.hasSuffix("native on QEMU 10.2.2, q35 with 128M RAM: QEMU refuses the file (memory-not-ram)\n"), "\(text.stdout)")
        for bad in [["--machine", "microvm"], ["--memory", "1M"], ["--memory", "600G"], ["--memory", "lots"], ["--cpus", "0"]] {
            let r = try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "native"] + bad)
            #expect(r.status == 2 && r.stderr.contains(bad[0]), "\(bad): \(r.stderr)")
        }
    }

    /// A file libigvm panics on: QEMU aborts without a message, and `igvm check` says so.
    @Test func checkSaysWhenQEMUAborts() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = IGVMWriter()
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: .native)]
        w.add(.pageData(IGVMPageData(gpa: 0x1000, compatibilityMask: 1)))
        w.trailingData = [0xAA]
        var bytes = w.serialize()
        bytes.replaceSubrange(0xC..<0x10, with: [0xF0, 0xFF, 0xFF, 0xFF])  // variable_header_size wraps
        IGVMChecksum.repair(&bytes)
        let file = dir.appendingPathComponent("wrap.igvm").path
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let r = try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "sev-snp", "--json"])
        #expect(r.status == 1)
        let json = try JSON.decode(r.stdout)
        #expect(json["qemu"]?["verdict"]?.stringValue == "aborts")
        #expect(json["problems"]?[0]?["level"]?.stringValue == "aborts" && json["problems"]?[0]?["stage"]?.stringValue == "parse")
    }

    /// The installed QEMU (10.0, TCG) has no IGVM loader: it refuses the `igvm-cfg` object, and
    /// `igvm check` against that version says so instead of passing the file.
    @Test func installedQEMUWithoutIGVMSupportIsReported() throws {
        let qemu = try QEMU.binary()
        let versionLine = try TestProcess.run(qemu, ["--version"]).stdout
        let version = try #require(versionLine.split(separator: " ").dropFirst(3).first.map(String.init))
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try build(["native"], cpus: 1, in: dir)
        let check = try IGVMManagerBinary.run(["igvm", "check", file, "--platform", "native", "--qemu-version", version])
        let major = Int(version.split(separator: ".")[0]) ?? 0, minor = Int(version.split(separator: ".")[1]) ?? 0
        let qemuHasIGVM = (major, minor) >= (10, 1)
        let run = try TestProcess.run(qemu, ["-machine", "q35,igvm-cfg=igvm0", "-object", "igvm-cfg,id=igvm0,file=\(file)",
                                             "-nodefaults", "-display", "none", "-S", "-qmp", "stdio"],
                                      stdin: Data("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n".utf8))
        if qemuHasIGVM {
            #expect(check.status == 0)
            #expect(run.status == 0, "\(run.stderr)")
        } else {
            #expect(check.status == 1 && check.stdout.contains("qemu-version"))
            #expect(run.status != 0 && run.stderr.contains("igvm-cfg"))
        }
    }
}
