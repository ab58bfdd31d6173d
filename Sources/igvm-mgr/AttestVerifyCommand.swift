import ArgumentParser
import Attestation
import JSON
import Definition
import Launch
import Lifecycle
import Measure
import SNPReport

#if canImport(Glibc)
import Glibc
#endif

/// `igvm-mgr attest verify REPORT`.
struct AttestVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify an SEV-SNP attestation report: AMD's chain, the signature, and what the launch must carry.",
        discussion: """
            Authenticity: ARK (self-signed) → ASK → VCEK, or ARK → ASVK → VLEK, each RSASSA-PSS \
            SHA-384 with AMD's certificates for Milan, Genoa and Turin built in (--ark, --ask, \
            --asvk replace them); every certificate valid at --at (default now); the report's \
            ECDSA P-384 signature by the VCEK/VLEK; the VCEK's hwID = CHIP_ID and its TCB = \
            REPORTED_TCB; SIGNATURE_ALGO 1; SIGNING_KEY the certificate's kind.

            Expectations: --vm NAME (the running VM's recorded launch) or --config FILE (what \
            `start` would launch) supply MEASUREMENT, POLICY, HOST_DATA, ID_KEY_DIGEST and \
            AUTHOR_KEY_DIGEST; --expect-* options set or override each. POLICY rules are always \
            checked: debug off and no migration agent unless allowed.

            Without --vcek or --certs, prints the AMD KDS URL to fetch the VCEK from.

            Prints one line per check (✔/✘, both values for a mismatch). Exit status: 0 every \
            check holds; 1 a check fails or the file is not a report; 2 usage error or unreadable \
            input (a report, certificate or definition that cannot be read).
            """)

    @OptionGroup var input: ReportInput

    @Option(name: .customLong("vcek"), help: "The VCEK or VLEK certificate that signed the report (DER or PEM).")
    var vcek: String?

    @Option(name: .customLong("certs"), help: "A folder with vcek.der|vcek.pem|vlek.der|vlek.pem and optionally ark.pem, ask.pem, asvk.pem (as `snpguest fetch` writes them).")
    var certs: String?

    @Option(name: .customLong("ark"), help: "ARK certificate file in place of the built-in one.")
    var ark: String?
    @Option(name: .customLong("ask"), help: "ASK certificate file in place of the built-in one (a cert_chain file works).")
    var ask: String?
    @Option(name: .customLong("asvk"), help: "ASVK certificate file in place of the built-in one.")
    var asvk: String?

    @Option(name: .customLong("vm"), help: "Take the expectations from this VM's current launch (its recorded digest and QEMU argv).")
    var vm: String?
    @Option(name: .customLong("config"), help: "Take the expectations from this VM definition (as `igvm-mgr measure CONFIG`).")
    var config: String?

    @Option(name: .customLong("expect-measurement"), help: "MEASUREMENT: 96 hex digits.")
    var expectMeasurement: String?
    @Option(name: .customLong("expect-host-data"), help: "HOST_DATA: 32 bytes, base64 (as sev-snp-guest's host-data) or 64 hex digits.")
    var expectHostData: String?
    @Option(name: .customLong("expect-policy"), help: "POLICY exactly, 0x… or decimal.")
    var expectPolicy: String?
    @Option(name: .customLong("expect-id-key-digest"), help: "ID_KEY_DIGEST: 96 hex digits.")
    var expectIDKeyDigest: String?
    @Option(name: .customLong("expect-author-key-digest"), help: "AUTHOR_KEY_DIGEST: 96 hex digits.")
    var expectAuthorKeyDigest: String?
    @Option(name: .customLong("expect-vmpl"), help: "VMPL the report was requested at (0-3).")
    var expectVMPL: Int?
    @Option(name: .customLong("report-data"), help: "REPORT_DATA: the nonce you gave the guest, up to 64 bytes as hex (zero-padded to 64).")
    var reportData: String?
    @Option(name: .customLong("min-tcb"), help: "Lowest REPORTED_TCB accepted: e.g. bl=3,tee=0,snp=8,ucode=115 (fmc= on Turin), each 0-255.")
    var minTCB: String?

    @Flag(name: .customLong("allow-debug"), help: "Accept a POLICY that allows debugging (bit 19).")
    var allowDebug = false
    @Flag(name: .customLong("allow-migration-agent"), help: "Accept a POLICY that allows a migration agent (bit 18).")
    var allowMigrationAgent = false
    @Flag(name: .customLong("forbid-smt"), help: "Refuse a POLICY that allows SMT (bit 16).")
    var forbidSMT = false
    @Flag(name: .customLong("require-single-socket"), help: "Refuse a POLICY without SINGLE_SOCKET (bit 20).")
    var requireSingleSocket = false

    @Option(name: .customLong("at"), help: "Judge certificate validity at this UTC time: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (default now).")
    var at: String?

    @OptionGroup var output: JSONOutput<VerdictJSON>

    enum VerdictJSON: JSONFlagHelp {
        static let text = #"Print JSON: {"verified", "checks": [{"name", "ok", "expected", "actual"}], "report"}."#
    }

    @OptionGroup var state: StateDirectoryOption

    func run() throws {
        var checks: [AttestationCheck] = []
        try reportingFailures {
            if vm != nil && config != nil { throw CommandLineFailure.usage("give --vm or --config, not both") }
            if vcek != nil && certs != nil { throw CommandLineFailure.usage("give --vcek or --certs, not both") }
            let explicit = try input.explicitProduct()
            let expectations = try makeExpectations()
            let time = try verificationTime()
            let parsed = try input.load(product: explicit)
            let folder = try certs.map { try CertificateFolder(path: $0) }
            guard let endorsementFile = vcek ?? folder?.endorsement else {
                throw missingEndorsement(parsed, explicit: explicit)
            }
            let endorsement = try CertificateFiles.single(endorsementFile, role: "--vcek") { EndorsementKind(certificate: $0) != nil }
            let product = try ProductChoice.decide(
                explicit: explicit, endorsementIssuer: endorsement.issuerCommonName, cpuid: parsed.cpuidProduct).get()
            let chain = AMDTrustChain.builtIn(product).replacing(
                ark: try (ark ?? folder?.ark).map { try CertificateFiles.single($0, role: "--ark") { $0.subjectCommonName.hasPrefix("ARK-") } },
                ask: try (ask ?? folder?.ask).map { try CertificateFiles.single($0, role: "--ask") { $0.subjectCommonName.hasPrefix("SEV-") && !$0.subjectCommonName.hasPrefix("SEV-VLEK") && EndorsementKind(certificate: $0) == nil } },
                asvk: try (asvk ?? folder?.asvk).map { try CertificateFiles.single($0, role: "--asvk") { $0.subjectCommonName.hasPrefix("SEV-VLEK-") } })
            let report = parsed.decoded(as: product)
            checks = AttestationVerifier(chain: chain, expectations: expectations, time: time).checks(report, endorsement: endorsement)
            print(checks, report: report, product: product)
        }
        if checks.contains(where: { !$0.ok }) { throw ExitStatus.failure }
    }

    private func print(_ checks: [AttestationCheck], report: AttestationReport, product: AMDProduct) {
        let verified = checks.allSatisfy(\.ok)
        if output.json {
            Output.json(.object([
                "verified": .bool(verified),
                "product": .string(product.rawValue),
                "checks": .array(checks.map { .object(["name": .string($0.name), "ok": .bool($0.ok), "expected": .string($0.expected), "actual": .string($0.actual)]) }),
                "report": ReportPresentation(report: report, product: product, productSource: "").json,
            ]))
            return
        }
        for check in checks {
            if check.ok {
                Output.line("✔ \(check.name): \(check.actual)")
            } else {
                Output.line("✘ \(check.name): expected \(check.expected), got \(check.actual)")
            }
        }
        let failed = checks.filter { !$0.ok }.map(\.name)
        Output.line(verified
            ? "verified: all \(checks.count) checks hold (\(product.kdsName))"
            : "NOT verified: \(failed.count) of \(checks.count) checks failed (\(failed.joined(separator: ", ")))")
    }

    /// No certificate given: say where AMD serves it.
    private func missingEndorsement(_ report: AttestationReport, explicit: AMDProduct?) -> CommandLineFailure {
        if report.keyInfo.signingKey == .vlek {
            return .usage("the report is signed by a VLEK: give its certificate (from the cloud provider) with --vcek FILE")
        }
        guard let product = explicit ?? report.cpuidProduct else {
            return .usage("missing --vcek FILE (or --certs DIR); give --product too to have its AMD KDS URL printed")
        }
        guard let url = KDSURL.vcek(for: report, product: product) else {
            return .usage("missing --vcek FILE (or --certs DIR); CHIP_ID is masked, so AMD's KDS cannot look it up")
        }
        return .usage("missing --vcek FILE (or --certs DIR): fetch this chip's VCEK from AMD's KDS: \(url)")
    }

    private func verificationTime() throws -> Int64 {
        guard let at else { return Int64(Glibc.time(nil)) }
        guard let seconds = UnixTime.parse(at) else {
            throw CommandLineFailure.usage("--at \(at): expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
        }
        return seconds
    }

    /// `--vm`/`--config` first, then each `--expect-*` on top.
    private func makeExpectations() throws -> AttestationExpectations {
        var e = AttestationExpectations()
        if let launch = try launchValues() {
            e.measurement = launch.measurement.bytes
            e.policy = launch.policy
            e.hostData = launch.hostData
            e.idKeyDigest = launch.idKeyDigest
            e.authorKeyDigest = launch.authorKeyDigest
        }
        if let v = expectMeasurement { e.measurement = try ExpectationArguments.bytes(v, count: 48, option: "--expect-measurement") }
        if let v = expectHostData { e.hostData = try ExpectationArguments.hostData(v) }
        if let v = expectPolicy {
            guard let policy = parseUInt64(v) else { throw CommandLineFailure.usage("--expect-policy \(v): expected a 64-bit number (0x… or decimal)") }
            e.policy = policy
        }
        if let v = expectIDKeyDigest { e.idKeyDigest = try ExpectationArguments.bytes(v, count: 48, option: "--expect-id-key-digest") }
        if let v = expectAuthorKeyDigest { e.authorKeyDigest = try ExpectationArguments.bytes(v, count: 48, option: "--expect-author-key-digest") }
        if let v = expectVMPL {
            guard (0...3).contains(v) else { throw CommandLineFailure.usage("--expect-vmpl \(v): VMPL is 0 to 3") }
            e.vmpl = UInt32(v)
        }
        if let v = reportData { e.reportData = try ExpectationArguments.reportData(v) }
        if let v = minTCB {
            do { e.minimumTCB = try MinimumTCB(parsing: v) } catch { throw CommandLineFailure.usage("--min-tcb \(error.description)") }
        }
        e.policyRules.allowDebug = allowDebug
        e.policyRules.allowMigrationAgent = allowMigrationAgent
        e.policyRules.allowSMT = !forbidSMT
        e.policyRules.requireSingleSocket = requireSingleSocket
        return e
    }

    /// The launch's values: `igvm-mgr measure CONFIG`'s digest, or the VM's recorded one.
    private func launchValues() throws -> ExpectedReportValues? {
        if let config {
            let definition: VMDefinition
            do {
                definition = try ConfigValidation.load(path: config)
            } catch {
                for problem in error.problems.dropLast() { Output.error(problem.description) }
                let last = error.problems.last?.description ?? config
                throw error.kind == .unreadable ? CommandLineFailure.usage(last) : CommandLineFailure.failure(last)
            }
            do {
                return try definition.expectedReportValues()
            } catch {
                throw error.kind == .unreadableInput ? CommandLineFailure.usage(error.description) : CommandLineFailure.failure(error.description)
            }
        }
        if let vm {
            do {
                return try ExpectedReportValues.forVM(vm, in: try state.resolve())
            } catch let error as LifecycleError {
                throw CommandLineFailure(message: error.description, status: error.exitStatus)
            }
        }
        return nil
    }
}
