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
    }

    /// The assembled ROMs.
    public struct Build: Sendable {
        /// Stage 1: the 64 KiB platform ROM to boot with `-bios` (the provider firmware).
        public var stage1: URL
        /// Stage 2's top (what stage 1 embeds); the full image is built by stage 1 in RAM.
        public var stage2Top: URL
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
        let stage1 = directory.appendingPathComponent("stage1\(variant.rawValue.isEmpty ? "" : "-" + variant.rawValue).rom")
        var arguments = ["-f", "bin", "-I", source, "-I", directory.path + "/", "-o", stage1.path]
        if !variant.rawValue.isEmpty { arguments.append("-D\(variant.rawValue)") }
        try run(nasm, arguments + [source + "stage1.asm"])
        return Build(stage1: stage1, stage2Top: stage2)
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
