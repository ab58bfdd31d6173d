import Foundation

/// Peer tools some tests compare against (sev-snp-measure, Python `cryptography`…), found on PATH.
///
/// The policy for a missing peer tool, the same for every one: the tests that need it fail, each
/// with a message naming the tool and how to install it (`./scripts/setup` installs them all),
/// so that a machine without it never passes those tests silently. Only an explicit opt-out
/// skips them instead: `IGVM_MGR_TEST_SKIP_MISSING_PEERS=1` in the environment (for a machine
/// that cannot install the peers; the skip is shown with its reason in the test report). QEMU,
/// what most tests run against, is no peer: it is required always (`QEMU.binary()`).
public enum PeerTools {
    /// The environment variable that turns a missing peer's failures into skips.
    public static let skipMissingVariable = "IGVM_MGR_TEST_SKIP_MISSING_PEERS"

    /// Absolute path of `name` on PATH (or in the pyenv shims), or nil.
    public static func find(_ name: String) -> String? {
        let env = ProcessInfo.processInfo.environment
        var dirs = (env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        if let home = env["HOME"] { dirs.append("\(home)/.pyenv/shims") }
        for dir in dirs {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// sev-snp-measure: its entry point, or `python3 -m sevsnpmeasure.cli` when only the module
    /// is installed.
    public static let sevSNPMeasure = PeerTool(
        name: "sev-snp-measure", install: "pip install sev-snp-measure==0.0.13",
        argv: {
            if let tool = find("sev-snp-measure"),
                let r = try? TestProcess.run(tool, ["--version"]), r.status == 0
            {
                return [tool]
            }
            if let python = find("python3"),
                let r = try? TestProcess.run(python, ["-m", "sevsnpmeasure.cli", "--version"]), r.status == 0
            {
                return [python, "-m", "sevsnpmeasure.cli"]
            }
            return nil
        }())
}

/// One peer tool: how to run it when it is installed, and how to install it when it is not.
public struct PeerTool: Sendable {
    /// What the tool is called in messages.
    public let name: String
    /// The command that installs it (scripts/setup runs it).
    public let install: String
    /// The argv prefix that runs it, or nil when it is missing.
    public let argv: [String]?

    public init(name: String, install: String, argv: [String]?) {
        self.name = name
        self.install = install
        self.argv = argv
    }

    /// Whether the tests that need this tool run: always, unless it is missing and the
    /// environment opts out (`PeerTools.skipMissingVariable`). A suite takes it as its
    /// `.enabled(if:)` trait with `skipReason`.
    public var testsRun: Bool {
        argv != nil || ProcessInfo.processInfo.environment[PeerTools.skipMissingVariable] != "1"
    }

    /// Why its tests were skipped, for the trait's comment.
    public var skipReason: String {
        "\(name) is not installed and \(PeerTools.skipMissingVariable)=1 skips what needs it (\(install), or ./scripts/setup)"
    }

    /// The argv prefix that runs the tool; a missing tool is an error naming it and its install.
    public func command() throws -> [String] {
        guard let argv else {
            throw MissingTool(description: "\(name) not found: run ./scripts/setup (or \(install)); \(PeerTools.skipMissingVariable)=1 skips the tests that need it")
        }
        return argv
    }
}
