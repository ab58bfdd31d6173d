import Foundation

/// The result of running a program to completion.
public struct ProcessResult: Sendable {
    /// The exit status, or the signal number when `signal` is set.
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// The signal that ended the process, when one did.
    public var signal: Int32? = nil

    public init(status: Int32, stdout: String, stderr: String, signal: Int32? = nil) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.signal = signal
    }
}

public enum TestProcess {
    /// Runs `executable` with `arguments` (an argv array, never a shell) and waits for it.
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdin: Data? = nil
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try? input.fileHandleForWriting.close()
        // Read both pipes to the end before waiting, so a chatty child cannot block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return ProcessResult(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self),
            signal: process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil)
    }
}

public struct MissingTool: Error, CustomStringConvertible {
    public var description: String
}

/// The QEMU the tests run against: Debian bookworm-backports' qemu-system-x86 10.0 (TCG).
public enum QEMU {
    /// `qemu-system-x86_64` from `$IGVM_MGR_TEST_QEMU`, /usr/bin or PATH. Throws (the test
    /// fails with the reason) when it is missing: these tests must never pass silently.
    public static func binary() throws -> String {
        let env = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let explicit = env["IGVM_MGR_TEST_QEMU"] { candidates.append(explicit) }
        candidates.append("/usr/bin/qemu-system-x86_64")
        for dir in (env["PATH"] ?? "").split(separator: ":") { candidates.append("\(dir)/qemu-system-x86_64") }
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw MissingTool(
            description: "qemu-system-x86_64 not found: run ./scripts/setup (installs qemu-system-x86 10.0 from bookworm-backports)")
    }
}

/// The `igvm-mgr` executable built beside the test bundle.
public enum IGVMManagerBinary {
    public static func path() throws -> String {
        let testBinaryDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            testBinaryDir.appendingPathComponent("igvm-mgr").path,
            testBinaryDir.deletingLastPathComponent().appendingPathComponent("igvm-mgr").path,
            TestPaths.packageRoot.appendingPathComponent(".build/debug/igvm-mgr").path,
        ]
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw MissingTool(description: "the igvm-mgr executable was not built (looked in \(candidates))")
    }

    /// Runs `igvm-mgr ARGS…` and returns its status and output.
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        try TestProcess.run(path(), arguments, environment: environment)
    }
}
