import ArgumentParser
import FileAccess
import Foundation
import IGVM
import JSON

#if canImport(Glibc)
import Glibc
import Numerals
#endif

/// `igvm-mgr igvm …`: build, inspect and check IGVM files.
struct IGVMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "igvm",
        abstract: "Build, inspect and check IGVM files for QEMU.",
        subcommands: [IGVMBuild.self, IGVMInspect.self, IGVMCheck.self]
    )
}

/// Exits 2 with one line: bad usage (ArgumentParser's own parse errors exit 64, so values
/// are checked here to keep the project's 0/1/2 convention).
private func usage(_ message: String) -> ExitCode {
    Output.error(message)
    return ExitStatus.usage
}

/// A platform QEMU's IGVM loader supports, or exit 2.
private func platformArgument(_ text: String) throws -> IGVMPlatformType {
    guard let p = IGVMPlatformType(name: text), OVMFIGVMBuilder.supportedPlatforms.contains(p) else {
        throw usage("--platform \(text) is not one of native, sev, sev-es, sev-snp")
    }
    return p
}

private func policyArgument(_ text: String?) throws -> UInt64? {
    guard let text else { return nil }
    guard let v = parseHex(text) else { throw usage("--policy \(text) is not a number (0x… or decimal)") }
    return v
}

/// Reads a whole regular file of at most `limit` bytes, or exits 2 with one line naming it
/// and why (missing, a device or FIFO, too large).
private func readInput(_ path: String, limit: Int) throws -> [UInt8] {
    do {
        return try InputFile.read(path, limit: limit)
    } catch {
        Output.error(error.description)
        throw ExitStatus.usage
    }
}

/// Parses an IGVM file, or exits 1 (invalid) with libigvm's rule and code.
private func parseIGVM(_ path: String) throws -> IGVMFile {
    let bytes = try readInput(path, limit: InputFile.Limit.igvm)
    do {
        return try IGVMFile(bytes: bytes)
    } catch {
        Output.error("\(path): \(error)")
        throw ExitStatus.failure
    }
}

private func parseHex(_ text: String) -> UInt64? { Numeral.hexOrDecimal(text) }

struct IGVMBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build an IGVM file from OVMF firmware for QEMU's IGVM loader.",
        discussion: """
            Maps the firmware below 4 GiB, adds the SEV-SNP metadata pages (secrets, CPUID, zero \
            ranges) from OVMF's footer table, one VMSA per vCPU (last, at 0xFFFFFFFFF000) for \
            sev-es and sev-snp, and a GUEST_POLICY per platform. Repeat --platform for a file \
            that serves several platforms. --policy sets the SEV-SNP policy (or the SEV/SEV-ES \
            policy when SEV-SNP is not among the platforms).
            """)

    @Option(help: "OVMF firmware image (e.g. /usr/share/OVMF/OVMF_CODE_4M.fd).")
    var firmware: String

    @Option(help: "Platform: native, sev, sev-es or sev-snp (repeatable).")
    var platform: [String] = []

    @Option(help: "Number of vCPUs, 1 to 4096 (one VMSA each for sev-es/sev-snp).", transform: NumericOption.integer(1...4096))
    var cpus: Int = 1

    @Option(help: "Guest policy, hexadecimal (0x…) or decimal.")
    var policy: String?

    @Option(help: "vCPU signature to put in every VMSA's RDX, as sev-snp-measure does (default 0, like buildigvm).")
    var vcpuSig: String?

    @Option(name: .shortAndLong, help: "Output IGVM file.")
    var output: String

    func run() throws {
        guard !platform.isEmpty else { throw usage("give at least one --platform") }
        let platforms = try platform.map(platformArgument)
        let policyValue = try policyArgument(policy)
        var signature: UInt64 = 0
        if let vcpuSig {
            guard let v = parseHex(vcpuSig) else { throw usage("--vcpu-sig \(vcpuSig) is not a number") }
            signature = v
        }
        let ovmf: OVMFImage
        do {
            ovmf = try OVMFImage(bytes: readInput(firmware, limit: InputFile.Limit.firmware))
        } catch let e as OVMFError {
            Output.error("\(firmware): \(e)")
            throw ExitStatus.usage
        }
        let bytes: [UInt8]
        do {
            var builder = OVMFIGVMBuilder(platforms: platforms, vcpus: cpus, policy: policyValue)
            builder.vcpuSignature = signature
            bytes = try builder.build(ovmf)
        } catch {
            Output.error(error.message)
            throw ExitStatus.usage
        }
        do {
            try OutputFile.write(bytes, to: output)
        } catch {
            Output.error(error.description)
            throw ExitStatus.failure
        }
        if platforms.contains(.sevSNP) && ovmf.metadataSections.isEmpty {
            Output.warning("\(firmware) has no OVMF SEV metadata: no secrets/CPUID pages for sev-snp")
        }
        Output.line("wrote \(output): \(bytes.count) bytes, platforms \(platforms.map(\.name).joined(separator: ", ")), \(cpus) vCPU(s)")
    }
}

