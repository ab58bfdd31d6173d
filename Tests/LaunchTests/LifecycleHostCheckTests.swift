import Testing

@testable import Launch

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
