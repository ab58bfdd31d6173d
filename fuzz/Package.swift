// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets over the IGVM parser and the SEV-SNP attestation report parser. Kept out
// of the main package so that the sanitizer flags (-sanitize=fuzzer,address) apply only here.
// Build and run with ./run or ./smoke.
let package = Package(
    name: "igvm-fuzz",
    dependencies: [.package(name: "igvm-mgr", path: "..")],
    targets: [
        .target(name: "FuzzerDriver"),
        .executableTarget(
            name: "IGVMParserFuzzer",
            dependencies: ["FuzzerDriver", .product(name: "IGVMFormat", package: "igvm-mgr")]
        ),
        .executableTarget(
            name: "SNPReportFuzzer",
            dependencies: ["FuzzerDriver", .product(name: "SNPReportFormat", package: "igvm-mgr")]
        ),
    ]
)
