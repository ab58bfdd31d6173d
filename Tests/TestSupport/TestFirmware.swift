import Foundation

/// The vmfwupdate test firmware (firmware/vmfwupdate-test/*.asm), assembled with nasm at test
/// time: stage 2 first (stage 1 embeds its top half with `incbin`), then stage 1.
public enum TestFirmware {
    /// A build of stage 1; `nasm -D` selects the request stage 1 writes.
    public enum Variant: String, Sendable, CaseIterable {
        case update = ""
        case disabled = "VARIANT_DISABLED"
        case badSize = "VARIANT_BAD_SIZE"
        case badAddress = "VARIANT_BAD_ADDRESS"
        case noRequest = "VARIANT_NO_REQUEST"
        case latch = "VARIANT_LATCH"
        /// Hands over stage 2 as an IGVM file (`FORMAT_IGVM`), built by `igvm-mgr igvm build`.
        case igvm = "VARIANT_IGVM"
    }

    /// The assembled ROMs.
    public struct Build: Sendable {
        /// Stage 1: the 64 KiB platform ROM to boot with `-bios` (the provider firmware).
        public var stage1: URL
        /// Stage 2's top (what stage 1 embeds); the full image is built by stage 1 in RAM.
        public var stage2Top: URL
        /// `.igvm`: the IGVM file stage 1 hands over (the 64 KiB stage-2 ROM, native).
        public var stage2IGVM: URL?
    }

    public static let sourceDirectory = TestPaths.packageRoot.appendingPathComponent("firmware/vmfwupdate-test")

    /// Lines the firmware prints on the debug console.
    public enum Marker {
        public static func stage1(boot: Int) -> String { "igvm-mgr-test: stage1 boot \(boot)\n" }
        public static let stage2 = "igvm-mgr-test: stage2 running\n"
        public static func opaque(_ text: String) -> String { "igvm-mgr-test: opaque=\(text)\n" }
        /// Stage 2 found stage 1's 1 MiB pattern at 1 MiB unchanged (guest RAM kept).
        public static let patternIntact = "igvm-mgr-test: stage2 found the 1 MiB pattern at 0x100000 unchanged\n"
        /// Stage 2 printed the opaque blob from RAM at the mailbox's opaque_addr.
        public static func opaqueInRAM(_ text: String) -> String { "igvm-mgr-test: opaque in RAM=\(text)\n" }
        /// A later stage-1 boot found control, fw_image_addr and fw_image_size zero.
        public static let requestCleared = "igvm-mgr-test: stage1 mailbox request fields read zero\n"
        public static let requestLeft = "igvm-mgr-test: stage1 mailbox request fields NOT cleared\n"
        /// VARIANT_LATCH: DISABLE set, seen by the manager, cleared again.
        public static let latchCleared = "igvm-mgr-test: stage1 set DISABLE, manager looked, DISABLE cleared\n"
        /// Everything stage 2 prints after an update with RAM kept and the opaque fw-cfg file.
        public static var stage2AfterUpdate: String {
            stage2 + patternIntact + opaqueInRAM(opaqueText) + opaque(opaqueText)
        }
        /// The whole debug-console log of a supervised start with one update: each instance's
        /// output after the manager's marker line.
        public static var logOfOneUpdate: String {
            "--- igvm-mgr: launch 1 (start) ---\n" + stage1(boot: 1) + "igvm-mgr-test: stage1 requested update, resetting\n"
                + "--- igvm-mgr: relaunch 2 (vmfwupdate) ---\n" + stage2AfterUpdate
        }
    }

    /// What stage 1 puts in the opaque blob.
    public static let opaqueText = "handed-over-by-stage1"

    public static func nasm() throws -> String {
        for candidate in ["/usr/bin/nasm", "/usr/local/bin/nasm"]
        where FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        throw MissingTool(description: "nasm not found: run ./scripts/setup (installs nasm for the test firmware)")
    }

    /// Assembles `variant` into `directory`.
    public static func assemble(_ variant: Variant, into directory: URL) throws -> Build {
        let nasm = try nasm()
        let source = sourceDirectory.path + "/"
        let stage2 = directory.appendingPathComponent("stage2.bin")
        try run(nasm, ["-f", "bin", "-I", source, "-o", stage2.path, source + "stage2.asm"])
        var stage2IGVM: URL?
        if variant == .igvm {
            // The stage-2 firmware as a whole 64 KiB ROM (zeros below its top), as -bios boots it.
            let rom = directory.appendingPathComponent("stage2.rom")
            let top = try Data(contentsOf: stage2)
            try (Data(count: 0x10000 - top.count) + top).write(to: rom)
            stage2IGVM = directory.appendingPathComponent("stage2.igvm")
            try buildIGVM(from: rom, to: stage2IGVM!)
        }
        let stage1 = directory.appendingPathComponent("stage1\(variant.rawValue.isEmpty ? "" : "-" + variant.rawValue).rom")
        var arguments = ["-f", "bin", "-I", source, "-I", directory.path + "/", "-o", stage1.path]
        if !variant.rawValue.isEmpty { arguments.append("-D\(variant.rawValue)") }
        try run(nasm, arguments + [source + "stage1.asm"])
        return Build(stage1: stage1, stage2Top: stage2, stage2IGVM: stage2IGVM)
    }

    /// `igvm-mgr igvm build --firmware ROM --platform native -o OUTPUT`: a ROM as an IGVM file
    /// whose pages end at 4 GiB, what a native guest boots with `igvm-cfg` instead of `-bios`.
    public static func buildIGVM(from rom: URL, to output: URL) throws {
        let result = try IGVMManagerBinary.run(["igvm", "build", "--firmware", rom.path, "--platform", "native", "-o", output.path])
        guard result.status == 0 else {
            throw MissingTool(description: "igvm-mgr igvm build --firmware \(rom.path) failed: \(result.stderr)")
        }
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let result = try TestProcess.run(executable, arguments)
        guard result.status == 0 else {
            throw MissingTool(description: "nasm \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
    }
}

/// Waiting for a QEMU debug-console file to show a line, without fixed sleeps: the file is
/// re-read whenever the deadline has not passed (QEMU appends as the guest writes port 0xe9).
public enum DebugConsole {
    public struct Timeout: Error, CustomStringConvertible {
        public var description: String
    }

    /// Returns the file's text once it contains `marker` `count` times.
    @discardableResult
    public static func waitFor(_ marker: String, count: Int = 1, in file: URL, timeout: Duration = .seconds(30)) async throws -> String {
        var text = ""
        let shown = await eventually(timeout: timeout) {
            text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
            return text.components(separatedBy: marker).count - 1 >= count
        }
        guard shown else {
            throw Timeout(description: "\(file.lastPathComponent) never showed \(marker.debugDescription) \(count)x; it holds: \(text.debugDescription)")
        }
        return text
    }
}
