// swift-tools-version: 6.1
import PackageDescription

// Module graph (see docs/architecture.md): data flows one way,
// config → object model → launch plan → process + QMP → events → state.
let package = Package(
    name: "igvm-mgr",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "igvm-mgr", targets: ["igvm-mgr"]),
        .library(name: "IGVMManager", targets: ["JSON", "ObjectModel", "IGVM", "Measure", "QMP", "Launch"]),
        .library(name: "IGVMFormat", targets: ["IGVM"]),
        // Narrow products for the libFuzzer package (fuzz/): a fuzzer links only the parser it
        // fuzzes, so libFuzzer's coverage map holds that code and not all of SwiftNIO's.
        .library(name: "IGVMObjectModel", targets: ["ObjectModel"]),
        .library(name: "IGVMQMP", targets: ["QMP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
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
        .target(name: "ObjectModel", dependencies: ["JSON"]),
        // The IGVM file format needs no dependency (its CRC-32 is a table); keeping it bare
        // makes the libFuzzer build of the parser small.
        .target(name: "IGVM"),
        .target(name: "Measure", dependencies: [
            "IGVM",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "QMP", dependencies: [
            "JSON",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Launch", dependencies: [
            "JSON", "ObjectModel", "IGVM", "Measure", "QMP",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),  // SHA-256 of guest-supplied firmware
        ]),
        .executableTarget(name: "igvm-mgr", dependencies: [
            "JSON", "ObjectModel", "IGVM", "Measure", "QMP", "Launch",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Benchmark (not a test): `swift run -c release igvm-mgr-bench`, see bench/.
        .executableTarget(name: "igvm-mgr-bench", dependencies: ["QMP", "JSON", "CJansson", "TestSupport"], path: "bench/igvm-mgr-bench"),

        // Shared helpers for the test targets: locating QEMU and the built CLI, temp dirs.
        .target(name: "TestSupport", dependencies: ["JSON"], path: "Tests/TestSupport"),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TestSupport"]),
        .testTarget(name: "ObjectModelTests", dependencies: ["ObjectModel", "JSON", "TestSupport"]),
        .testTarget(name: "IGVMTests", dependencies: ["IGVM", "TestSupport"]),
        .testTarget(name: "MeasureTests", dependencies: ["Measure", "IGVM", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "QMPTests", dependencies: [
            "QMP", "JSON", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "LaunchTests", dependencies: ["Launch", "ObjectModel", "QMP", "JSON", "IGVM", "Measure", "TestSupport"]),
        // Runs the built `igvm-mgr` binary as a user would.
        .testTarget(name: "CLITests", dependencies: ["igvm-mgr", "JSON", "IGVM", "TestSupport"]),
    ]
)
