import Crypto
import Numerals
import IGVM
import FileAccess

extension OVMFImage {
    /// Reads and parses an OVMF image mapped to end at 4 GiB.
    public init(contentsOf path: String) throws(MeasurementError) {
        let bytes = try FileContents.read(path, limit: InputFile.Limit.firmware)
        do {
            try self.init(bytes: bytes)
        } catch {
            throw .invalid("\(path): \(error.description)")
        }
    }
}

/// The vCPU count, CPU model and hypervisor of an OVMF launch.
public struct OVMFLaunchParameters: Sendable {
    public var vcpus: Int
    /// CPUID signature QEMU loads into RDX (ignored by EC2 and GCE, which use 0x600).
    public var signature: VCPUSignature
    /// SEV_FEATURES of the VMSAs (SNP only; sev-snp-measure's default 0x1 = SNPActive).
    public var guestFeatures: UInt64
    public var vmm: VMMType
    /// Measured direct boot (`kernel-hashes=on`): the hashes QEMU places in the firmware.
    public var kernelHashes: SEVHashTable?

    public init(
        vcpus: Int, signature: VCPUSignature, guestFeatures: UInt64 = 0x1, vmm: VMMType = .qemu,
        kernelHashes: SEVHashTable? = nil
    ) {
        self.vcpus = vcpus
        self.signature = signature
        self.guestFeatures = guestFeatures
        self.vmm = vmm
        self.kernelHashes = kernelHashes
    }
}

extension LaunchDigest {
    /// SEV-SNP launch digest of an OVMF launch, exactly as sev-snp-measure `--mode snp`
    /// computes it: the image as NORMAL pages, the metadata sections in table order, then one
    /// VMSA per vCPU (BSP at the reset vector, APs at the reset block's EIP).
    ///
    /// `ovmfHash` replaces the image pages with a digest precomputed by
    /// ``snpOVMFHash(_:)`` (`--snp-ovmf-hash`).
    public static func snp(
        ovmf: OVMFImage, _ parameters: OVMFLaunchParameters, ovmfHash: LaunchDigest? = nil
    ) throws(MeasurementError) -> LaunchDigest {
        var chain: SNPPageInfoChain
        if let ovmfHash {
            guard ovmfHash.bytes.count == SNPPageInfoChain.digestSize else {
                throw .invalid("the SNP OVMF hash must be 48 bytes (96 hex digits), got \(ovmfHash.bytes.count)")
            }
            chain = SNPPageInfoChain(seed: ovmfHash.bytes)
        } else {
            chain = try imageChain(ovmf)
        }
        try addMetadataPages(ovmf, parameters, to: &chain)
        for page in try vmsaPages(ovmf, parameters, mode: .snp) { chain.addVMSA(page) }
        return LaunchDigest(bytes: chain.digest)
    }

    /// The digest after the image pages only (`--mode snp:ovmf-hash`), for ``snp(ovmf:_:ovmfHash:)``.
    public static func snpOVMFHash(_ ovmf: OVMFImage) throws(MeasurementError) -> LaunchDigest {
        LaunchDigest(bytes: try imageChain(ovmf).digest)
    }

    /// SEV-ES launch digest before the firmware's HMAC: SHA-256 over the image, the padded
    /// kernel hash table and every VMSA (SEV_FEATURES 0).
    public static func sevES(ovmf: OVMFImage, _ parameters: OVMFLaunchParameters) throws(MeasurementError)
        -> LaunchDigest
    {
        var hash = try sevHash(ovmf, parameters.kernelHashes)
        for page in try vmsaPages(ovmf, parameters, mode: .sevES) { hash.update(data: page) }
        return LaunchDigest(bytes: Array(hash.finalize()))
    }

    /// SEV launch digest before the firmware's HMAC: SHA-256 over the image and the padded
    /// kernel hash table.
    public static func sev(ovmf: OVMFImage, kernelHashes: SEVHashTable? = nil) throws(MeasurementError)
        -> LaunchDigest
    {
        let hash = try sevHash(ovmf, kernelHashes)
        return LaunchDigest(bytes: Array(hash.finalize()))
    }

    // MARK: - Steps

    private static func imageChain(_ ovmf: OVMFImage) throws(MeasurementError) -> SNPPageInfoChain {
        guard ovmf.bytes.count % SNPPageInfoChain.pageSize == 0, !ovmf.bytes.isEmpty else {
            throw .invalid("the OVMF image size \(ovmf.bytes.count) is not a non-zero multiple of 4096 bytes")
        }
        var chain = SNPPageInfoChain()
        chain.addNormalPages(gpa: ovmf.gpa, bytes: ovmf.bytes)
        return chain
    }

