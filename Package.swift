// swift-tools-version: 6.1
import PackageDescription

// Module graph (see docs/architecture.md): data flows one way,
// definition → launch plan (+ capabilities) → state records → supervisor (process + QMP → events)
// → firmware update flow → lifecycle (the CLI's API). SwiftPM rejects an import against it.
let package = Package(
    name: "igvm-mgr",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "igvm-mgr", targets: ["igvm-mgr"]),
        .library(name: "IGVMManager", targets: ["JSON", "FileAccess", "Numerals", "Platform", "ObjectModel", "IGVM", "Measure", "QMP", "Definition", "Capabilities", "Launch", "VMState", "Supervisor", "FirmwareUpdate", "Lifecycle"]),
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
        // Numbers as text and as bytes, once each: the strict reader of hex/decimal text, the hex
        // formatter, the little-endian encoding. No dependency, so every module may use it.
        .target(name: "Numerals"),
        // Facts several layers name, defined once: QEMU's version (QMP reads it, IGVM and the
        // config checks compare it) and the SEV / SEV-SNP guest-policy bits (the object model,
        // IGVM files, attestation reports), and the kind-plus-description error shape of the
        // measurement and the report parser. Only Numerals below it, so ObjectModel, QMP, IGVM and
        // SNPReport all import it without importing each other: the graph stays acyclic.
        .target(name: "Platform", dependencies: ["Numerals"]),
        // fork + gate + execve: QEMU's pid is on record before QEMU runs (ProcessSpawner).
        .target(name: "CProcess", path: "Sources/CProcess"),
        .target(name: "ObjectModel", dependencies: ["JSON", "Numerals", "Platform"]),
        // The IGVM file format needs no dependency (its CRC-32 is a table); keeping it bare
        // (but for the two small bottom modules) makes the libFuzzer build of the parser small.
        .target(name: "IGVM", dependencies: ["Numerals", "Platform"]),
        .target(name: "Measure", dependencies: [
            "IGVM", "FileAccess", "Numerals", "Platform",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // SEV-SNP attestation reports: the parser is bare (plus Platform's policy bits) so that its
        // libFuzzer build stays small; verification adds the certificate chain and signatures.
        .target(name: "SNPReport", dependencies: ["Platform", "Numerals"]),
        .target(name: "Attestation", dependencies: [
            "SNPReport", "IGVM", "Measure", "Numerals",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),  // RSA-PSS for AMD's chain
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .target(name: "QMP", dependencies: [
            "JSON", "Platform", "Numerals",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A VM definition file (TOML) → a typed `VMDefinition` and its problems. No planning.
        .target(name: "Definition", dependencies: [
            "JSON", "ObjectModel", "IGVM", "FileAccess", "Numerals",
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // What a QEMU binary can do (probed over QMP) and the per-binary probe cache.
        .target(name: "Capabilities", dependencies: [
            "JSON", "QMP", "FileAccess",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The launch plan: definition + capabilities → QEMU's argv, host requirements, the
        // expected launch digest, and the plans of the vmfwupdate relaunches.
        .target(name: "Launch", dependencies: [
            "Definition", "Capabilities", "JSON", "ObjectModel", "IGVM", "Measure", "FileAccess", "Numerals",
        ]),
        // The state directory: VM folders, whole-file records, the event log, locks.
        .target(name: "VMState", dependencies: ["Launch", "Definition", "JSON", "FileAccess"]),
        // The per-VM supervisor process: spawns QEMU, talks QMP, maps events to phases,
        // classifies exits, serves the control socket.
        .target(name: "Supervisor", dependencies: [
            "VMState", "Launch", "QMP", "JSON", "FileAccess", "Numerals", "CProcess",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The vmfwupdate reset flow as a supervisor event policy.
        .target(name: "FirmwareUpdate", dependencies: [
            "Supervisor", "VMState", "Launch", "Definition", "IGVM", "QMP", "JSON", "FileAccess", "Numerals",
            .product(name: "Crypto", package: "swift-crypto"),  // SHA-256 of guest-supplied firmware
        ]),
        // start/stop/list/status/cleanup/... and the supervisor's entry: the CLI's API.
        .target(name: "Lifecycle", dependencies: [
            "FirmwareUpdate", "Supervisor", "VMState", "Launch", "Capabilities", "Definition",
            "QMP", "JSON", "ObjectModel", "Measure", "FileAccess", "Numerals",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "igvm-mgr", dependencies: [
            "JSON", "ObjectModel", "IGVM", "Measure", "QMP", "Definition", "Capabilities", "Launch", "VMState", "Supervisor", "FirmwareUpdate", "Lifecycle",
            "FileAccess", "Numerals", "SNPReport", "Attestation",
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
        .testTarget(name: "LaunchTests", dependencies: [
            "Definition", "Capabilities", "Launch", "VMState", "Supervisor", "FirmwareUpdate", "Lifecycle", "FileAccess", "Numerals", "ObjectModel", "QMP", "JSON", "IGVM", "Measure", "TestSupport"]),
        .testTarget(name: "AttestationTests", dependencies: ["Attestation", "SNPReport", "IGVM", "TestSupport"]),
        // Runs the built `igvm-mgr` binary as a user would.
        .testTarget(name: "CLITests", dependencies: ["igvm-mgr", "JSON", "IGVM", "TestSupport"]),
    ]
)
