import Crypto
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// SEV-SNP page types as they appear in the PAGE_INFO structure (SNP firmware ABI,
/// "Layout of the PAGE_INFO structure").
public enum SNPPageType: UInt8, Sendable, CaseIterable {
    case normal = 0x01
    case vmsa = 0x02
    case zero = 0x03
    case unmeasured = 0x04
    case secrets = 0x05
    case cpuid = 0x06
}

/// The running SEV-SNP launch digest: every measured page folds a 112-byte PAGE_INFO into it,
/// `LD' = SHA-384(LD ‖ CONTENTS ‖ LENGTH ‖ TYPE ‖ IMI ‖ VMPL perms ‖ GPA)`.
///
/// This is what the PSP does for each `SNP_LAUNCH_UPDATE` page; the digest after the last page
/// is the attestation report's MEASUREMENT.
public struct SNPPageInfoChain: Sendable {
    /// Size of the launch digest and of each PAGE_INFO contents field (SHA-384).
    public static let digestSize = 48
    /// KVM measures every VMSA at this GPA (`INITIAL_VMSA_GPA` in arch/x86/kvm/svm/sev.c).
    public static let vmsaGPA: UInt64 = 0xFFFF_FFFF_F000
    public static let pageSize = 4096

    private static let pageInfoSize = 0x70
    private static let zeroContents = [UInt8](repeating: 0, count: digestSize)
    /// SHA-384 of 4096 zero bytes: the contents hash of a zero page measured as NORMAL (how
    /// QEMU's IGVM loader submits IGVM zero pages).
    public static let zeroPageHash: [UInt8] = Array(SHA384.hash(data: [UInt8](repeating: 0, count: pageSize)))

    /// PAGE_INFO being assembled; bytes 0..<48 hold the current digest between updates.
    private var pageInfo: [UInt8]

    /// Starts from `seed` (48 zero bytes for a fresh launch, or a precomputed digest such as
    /// sev-snp-measure's `--snp-ovmf-hash`).
    public init(seed: [UInt8]? = nil) {
        pageInfo = [UInt8](repeating: 0, count: Self.pageInfoSize)
        if let seed {
            precondition(seed.count == Self.digestSize, "an SNP launch digest seed is 48 bytes")
            pageInfo.replaceSubrange(0..<Self.digestSize, with: seed)
        }
        pageInfo[0x60] = UInt8(Self.pageInfoSize & 0xFF)
        pageInfo[0x61] = UInt8(Self.pageInfoSize >> 8)
    }

    /// The launch digest so far.
    public var digest: [UInt8] { Array(pageInfo[0..<Self.digestSize]) }

    /// Folds one page into the digest. `contents` is the SHA-384 of the page for NORMAL and
    /// VMSA pages and 48 zero bytes for every other type.
    public mutating func update(type: SNPPageType, gpa: UInt64, contents: [UInt8]) {
        precondition(contents.count == Self.digestSize, "PAGE_INFO contents are 48 bytes")
        contents.withUnsafeBytes { update(type: type, gpa: gpa, rawContents: $0) }
    }

    /// Folds one page whose contents hash is `digest`.
    public mutating func update(type: SNPPageType, gpa: UInt64, contents digest: SHA384.Digest) {
        digest.withUnsafeBytes { update(type: type, gpa: gpa, rawContents: $0) }
    }

    /// The hot path: copies, fills and hashes PAGE_INFO in place (no per-byte loops, so that
    /// even debug builds measure a 4 MiB image quickly).
    private mutating func update(type: SNPPageType, gpa: UInt64, rawContents: UnsafeRawBufferPointer) {
        pageInfo.withUnsafeMutableBytes { info in
            let base = info.baseAddress!
            (base + Self.digestSize).copyMemory(from: rawContents.baseAddress!, byteCount: Self.digestSize)
            // 0x60 LENGTH stays 0x70; IMI_PAGE and the VMPL permissions stay 0 under KVM.
            info[0x62] = type.rawValue
            info.storeBytes(of: gpa.littleEndian, toByteOffset: 0x68, as: UInt64.self)
            sha384(UnsafeRawBufferPointer(info)).withUnsafeBytes { digest in
                base.copyMemory(from: digest.baseAddress!, byteCount: Self.digestSize)
            }
        }
    }

