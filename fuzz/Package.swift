// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets, one executable per parser (fuzz/README.md). Kept out of the main package
// so that the sanitizer flags (-sanitize=fuzzer,address) apply only here. Build and run with
// ./run TARGET or ./smoke.
let package = Package(
    name: "igvm-fuzz",
    dependencies: [.package(name: "igvm-mgr", path: "..")],
    targets: [
        // libFuzzer's driver entry, shared by every fuzzer.
        .target(name: "FuzzerSupport"),
        .executableTarget(
            name: "IGVMParserFuzzer",
            dependencies: ["FuzzerSupport", .product(name: "IGVMFormat", package: "igvm-mgr")]
        ),
        .executableTarget(
            name: "DefinitionFuzzer",
            dependencies: ["FuzzerSupport", .product(name: "IGVMManager", package: "igvm-mgr")]
        ),
        .executableTarget(
            name: "QMPFrameFuzzer",
            dependencies: ["FuzzerSupport", .product(name: "IGVMQMP", package: "igvm-mgr")]
        ),
        .executableTarget(
            name: "ObjectSpecFuzzer",
            dependencies: ["FuzzerSupport", .product(name: "IGVMObjectModel", package: "igvm-mgr")]
        ),
        .executableTarget(
            name: "Base64Fuzzer",
            dependencies: ["FuzzerSupport", .product(name: "IGVMObjectModel", package: "igvm-mgr")]
        ),
        .executableTarget(
            name: "SNPReportFuzzer",
            dependencies: ["FuzzerSupport", .product(name: "SNPReportFormat", package: "igvm-mgr")]
        ),
    ]
)
