import Foundation
import IGVM
import TestSupport

@testable import Launch

/// Firmware and definitions for the launch-digest tests: sev-snp-measure's OVMF test vectors
/// (4 KiB image tails holding the footer table and the SEV metadata), platform ROMs and IGVM
/// files made from them, and confidential definitions written into a folder.
enum MeasurementFixtures {
    static let folder = TestPaths.fixtures.appendingPathComponent("sev-snp-measure")
    static var amdSev: URL { folder.appendingPathComponent("ovmf_AmdSev_suffix.bin") }
    static var ovmfX64: URL { folder.appendingPathComponent("ovmf_OvmfX64_suffix.bin") }

    /// `tail` after zeros, 64 KiB in all: a platform ROM (a multiple of 64 KiB, as the interface
    /// requires) with its OVMF table at the end, where OVMF keeps it.
    static func platformROM(_ tail: URL) throws -> [UInt8] {
        let bytes = [UInt8](try Data(contentsOf: tail))
        return [UInt8](repeating: 0, count: 0x10000 - bytes.count) + bytes
    }

    /// An SEV-SNP IGVM file built from `tail` with one VMSA per vCPU.
    static func igvm(_ tail: URL, vcpus: Int) throws -> [UInt8] {
        let ovmf = try OVMFImage(bytes: [UInt8](try Data(contentsOf: tail)))
        return try OVMFIGVMBuilder(platforms: [.sevSNP], vcpus: vcpus).build(ovmf)
    }

    /// The confidential tables the tests use.
    enum Confidential: String, CaseIterable, Sendable {
        case snp = "sev-snp-guest", sevES = "sev-guest", nocc, none

        var table: String {
            switch self {
            case .snp: "[confidential]\ntype = \"sev-snp-guest\"\ncbitpos = 51\nreduced-phys-bits = 1\npolicy = \"0x30000\""
            case .sevES: "[confidential]\ntype = \"sev-guest\"\ncbitpos = 51\nreduced-phys-bits = 1\npolicy = \"0x5\""
            case .nocc: "[confidential]\ntype = \"nocc\""
            case .none: ""
            }
        }
    }

    /// Writes `NAME.toml` into `folder` (2 vCPUs, EPYC-v4, QEMU 10.2 so that IGVM images are
    /// offered) and returns its path. `firmware` is the `[firmware]` or `[igvm]` table.
    static func writeDefinition(_ name: String, in folder: URL, confidential: Confidential, firmware: String,
                                extra: String = "") throws -> String {
        let path = folder.appendingPathComponent("\(name).toml").path
        let text = """
            name = "\(name)"

            [qemu]
            binary = "\(try QEMU.binary())"
            machine = "q35"
            accel = "\(confidential == .none ? "tcg" : "kvm")"
            memory = "512M"
            cpus = 2
            cpu-model = "EPYC-v4"
            version = "10.2.2"

            \(confidential.table)

            \(firmware)

            \(extra)
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
