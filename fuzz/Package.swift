// swift-tools-version: 6.1
import PackageDescription

// libFuzzer target over the IGVM parser. Kept out of the main package so that the sanitizer
// flags (-sanitize=fuzzer,address) apply only here. Build and run with ./run or ./smoke.
let package = Package(
    name: "igvm-fuzz",
    dependencies: [.package(name: "igvm-mgr", path: "..")],
    targets: [
        .executableTarget(
            name: "IGVMParserFuzzer",
            dependencies: [.product(name: "IGVMFormat", package: "igvm-mgr")]
        ),
    ]
)
