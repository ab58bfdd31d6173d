/// A QEMU version, the one type for it: from QMP's greeting and `query-version` (QEMU's
/// `VersionInfo`, qapi/control.json), from the capability probe, from `qemu.version` or
/// `--qemu-version`. Compared numerically; `package` (QEMU's `--with-pkgversion`, e.g.
/// "Debian 1:10.2.2+ds-1") is carried along for display.
public struct QEMUVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var micro: Int
    public var package: String

    public init(major: Int, minor: Int, micro: Int = 0, package: String = "") {
        self.major = major
        self.minor = minor
        self.micro = micro
        self.package = package
    }

    /// Parses "10.2", "10.2.2" or "10.2.2 (Debian 1:10.2.2+ds-1)"; nil when malformed.
    public init?(_ text: String) {
        let head = text.split(separator: " ").first.map(String.init) ?? ""
        let parts = head.split(separator: ".", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count) else { return nil }
        var nums: [Int] = []
        for p in parts {
            guard let n = Int(p), n >= 0, n < 1000 else { return nil }
            nums.append(n)
        }
        self.init(major: nums[0], minor: nums[1], micro: nums.count > 2 ? nums[2] : 0)
    }

    public static func < (a: QEMUVersion, b: QEMUVersion) -> Bool {
        (a.major, a.minor, a.micro) < (b.major, b.minor, b.micro)
    }

    /// "10.2.2".
    public var description: String { "\(major).\(minor).\(micro)" }

    /// First QEMU with an IGVM loader (SEV, SEV-ES, SEV-SNP).
    public static let igvmSupport = QEMUVersion(major: 10, minor: 1)
    /// First QEMU that loads IGVM without a confidential-guest-support object (native).
    public static let nativeIGVM = QEMUVersion(major: 10, minor: 2)
    /// First QEMU with MADT, COMMAND_LINE and DEVICE_TREE handlers.
    public static let madtCommandLineDeviceTree = QEMUVersion(major: 11, minor: 0)
}
