import Foundation

/// The example VM definitions shipped under configs/.
public enum ExampleConfigs {
    /// Names (file names without `.toml`) of every example.
    public static let all = ["tcg-plain", "snp-ovmf", "snp-igvm", "sev-es", "native-igvm", "nocc", "linux-tcg"]

    /// The examples this host can start: TCG, no SEV, QEMU 10.0 (no igvm-cfg).
    public static let startableHere = ["tcg-plain"]

    /// Absolute path of example `name`.
    public static func path(_ name: String) -> String {
        TestPaths.packageRoot.appendingPathComponent("configs/\(name).toml").path
    }
}