struct IGVMInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an IGVM file's header, platforms, directives, parameter areas and VMSAs.",
        discussion: "Exit status: 0 shown, 1 the file is not a valid IGVM file (libigvm would reject it), 2 unreadable.")

    @Argument(help: "IGVM file.")
    var file: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let report = IGVMInspector.report(try parseIGVM(file))
        if output.json {
            Output.json(Self.json(report))
        } else {
            report.textLines.forEach(Output.line)
        }
    }

    static func hexString<T: BinaryInteger>(_ v: T) -> JSON { .string("0x" + String(v, radix: 16, uppercase: true)) }

    static func json(_ r: IGVMInspection) -> JSON {
        let h = r.fixedHeader
        var header: JSONObject = ["formatVersion": JSON(h.formatVersion), "variableHeaderOffset": JSON(h.variableHeaderOffset),
                                  "variableHeaderSize": JSON(h.variableHeaderSize), "totalFileSize": JSON(h.totalFileSize),
                                  "checksum": hexString(h.checksum)]
        if let a = h.architecture { header["architecture"] = JSON(a == 1 ? "aarch64" : "x64") }
        if let p = h.pageSize { header["pageSize"] = JSON(p) }
        let platforms = r.platforms.map { p -> JSON in
            var o: JSONObject = ["type": JSON(p.type.name), "compatibilityMask": hexString(p.compatibilityMask),
                                 "version": JSON(Int(p.version)), "highestVTL": JSON(Int(p.highestVTL)),
                                 "sharedGPABoundary": hexString(p.sharedGPABoundary),
                                 "pages": JSON(p.pageCount), "vmsas": JSON(p.vmsaCount),
                                 "gpaRanges": .array(p.gpaRanges.map { JSON(["start": hexString($0.lowerBound), "end": hexString($0.upperBound)] as JSONObject) })]
            if let policy = p.policy {
                o["policy"] = JSON(["value": hexString(policy), "bits": .array(p.policyBits.map { JSON($0) })] as JSONObject)
            }
            return .object(o)
        }
        let areas = r.parameterAreas.map { a -> JSON in
            var o: JSONObject = ["index": JSON(a.index), "size": hexString(a.size),
                                 "uses": .array(a.uses.map { JSON(["type": JSON($0.kind), "byteOffset": hexString($0.byteOffset)] as JSONObject) })]
            if let at = a.insertedAt { o["insertedAt"] = hexString(at) }
            if let m = a.insertMask { o["insertMask"] = hexString(m) }
            return .object(o)
        }
        let vmsas = r.vmsas.map { v -> JSON in
            .object(["compatibilityMask": hexString(v.compatibilityMask), "vpIndex": JSON(Int(v.vpIndex)), "gpa": hexString(v.gpa),
                     "csSelector": hexString(v.cs.selector), "csBase": hexString(v.cs.base), "rip": hexString(v.rip),
                     "rsp": hexString(v.rsp), "rdx": hexString(v.rdx), "cr0": hexString(v.cr0), "cr4": hexString(v.cr4),
                     "efer": hexString(v.efer), "sevFeatures": hexString(v.sevFeatures)])
        }
        return .object(["header": .object(header), "fileSize": JSON(r.fileSize), "platforms": .array(platforms),
                        "initializationHeaders": JSON(r.initializationCount),
                        "directives": .object(JSONObject(r.directiveCounts.map { ($0.type, JSON($0.count)) })),
                        "parameterAreas": .array(areas), "vmsas": .array(vmsas)])
    }
}