    /// Measures `bytes` (a multiple of 4 KiB) as consecutive NORMAL pages starting at `gpa`.
    public mutating func addNormalPages(gpa: UInt64, bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count % Self.pageSize == 0, "NORMAL pages are whole 4 KiB pages")
        let pages = bytes.count / Self.pageSize
        // Only the chain is sequential: the pages' own hashes are independent, so they are
        // computed first, spread over the CPUs (most of the work for a firmware image).
        let hashes = Self.pageHashes(of: bytes, pages: pages)
        hashes.withUnsafeBytes { all in
            for page in 0..<pages {
                let hash = UnsafeRawBufferPointer(rebasing: all[page * Self.digestSize..<(page + 1) * Self.digestSize])
                update(type: .normal, gpa: gpa + UInt64(page * Self.pageSize), rawContents: hash)
            }
        }
    }

    /// SHA-384 of each 4 KiB page of `bytes`, concatenated.
    static func pageHashes(of bytes: UnsafeRawBufferPointer, pages: Int) -> [UInt8] {
        var hashes = [UInt8](repeating: 0, count: pages * digestSize)
        // Below this a thread hand-off costs more than it saves.
        let workers = pages < 64 ? 1 : max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 8))
        hashes.withUnsafeMutableBytes { out in
            let job = PageHashJob(input: bytes, output: out.baseAddress!)
            if workers == 1 {
                job.hash(pages: 0..<pages)
            } else {
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    job.hash(pages: pages * worker / workers..<pages * (worker + 1) / workers)
                }
            }
        }
        return hashes
    }

    /// Measures `bytes` (a multiple of 4 KiB) as consecutive NORMAL pages starting at `gpa`.
    public mutating func addNormalPages(gpa: UInt64, bytes: [UInt8]) {
        bytes.withUnsafeBytes { addNormalPages(gpa: gpa, bytes: $0) }
    }

    /// Measures one page whose PAGE_INFO carries no contents hash (ZERO, UNMEASURED, SECRETS,
    /// CPUID) for each 4 KiB page of `[gpa, gpa + length)`.
    public mutating func addContentlessPages(_ type: SNPPageType, gpa: UInt64, length: UInt64) {
        precondition(type != .normal && type != .vmsa, "NORMAL and VMSA pages carry a contents hash")
        var offset: UInt64 = 0
        while offset < length {
            update(type: type, gpa: gpa + offset, contents: Self.zeroContents)
            offset += UInt64(Self.pageSize)
        }
    }

    /// Measures a 4096-byte VMSA page at the fixed VMSA GPA.
    public mutating func addVMSA(_ page: [UInt8]) {
        precondition(page.count == Self.pageSize, "a VMSA page is 4096 bytes")
        page.withUnsafeBytes { update(type: .vmsa, gpa: Self.vmsaGPA, contents: sha384($0)) }
    }
}

/// Hashes pages of `input` into their slots of `output`. Workers get disjoint page ranges and
/// the buffers outlive `concurrentPerform`, hence the unchecked Sendable.
private struct PageHashJob: @unchecked Sendable {
    let input: UnsafeRawBufferPointer
    let output: UnsafeMutableRawPointer

    func hash(pages: Range<Int>) {
        let size = SNPPageInfoChain.pageSize, digestSize = SNPPageInfoChain.digestSize
        for page in pages {
            let contents = UnsafeRawBufferPointer(rebasing: input[page * size..<(page + 1) * size])
            sha384(contents).withUnsafeBytes { digest in
                (output + page * digestSize).copyMemory(from: digest.baseAddress!, byteCount: digestSize)
            }
        }
    }
}

/// SHA-384 of raw bytes without copying them (swift-crypto's one-shot raw-pointer form is internal).
@inline(__always)
func sha384(_ bytes: UnsafeRawBufferPointer) -> SHA384.Digest {
    var hasher = SHA384()
    hasher.update(bufferPointer: bytes)
    return hasher.finalize()
}
