import Foundation
import Testing

@testable import Definition
@testable import Launch
@testable import Lifecycle

/// A described host (this machine has neither /dev/sev nor an SNP-enabled kvm_amd).
struct DescribedHost: HostFacts {
    var files: Set<String>
    var parameters: [String: String] = [:]
    var unopenable: Set<String> = []
    func exists(_ path: String) -> Bool { files.contains(path) || parameters[path] != nil }
    func canOpenReadWrite(_ path: String) -> Bool { exists(path) && !unopenable.contains(path) }
    func read(_ path: String) -> String? { parameters[path] }
}

@Suite("Lifecycle host checks")
struct LifecycleHostCheckTests {
    static let snpHost = DescribedHost(files: ["/dev/kvm", "/dev/sev"], parameters: ["/sys/module/kvm_amd/parameters/sev_snp": "Y"])

    @Test("an SNP host passes the SNP checks")
    func snpHostPasses() {
        #expect(HostChecks.problems(for: .init(accelerator: "kvm", confidentialType: "sev-snp-guest"), on: Self.snpHost).isEmpty)
    }

    @Test("each missing piece is named", arguments: [
        (DescribedHost(files: ["/dev/kvm"], parameters: ["/sys/module/kvm_amd/parameters/sev_snp": "Y"]), "/dev/sev"),
        (DescribedHost(files: ["/dev/kvm", "/dev/sev"], parameters: ["/sys/module/kvm_amd/parameters/sev_snp": "N"]), "sev_snp = Y, but it is N"),
        (DescribedHost(files: ["/dev/kvm", "/dev/sev"]), "kvm_amd is not loaded"),
        (DescribedHost(files: ["/dev/sev"], parameters: ["/sys/module/kvm_amd/parameters/sev_snp": "Y"]), "/dev/kvm"),
        (DescribedHost(files: ["/dev/kvm", "/dev/sev"], parameters: ["/sys/module/kvm_amd/parameters/sev_snp": "Y"], unopenable: ["/dev/sev"]),
         "/dev/sev exists but this user cannot open it"),
        (DescribedHost(files: ["/dev/kvm", "/dev/sev"], parameters: ["/sys/module/kvm_amd/parameters/sev_snp": "Y"], unopenable: ["/dev/kvm"]),
         "/dev/kvm exists but this user cannot open it"),
    ])
    func missingPieces(host: DescribedHost, named: String) {
        let problems = HostChecks.problems(for: .init(accelerator: "kvm", confidentialType: "sev-snp-guest"), on: host)
        #expect(problems.contains { $0.contains(named) }, "\(problems)")
    }

    @Test("accel=kvm needs /dev/kvm; tcg needs nothing")
    func accelerators() {
        let bare = DescribedHost(files: [])
        #expect(HostChecks.problems(for: .init(accelerator: "kvm", confidentialType: nil), on: bare).first?.contains("accel=kvm needs /dev/kvm") == true)
        #expect(HostChecks.problems(for: .init(accelerator: "tcg", confidentialType: nil), on: bare).isEmpty)
    }

    @Test("sev-guest checks kvm_amd's sev parameter, not sev_snp")
    func sevParameter() {
        let host = DescribedHost(files: ["/dev/kvm", "/dev/sev"], parameters: ["/sys/module/kvm_amd/parameters/sev": "1"])
        #expect(HostChecks.problems(for: .init(accelerator: "kvm", confidentialType: "sev-guest"), on: host).isEmpty)
    }
}

/// SEV-ES is a `sev-guest` with policy bit 2: there is no `sev-es-guest` type, and KVM needs its
/// `sev_es` parameter as well as `sev`.
@Suite("Host checks for SEV-ES")
struct SEVESHostCheckTests {
    static let sev = "/sys/module/kvm_amd/parameters/sev"
    static let sevES = "/sys/module/kvm_amd/parameters/sev_es"

    @Test("an SEV-ES guest needs kvm_amd's sev_es = Y; a plain SEV guest does not")
    func sevESNeedsItsParameter() {
        let host = DescribedHost(files: ["/dev/kvm", "/dev/sev"], parameters: [Self.sev: "Y", Self.sevES: "N"])
        let es = HostChecks.problems(for: .init(accelerator: "kvm", confidentialType: "sev-guest", encryptedState: true), on: host)
        #expect(es == ["sev-guest with SEV-ES (policy bit 2) needs \(Self.sevES) = Y, but it is N"])
        #expect(HostChecks.problems(for: .init(accelerator: "kvm", confidentialType: "sev-guest"), on: host).isEmpty)
        let ready = DescribedHost(files: ["/dev/kvm", "/dev/sev"], parameters: [Self.sev: "Y", Self.sevES: "Y"])
        #expect(HostChecks.problems(for: .init(accelerator: "kvm", confidentialType: "sev-guest", encryptedState: true), on: ready).isEmpty)
    }

    @Test("a definition with policy 0x5 asks for SEV-ES; 0x1 does not")
    func definitionPolicySelectsSEVES() throws {
        func requirements(_ policy: String) throws -> HostRequirements {
            let text = "name = \"es\"\n[qemu]\naccel = \"kvm\"\n[confidential]\ntype = \"sev-guest\"\ncbitpos = 51\nreduced-phys-bits = 1\npolicy = \"\(policy)\"\n"
            let d = try VMDefinition.parse(text, file: "es.toml", baseDirectory: URL(fileURLWithPath: "/tmp"), defaultName: "es")
            return try QEMULaunch(definition: d, name: nil).requirements
        }
        #expect(try requirements("0x5").encryptedState)
        #expect(try !requirements("0x1").encryptedState)
    }
}
