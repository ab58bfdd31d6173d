import Foundation

/// Peer tools some tests compare against (sev-snp-measure, openssl…), found on PATH.
public enum PeerTools {
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

    /// The argv prefix that runs sev-snp-measure: its entry point, or `python3 -m
    /// sevsnpmeasure.cli` when only the module is installed; nil when neither works.
    public static let sevSNPMeasure: [String]? = {
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
    }()
}
