import Definition
import IGVM

/// A guest-supplied IGVM image must be a well-formed IGVM file (parsed as libigvm does) that
/// QEMU's loader can run for the VM's platform (the IGVM module's validator, errors only).
public struct IGVMImageCheck: FirmwareImageChecking {
    public var platform: IGVMPlatformType
    public var qemuVersion: QEMUVersion
    public var vcpus: Int?
    public var expectedPolicy: UInt64?

    public init(platform: IGVMPlatformType, qemuVersion: QEMUVersion, vcpus: Int? = nil, expectedPolicy: UInt64? = nil) {
        self.platform = platform
        self.qemuVersion = qemuVersion
        self.vcpus = vcpus
        self.expectedPolicy = expectedPolicy
    }

    public func problem(with payload: FirmwareUpdatePayload) -> String? {
        guard payload.format == .igvm else { return nil }
        let file: IGVMFile
        do {
            file = try IGVMFile(bytes: payload.image)
        } catch {
            // What private (encrypted) memory of a confidential guest reads as: ciphertext.
            return "the image is not a well-formed IGVM file: \(error)"
                + (platform != .native ? Self.sharedMemoryRule : "")
        }
        let validator = IGVMValidator(platform: platform, qemuVersion: qemuVersion, vcpus: vcpus, expectedPolicy: expectedPolicy)
        guard let first = validator.validate(file).first(where: \.isFatal) else { return nil }
        return "the IGVM image cannot run as \(platform.name) on QEMU \(qemuVersion): \(first.code): \(first.message)"
    }

    /// The confidential payload rule, appended to a parse failure of a confidential guest's image.
    public static let sharedMemoryRule =
        " (a confidential guest must hand over its image in shared (unencrypted) guest memory: private memory reads as ciphertext)"
}
