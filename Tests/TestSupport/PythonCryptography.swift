import Foundation

/// Python with the `cryptography` package (pyca, on PyPI; scripts/setup installs it): an
/// implementation of X.509, RSA-PSS and ECDSA independent of swift-crypto, for cross-checks and
/// for making test-only certificates.
public enum PythonCryptography {
    /// `python3` when it can import `cryptography` (a missing one: `PeerTools`' policy).
    public static let tool = PeerTool(
        name: "python3 with the cryptography package", install: "pip install cryptography",
        argv: {
            guard let python = PeerTools.find("python3"),
                  let r = try? TestProcess.run(python, ["-c", "import cryptography"]), r.status == 0
            else { return nil }
            return [python]
        }())

    /// Runs `script` with `arguments` (sys.argv[1...]); the result, whatever the status.
    public static func run(_ script: String, _ arguments: [String]) throws -> ProcessResult {
        let python = try tool.command()
        return try TestProcess.run(python[0], ["-c", script] + arguments)
    }
}
