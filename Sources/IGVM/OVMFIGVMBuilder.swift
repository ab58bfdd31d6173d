/// Why an IGVM file could not be built from firmware.
public struct IGVMBuildError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Builds an IGVM file QEMU's loader accepts from an OVMF image, the way buildigvm does
/// (roy-hopkins/buildigvm), for one or several platforms in one file:
///
/// - one SUPPORTED_PLATFORM per platform, masks 1, 2, 4… in the order given;
/// - a GUEST_POLICY per platform (sev 0x1, sev-es 0x5, sev-snp 0x30000, native 0, or `policy`);
/// - every 4 KiB of OVMF as NORMAL PAGE_DATA ending at 4 GiB, shared by all platforms;
/// - for SEV-SNP, the OVMF SEV metadata sections: SECRETS and CPUID pages, zero pages for
///   SEC_MEM, SVSM_CAA and kernel-hash ranges (QEMU fills none of them when IGVM is used);
/// - for SEV-ES and SEV-SNP, one VMSA per vCPU at 0xFFFFFFFFF000, last: vCPU 0 at the reset
///   vector 0xFFFFFFF0, the others at the SEV-ES reset block's EIP (KVM measures VMSAs last).
public struct OVMFIGVMBuilder: Sendable {
    public var platforms: [IGVMPlatformType]
    public var vcpus: Int
    /// Guest policy override: the SEV-SNP policy when SEV-SNP is among the platforms, otherwise
    /// the SEV/SEV-ES policy. Nil: buildigvm's defaults.
    public var policy: UInt64?
    /// RDX of every VMSA (sev-snp-measure puts the vCPU signature there; buildigvm 0).
    public var vcpuSignature: UInt64 = 0

    public init(platforms: [IGVMPlatformType], vcpus: Int, policy: UInt64? = nil) {
        self.platforms = platforms
        self.vcpus = vcpus
        self.policy = policy
    }

    /// buildigvm's GUEST_POLICY per platform.
    public static func defaultPolicy(_ platform: IGVMPlatformType) -> UInt64 {
        switch platform {
        case .sev: 0x1
        case .sevES: 0x5
        case .sevSNP: 0x30000
        default: 0
        }
    }

    /// The platforms QEMU's loader can run (`qigvm_supported_platform_compat_mask`, backends/igvm.c).
    public static let supportedPlatforms: [IGVMPlatformType] = [.native, .sev, .sevES, .sevSNP]

    public func policy(for platform: IGVMPlatformType) -> UInt64 {
        guard let policy else { return Self.defaultPolicy(platform) }
        let target: Set<IGVMPlatformType> = platforms.contains(.sevSNP) ? [.sevSNP] : [.sev, .sevES]
        return target.contains(platform) ? policy : Self.defaultPolicy(platform)
    }

    /// The writer holding the whole file.
    public func writer(for ovmf: OVMFImage) throws(IGVMBuildError) -> IGVMWriter {
        guard !platforms.isEmpty else { throw IGVMBuildError("no platform given") }
        guard Set(platforms).count == platforms.count else { throw IGVMBuildError("a platform is given twice") }
        for p in platforms where !Self.supportedPlatforms.contains(p) {
            throw IGVMBuildError("platform \(p.name) is not one QEMU's IGVM loader supports (native, sev, sev-es, sev-snp)")
        }
        guard (1...4096).contains(vcpus) else { throw IGVMBuildError("--cpus \(vcpus) must be between 1 and 4096") }
        let size = ovmf.bytes.count
        guard size > 0, size % 4096 == 0 else {
            throw IGVMBuildError("firmware size \(size) is not a non-zero multiple of 4096")
        }
        guard UInt64(size) <= ovmf.endGPA else { throw IGVMBuildError("firmware is larger than 4 GiB") }
        let needsVMSA = platforms.contains(.sevES) || platforms.contains(.sevSNP)
        let apEIP = ovmf.sevESResetEIP
        if needsVMSA && vcpus > 1 && apEIP == nil {
            throw IGVMBuildError("firmware has no SEV-ES reset block, so application processors cannot start under SEV-ES/SEV-SNP")
        }

        var w = IGVMWriter()
        var allMask: UInt32 = 0
        for (i, p) in platforms.enumerated() {
            let mask = UInt32(1) << UInt32(i)
            allMask |= mask
            w.platforms.append(IGVMSupportedPlatform(compatibilityMask: mask, platformType: p))
        }
        for (i, p) in platforms.enumerated() {
            w.initializations.append(.guestPolicy(policy: policy(for: p), compatibilityMask: UInt32(1) << UInt32(i)))
        }
        let base = ovmf.gpa
        for page in stride(from: 0, to: size, by: 4096) {
            w.add(.pageData(IGVMPageData(gpa: base + UInt64(page), compatibilityMask: allMask)),
                  data: Array(ovmf.bytes[page..<(page + 4096)]))
        }
        if let snp = platforms.firstIndex(of: .sevSNP) {
            let mask = UInt32(1) << UInt32(snp)
            for section in ovmf.metadataSections {
                let type: IGVMPageDataType = switch section.type {
                case .snpSecrets: .secrets
                case .cpuid: .cpuidData
                default: .normal
                }
                let start = UInt64(section.gpa) & ~0xFFF
                let end = UInt64(section.gpa) + UInt64(section.size)
                for gpa in stride(from: start, to: end, by: 4096) {
                    w.add(.pageData(IGVMPageData(gpa: gpa, compatibilityMask: mask, dataType: type)))
                }
            }
        }
        for (i, p) in platforms.enumerated() where p == .sevES || p == .sevSNP {
            let mask = UInt32(1) << UInt32(i)
            for vp in 0..<vcpus {
                let eip: UInt32 = vp == 0 ? 0xFFFF_FFF0 : apEIP!
                let vmsa = SEVVMSA.resetState(eip: eip, rdx: vcpuSignature, sevFeatures: p == .sevSNP ? 1 : 0)
                w.add(.vpContext(IGVMVPContext(gpa: igvmKVMVMSAGPA, compatibilityMask: mask, fileOffset: 0,
                                               vpIndex: UInt16(vp), reserved: 0, format: .sevVMSA)),
                      data: vmsa.bytes)
            }
        }
        return w
    }

    /// The serialized IGVM file.
    public func build(_ ovmf: OVMFImage) throws(IGVMBuildError) -> [UInt8] {
        try writer(for: ovmf).serialize()
    }
}
