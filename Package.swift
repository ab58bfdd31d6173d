// swift-tools-version: 6.1
import PackageDescription

// Module graph (see docs/architecture.md): data flows one way,
// config → object model → launch plan → process + QMP → events → state.
let package = Package(
    name: "igvm-mgr",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "igvm-mgr", targets: ["igvm-mgr"]),
        .library(name: "IGVMManager", targets: ["JSON", "FileAccess", "Numerals", "ObjectModel", "IGVM", "Measure", "QMP", "Launch"]),
        .library(name: "IGVMFormat", targets: ["IGVM"]),
        // Narrow products for the libFuzzer package (fuzz/): a fuzzer links only the parser it
        // fuzzes, so libFuzzer's coverage map holds that code and not all of SwiftNIO's.
        .library(name: "IGVMObjectModel", targets: ["ObjectModel"]),
        .library(name: "IGVMQMP", targets: ["QMP"]),
        .library(name: "SNPReportFormat", targets: ["SNPReport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // libjansson, wrapped once: only the JSON module imports it.
        .systemLibrary(
            name: "CJansson",
            path: "Sources/CJansson",
            pkgConfig: "jansson",
            providers: [.apt(["libjansson-dev"])]
        ),
        .target(name: "JSON", dependencies: ["CJansson"]),
        // Files users name: bounded regular-file reads, whole-file outputs that never replace a
        // device, FIFO or link.
        .target(name: "FileAccess"),
        // The one strict reader of numbers written as text (hex and decimal).
        .target(name: "Numerals"),
        // fork + gate + execve: QEMU's pid is on record before QEMU runs (ProcessSpawner).
        .target(name: "CProcess", path: "Sources/CProcess"),
        .target(name: "ObjectModel", dependencies: ["JSON", "Numerals"]),
        // The IGVM file format needs no dependency (its CRC-32 is a table); keeping it bare
        // makes the libFuzzer build of the parser small.
        .target(name: "IGVM"),
        .target(name: "Measure", dependencies: [
            "IGVM", "FileAccess",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // SEV-SNP attestation reports: the parser is bare (plus IGVM's policy bits) so that its
        // libFuzzer build stays small; verification adds the certificate chain and signatures.
        .target(name: "SNPReport", dependencies: ["IGVM"]),
        .target(name: "Attestation", dependencies: [
            "SNPReport", "IGVM", "Measure",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),  // RSA-PSS for AMD's chain
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .target(name: "QMP", dependencies: [
            "JSON",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Launch", dependencies: [
            "JSON", "ObjectModel", "IGVM", "Measure", "QMP", "FileAccess", "Numerals", "CProcess",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),  // SHA-256 of guest-supplied firmware
        ]),
        .executableTarget(name: "igvm-mgr", dependencies: [
            "JSON", "ObjectModel", "IGVM", "Measure", "QMP", "Launch", "FileAccess", "Numerals", "SNPReport", "Attestation",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Benchmark (not a test): `swift run -c release igvm-mgr-bench`, see bench/.
        .executableTarget(name: "igvm-mgr-bench", dependencies: [
            "QMP", "JSON", "CJansson", "TestSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "bench/igvm-mgr-bench"),

        // Shared helpers for the test targets: locating QEMU and the built CLI, temp dirs.
        .target(name: "TestSupport", dependencies: ["JSON"], path: "Tests/TestSupport"),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TestSupport"]),
        .testTarget(name: "ObjectModelTests", dependencies: ["ObjectModel", "JSON", "TestSupport"]),
        .testTarget(name: "IGVMTests", dependencies: ["IGVM", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "MeasureTests", dependencies: ["Measure", "IGVM", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "QMPTests", dependencies: [
            "QMP", "JSON", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "LaunchTests", dependencies: ["Launch", "ObjectModel", "QMP", "JSON", "IGVM", "Measure", "TestSupport"]),
        .testTarget(name: "AttestationTests", dependencies: ["Attestation", "SNPReport", "IGVM", "TestSupport"]),
        // Runs the built `igvm-mgr` binary as a user would.
        .testTarget(name: "CLITests", dependencies: ["igvm-mgr", "JSON", "IGVM", "TestSupport"]),
    ]
)