struct IGVMCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check an IGVM file against what QEMU's IGVM loader does with it.",
        discussion: """
            Follows QEMU's order: libigvm's parse (for every platform; the libigvm QEMU 10.1 and \
            10.2 link, 0.4.0), then QEMU's loader for the platform it selects (every directive in \
            file order, placed in the machine's memory map: RAM below and above 4 GiB by --memory, \
            the IOAPIC, HPET and local APIC windows), then what KVM and the SEV firmware check at \
            launch (policy, ID block, VMSA count). Each problem says what you will see: error \
            (QEMU prints an error and exits), error (QEMU aborts) (it dies of a signal without a \
            message), or warning (it runs the file). The last line says what QEMU does as a whole. \
            Exit status: 0 no problems or warnings only, 1 errors, 2 unreadable file or bad usage.
            """)

    @Argument(help: "IGVM file.")
    var file: String

    @Option(help: "Target platform: native, sev, sev-es or sev-snp.")
    var platform: String

    @Option(help: "QEMU version to check against (default 10.2.2, the newest release described).")
    var qemuVersion: String = "10.2.2"

    @Option(help: "vCPUs the VM will have, 1 to 1024 (checks the VMSA count).", transform: NumericOption.integer(1...1024))
    var cpus: Int?

    @Option(help: "Policy the VM configuration sets (hexadecimal or decimal).")
    var policy: String?

    @Option(help: "Machine type: q35 or pc (also pc-q35-X.Y, pc-i440fx-X.Y).")
    var machine: String = "q35"

    @Option(help: "Guest RAM as -m takes it (512M, 4G), 2M to 512G (default 128M, QEMU's own default).")
    var memory: String?

    @OptionGroup var output: OutputOptions

    func run() throws {
        let platform = try platformArgument(self.platform)
        guard let version = QEMUVersion(qemuVersion) else {
            throw usage("--qemu-version \(qemuVersion) is not a version like 10.2.2")
        }
        if let cpus, !(1...1024).contains(cpus) { throw usage("--cpus \(cpus) is not between 1 and 1024") }
        let expected = try policyArgument(policy)
        let map = try memoryMapArgument(machine: machine, memory: memory)
        let bytes = try readInput(file, limit: InputFile.Limit.igvm)
        let validator = IGVMValidator(platform: platform, qemuVersion: version, vcpus: cpus, expectedPolicy: expected,
                                      memoryMap: map)
        let problems = validator.check(bytes: bytes)
        let verdict = IGVMLoadVerdict(problems)
        let failed = problems.contains { $0.isFatal }
        let target = "\(platform.name) on QEMU \(version), \(map)"
        if output.json {
            Output.json(.object([
                "file": JSON(file), "platform": JSON(platform.name), "qemuVersion": JSON(version.description),
                "machine": JSON(map.machine.rawValue), "memory": JSON(map.ramSize),
                "valid": JSON(!failed), "qemu": Self.json(verdict),
                "problems": .array(problems.map { p in
                    var o: JSONObject = ["level": JSON(p.level.rawValue), "stage": JSON(p.stage.rawValue),
                                         "code": JSON(p.code), "message": JSON(p.message)]
                    if let off = p.offset { o["offset"] = JSON(off) }
                    if let says = p.qemuSays { o["qemuSays"] = JSON(says) }
                    return .object(o)
                }),
            ]))
        } else if problems.isEmpty {
            Output.line("\(file): ok for \(target)")
        } else {
            for p in problems { Output.line("\(file): \(p)") }
            // Launch problems come after QEMU has loaded the file (KVM, the SEV firmware).
            let launch = problems.first { $0.isFatal && $0.stage == .launch }
            let then = verdict == .loads ? launch.map { ", then the launch fails (\($0.code))" } ?? "" : ""
            Output.line("\(file): \(target): \(verdict)\(then)")
        }
        if failed { throw ExitStatus.failure }
    }

    static func json(_ verdict: IGVMLoadVerdict) -> JSON {
        switch verdict {
        case .loads: .object(["verdict": JSON("loads")])
        case .aborts(let code): .object(["verdict": JSON("aborts"), "code": JSON(code)])
        case .refuses(let code, let says):
            .object(["verdict": JSON("refuses"), "code": JSON(code), "qemuSays": says.map { JSON($0) } ?? .null])
        }
    }
}

/// `--machine` and `--memory` as a machine memory map, or exit 2.
private func memoryMapArgument(machine: String, memory: String?) throws -> MachineMemoryMap {
    guard let family = MachineMemoryMap.Machine(machineType: machine) else {
        throw usage("--machine \(machine) is not q35 or pc (or a versioned pc-q35-X.Y / pc-i440fx-X.Y)")
    }
    var size = MachineMemoryMap.qemuDefaultRAMSize
    if let memory {
        guard let parsed = IGVMSize.parse(memory) else { throw usage("--memory \(memory) is not a size like 512M or 4G") }
        size = parsed
    }
    guard let map = MachineMemoryMap(machine: family, ramSize: size) else {
        throw usage("--memory \(memory ?? "") is outside 2M to 512G")
    }
    return map
}
