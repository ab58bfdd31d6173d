import FileAccess
import ArgumentParser
import Attestation
import JSON
import Definition
import Launch
import Measure
import SNPReport

#if canImport(Glibc)
import Glibc
#endif

/// `igvm-mgr attest …`: read and verify SEV-SNP attestation reports.
struct AttestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest",
        abstract: "Show and verify SEV-SNP attestation reports (AMD's chain, the signature, the launch igvm-mgr measured).",
        discussion: "See docs/attestation.md for the relying party's flow and what each check protects against.",
        subcommands: [AttestShow.self, AttestVerify.self, AttestKDS.self]
    )
}

/// The report argument and `--product`, shared by the three subcommands.
struct ReportInput: ParsableArguments {
    @Argument(help: "The attestation report: 1184 raw bytes, or the same as hex text.")
    var report: String

    @Option(name: .customLong("product"), help: "milan, genoa or turin: the chain to use and the TCB layout (default: from the certificate, else the report's CPUID).")
    var product: String?

    /// The parsed `--product`, or exit 2.
    func explicitProduct() throws -> AMDProduct? {
        guard let product else { return nil }
        guard let value = AMDProduct(rawValue: product.lowercased()) else {
            throw CommandLineFailure.usage("--product \(product): expected milan, genoa or turin")
        }
        return value
    }

    /// Reads and parses the report: exit 2 when the file cannot be read, 1 when it is not a report.
    func load(product: AMDProduct?) throws -> AttestationReport {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(report, limit: InputFile.Limit.text)  // 1184 bytes, or their hex
        } catch {
            throw CommandLineFailure.usage(error.description)
        }
        do {
            return try AttestationReport(rawOrHex: bytes, product: product)
        } catch {
            throw CommandLineFailure.failure("\(report): \(error.description)")
        }
    }
}

/// `igvm-mgr attest show REPORT`.
struct AttestShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print every field of an SEV-SNP attestation report, decoded.",
        discussion: """
            Report versions 2, 3 and 5 (SNP firmware ABI 56860, "Attestation Report"). POLICY and \
            PLATFORM_INFO are shown with their named bits, each TCB with its parts: Turin's layout \
            [FMC, BL, TEE, SNP, 0, 0, 0, UCODE] when the CPUID (version 3 on) or --product says \
            Turin, else Milan/Genoa's [BL, TEE, 0, 0, 0, 0, SNP, UCODE]. Also prints the AMD KDS \
            URL of the VCEK for this chip and REPORTED_TCB.

            Exit status: 0 shown; 1 the file is not a report (size, version); 2 usage error or \
            unreadable file.
            """)

    @OptionGroup var input: ReportInput
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingFailures {
            let explicit = try input.explicitProduct()
            let report = try input.load(product: explicit)
            let product = explicit ?? report.cpuidProduct
            let source = explicit != nil ? "--product" : product != nil ? "from the CPUID" : "no CPUID and no --product: Milan/Genoa assumed"
            let presentation = ReportPresentation(report: report, product: product, productSource: source)
            let url = product.flatMap { KDSURL.vcek(for: report, product: $0) }
            if output.json {
                var o = presentation.json.objectValue ?? [:]
                o["kds-vcek-url"] = url.map(JSON.string) ?? .null
                Output.json(.object(o))
            } else {
                presentation.printText(extra: url.map { [("kds-vcek-url", $0)] } ?? [])
            }
        }
    }
}

/// `igvm-mgr attest kds REPORT`.
struct AttestKDS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kds",
        abstract: "Print the AMD KDS URLs of the certificates that verify a report (this tool never fetches them).",
        discussion: """
            The VCEK is per chip (CHIP_ID) and per TCB (REPORTED_TCB): \
            https://kdsintf.amd.com/vcek/v1/PRODUCT/HWID?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=.. \
            (Turin: an 8-byte hwID and fmcSPL too). The chain is …/vcek/v1/PRODUCT/cert_chain \
            (ASK + ARK) or …/vlek/v1/PRODUCT/cert_chain (ASVK + ARK). A VLEK comes from the cloud \
            provider, not from the KDS by chip. Fetch with e.g. `curl -o vcek.der URL`.

            Exit status: 0 printed; 1 the file is not a report, or it has no chip id to look up; \
            2 usage error, unreadable file, or no product known (give --product).
            """)

    @OptionGroup var input: ReportInput

    func run() throws {
        try reportingFailures {
            let explicit = try input.explicitProduct()
            let report = try input.load(product: explicit)
            guard let product = explicit ?? report.cpuidProduct else {
                throw CommandLineFailure.usage("\(input.report): the report carries no CPUID (version 2): give --product milan|genoa|turin")
            }
            let kind: EndorsementKind = report.keyInfo.signingKey == .vlek ? .vlek : .vcek
            if kind == .vcek, let url = KDSURL.vcek(for: report, product: product) {
                Output.line("vcek:       \(url)")
            } else if kind == .vcek {
                throw CommandLineFailure.failure("\(input.report): CHIP_ID is zero (masked): the KDS cannot look up this chip's VCEK")
            } else {
                Output.line("vlek:       from the cloud provider (the report is VLEK-signed; the KDS serves no VLEK by chip)")
            }
            Output.line("cert_chain: \(KDSURL.certificateChain(kind, product: product))")
        }
    }
}
