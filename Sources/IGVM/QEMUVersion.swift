/// A QEMU version (from the capability probe or `--qemu-version`), compared numerically.
public struct QEMUVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var micro: Int

    public init(major: Int, minor: Int, micro: Int = 0) {
        self.major = major
        self.minor = minor
        self.micro = micro
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

    public var description: String { "\(major).\(minor).\(micro)" }

    /// First QEMU with an IGVM loader (SEV, SEV-ES, SEV-SNP).
    public static let igvmSupport = QEMUVersion(major: 10, minor: 1)
    /// First QEMU that loads IGVM without a confidential-guest-support object (native).
    public static let nativeIGVM = QEMUVersion(major: 10, minor: 2)
    /// First QEMU with MADT, COMMAND_LINE and DEVICE_TREE handlers.
    public static let madtCommandLineDeviceTree = QEMUVersion(major: 11, minor: 0)

    /// The header types QEMU's loader has a handler for; any other type fails the whole file,
    /// whatever its compatibility mask (`qigvm_handler` and its `handlers` table, backends/igvm.c).
    public var igvmHandledTypes: Set<IGVMHeaderType> {
        guard self >= Self.igvmSupport else { return [] }
        var types: Set<IGVMHeaderType> = [.pageData, .vpContext, .parameterArea, .parameterInsert, .memoryMap,
                                          .vpCountParameter, .environmentInfoParameter, .requiredMemory,
                                          .snpIDBlock, .guestPolicy, .supportedPlatform]
        if self >= Self.madtCommandLineDeviceTree { types.formUnion([.madt, .commandLine, .deviceTree]) }
        return types
    }
}
