/// A launch digest: 48 bytes (SHA-384 chain) for SEV-SNP, 32 bytes (SHA-256, before the
/// firmware's HMAC) for SEV and SEV-ES.
public struct LaunchDigest: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Lower-case hex, as sev-snp-measure and attestation tools print it.
    public var hex: String { Hex.encode(bytes) }
    public var base64: String { Base64.encode(bytes) }
    public var description: String { hex }
}

/// The confidential-computing mode a digest is computed for (sev-snp-measure's `--mode`).
public enum SEVMode: String, Sendable, CaseIterable {
    case sev
    case sevES = "seves"
    case snp
}

/// The hypervisor whose initial vCPU state the VMSAs reproduce (sev-snp-measure's
/// `--vmm-type`). EC2 and GCE set a few registers differently from QEMU/KVM.
public enum VMMType: String, Sendable, CaseIterable {
    case qemu = "QEMU"
    case ec2
    case gce
}
