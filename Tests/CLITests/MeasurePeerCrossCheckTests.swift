import Foundation
import Testing
import TestSupport

/// `igvm-mgr measure` given exactly sev-snp-measure's argv must print exactly what the installed
/// sev-snp-measure prints, and exit the same way: on Debian's OVMF images for several vCPU
/// counts and CPU types, and for the option combinations users rely on.
@Suite(.enabled(if: PeerTools.sevSNPMeasure.testsRun, Comment(rawValue: PeerTools.sevSNPMeasure.skipReason)))
struct MeasurePeerCrossCheckTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        var testDescription: String { arguments.joined(separator: " ") }
    }

    /// Debian's images. OVMF_CODE_4M.fd carries no SEV metadata (only the reset block), so its
    /// SNP digest is the image plus VMSAs; OVMF_CODE.fd and qemu/OVMF.fd carry SEC_MEM,
    /// SECRETS and CPUID sections.
    static let debianImages = ["/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd"]
    static let cpuTypes = ["EPYC-v4", "EPYC-Rome", "EPYC-Milan", "EPYC-Genoa", "EPYC-Turin"]

    static let matrix: [Case] = debianImages.flatMap { image in
        [1, 2, 4, 64].flatMap { vcpus in
            cpuTypes.map { Case(arguments: ["--mode", "snp", "--vcpus", "\(vcpus)", "--vcpu-type", $0, "--ovmf", image]) }
        }
    }

    static let amdSev = TestPaths.fixtures.appendingPathComponent("sev-snp-measure/ovmf_AmdSev_suffix.bin").path
    static let x64 = TestPaths.fixtures.appendingPathComponent("sev-snp-measure/ovmf_OvmfX64_suffix.bin").path
    static let code = "/usr/share/OVMF/OVMF_CODE.fd"

    static let options: [Case] = [
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-Milan", "--ovmf", "/usr/share/qemu/OVMF.fd"],
        ["--mode", "snp:ovmf-hash", "--ovmf", code],
        ["--mode", "seves", "--vcpus", "4", "--vcpu-type", "EPYC-Rome", "--ovmf", code],
        ["--mode", "sev", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "2", "--vcpu-type", "EPYC-Genoa", "--ovmf", code, "--output-format", "base64"],
        ["--mode", "snp", "--vcpus", "2", "--vcpu-sig", "0xA00F11", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "2", "--vcpu-family", "25", "--vcpu-model", "17", "--vcpu-stepping", "0", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "3", "--vmm-type", "ec2", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "4", "--vmm-type", "gce", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21", "--ovmf", code],
        ["-v", "--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--ovmf", amdSev, "--kernel", EmptyFile.path,
         "--initrd", EmptyFile.path, "--append", "console=ttyS0"],
        ["--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", amdSev, "--kernel", EmptyFile.path],
        // Errors: same exit status (2 usage, 1 cannot measure) and nothing on stdout.
        ["--mode", "snp", "--vcpu-type", "EPYC-v4", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "1", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", code, "--initrd", EmptyFile.path],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", code, "--append", "x"],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--vmm-type", "kvm", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v9", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4"],
        ["--mode", "bogus", "--ovmf", code],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", x64, "--kernel", EmptyFile.path],
    ].map(Case.init)

    static func compare(_ c: Case) throws {
        let peer = try PeerTools.sevSNPMeasure.command()
        let theirs = try TestProcess.run(peer[0], Array(peer.dropFirst()) + c.arguments)
        let ours = try IGVMManagerBinary.run(["measure"] + c.arguments)
        #expect(ours.status == theirs.status, "exit status; sev-snp-measure said: \(theirs.stderr)")
        #expect(ours.stdout == theirs.stdout)
        if theirs.status != 0 {
            #expect(!ours.stderr.isEmpty, "an error must say what is wrong")
        }
    }

    @Test("Debian OVMF images, 1/2/4/64 vCPUs, five CPU types", arguments: matrix)
    func debianMatrix(_ c: Case) throws { try Self.compare(c) }

    @Test("Option combinations and errors", arguments: options)
    func optionCompatibility(_ c: Case) throws { try Self.compare(c) }
}