    private static func addMetadataPages(
        _ ovmf: OVMFImage, _ parameters: OVMFLaunchParameters, to chain: inout SNPPageInfoChain
    ) throws(MeasurementError) {
        for section in ovmf.metadataSections {
            let gpa = UInt64(section.gpa), size = UInt64(section.size)
            switch section.type {
            case .snpSecMem:
                chain.addContentlessPages(parameters.vmm == .gce ? .unmeasured : .zero, gpa: gpa, length: size)
            case .snpSecrets:
                chain.addContentlessPages(.secrets, gpa: gpa, length: 0x1000)
            case .cpuid:
                // EC2 measures the CPUID page after every other section.
                if parameters.vmm != .ec2 { chain.addContentlessPages(.cpuid, gpa: gpa, length: 0x1000) }
            case .svsmCAA:
                chain.addContentlessPages(.zero, gpa: gpa, length: size)
            case .snpKernelHashes:
                if let hashes = parameters.kernelHashes {
                    guard let tableGPA = ovmf.sevHashTableGPA else {
                        throw .invalid("OVMF has an SNP_KERNEL_HASHES section but no SEV hash table entry in its footer table")
                    }
                    guard size == 0x1000 else {
                        throw .invalid("the SNP_KERNEL_HASHES section at \(Numerals.hex(gpa, uppercase: false)) is \(size) bytes, not one page")
                    }
                    let offset = Int(tableGPA & 0xFFF)
                    guard offset + SEVHashTable.paddedSize <= 0x1000 else {
                        throw .invalid("the SEV hash table at \(Numerals.hex(tableGPA, uppercase: false)) crosses its page")
                    }
                    chain.addNormalPages(gpa: gpa, bytes: hashes.page(offset: offset))
                } else {
                    chain.addContentlessPages(.zero, gpa: gpa, length: size)
                }
            }
        }
        if parameters.vmm == .ec2 {
            for section in ovmf.metadataSections where section.type == .cpuid {
                chain.addContentlessPages(.cpuid, gpa: UInt64(section.gpa), length: 0x1000)
            }
        }
        if parameters.kernelHashes != nil, !ovmf.metadataSections.contains(where: { $0.type == .snpKernelHashes }) {
            throw .invalid("Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section")
        }
    }

    private static func sevHash(_ ovmf: OVMFImage, _ kernelHashes: SEVHashTable?) throws(MeasurementError)
        -> SHA256
    {
        var hash = SHA256()
        hash.update(data: ovmf.bytes)
        if let kernelHashes {
            guard ovmf.sevHashTableGPA != nil else {
                throw .invalid("Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement")
            }
            hash.update(data: kernelHashes.bytes)
        }
        return hash
    }

    private static func vmsaPages(_ ovmf: OVMFImage, _ parameters: OVMFLaunchParameters, mode: SEVMode)
        throws(MeasurementError) -> [[UInt8]]
    {
        guard parameters.vcpus >= 1 else { throw .invalid("the vCPU count must be at least 1, got \(parameters.vcpus)") }
        guard let apEIP = ovmf.sevESResetEIP else {
            throw .invalid("Can't find SEV_ES_RESET_BLOCK_GUID entry in OVMF table")
        }
        let features = mode == .snp ? parameters.guestFeatures : 0
        let bsp = QEMUResetVMSA.page(
            eip: QEMUResetVMSA.bspEIP, sevFeatures: features, signature: parameters.signature, vmm: parameters.vmm)
        guard parameters.vcpus > 1 else { return [bsp] }
        guard apEIP != 0 else { throw .invalid("the OVMF SEV-ES reset block gives AP reset EIP 0; cannot start APs") }
        let ap = QEMUResetVMSA.page(eip: apEIP, sevFeatures: features, signature: parameters.signature, vmm: parameters.vmm)
        return [bsp] + Array(repeating: ap, count: parameters.vcpus - 1)
    }
}

extension LaunchDigest {
    /// SEV-SNP digest of an OVMF launch, spelled out: `snp(ovmf:vcpus:cpu:)` is what a QEMU
    /// `-cpu EPYC-v4 -smp 4 -bios OVMF.fd` launch with `sev-snp-guest` measures.
    public static func snp(
        ovmf: OVMFImage, vcpus: Int, cpu: VCPUSignature, guestFeatures: UInt64 = 0x1, vmm: VMMType = .qemu,
        kernelHashes: SEVHashTable? = nil
    ) throws(MeasurementError) -> LaunchDigest {
        try snp(
            ovmf: ovmf,
            OVMFLaunchParameters(
                vcpus: vcpus, signature: cpu, guestFeatures: guestFeatures, vmm: vmm, kernelHashes: kernelHashes))
    }
}
