import IGVM
import Numerals
import FileAccess

/// The directives of an IGVM file that matter to an SEV-SNP launch digest, in file order, with
/// their index among the file's directive headers.
enum IGVMMeasuredDirective: Sendable, Equatable {
    /// PAGE_DATA: `data` is the page's file data (≤ 4096 bytes) or nil for a zero page.
    case pageData(gpa: UInt64, mask: UInt32, flags: UInt32, dataType: UInt16, data: [UInt8]?)
    /// PARAMETER_AREA: a zeroed buffer of `size` bytes.
    case parameterArea(index: UInt32, size: UInt64)
    /// PARAMETER_INSERT: the area is copied to `gpa`.
    case parameterInsert(gpa: UInt64, mask: UInt32, areaIndex: UInt32)
    /// VP_CONTEXT carrying a VMSA page.
    case vpContext(gpa: UInt64, mask: UInt32, vpIndex: UInt16, vmsa: [UInt8])
    /// SNP_ID_BLOCK: the launch digest the file's author expects.
    case snpIDBlock(mask: UInt32, launchDigest: [UInt8])
    /// Any other directive (parameters, REQUIRED_MEMORY, …): no page is measured for it.
    case other(type: UInt32)

    /// IGVM page-data flags and types (igvm_defs `IgvmPageDataFlags`, `IgvmPageDataType`).
    static let flag2MB = IGVMPageDataFlags.is2MBPage.rawValue
    static let flagUnmeasured = IGVMPageDataFlags.unmeasured.rawValue
    static let dataTypeNormal = IGVMPageDataType.normal.rawValue
    static let dataTypeSecrets = IGVMPageDataType.secrets.rawValue
    static let dataTypeCPUIDData = IGVMPageDataType.cpuidData.rawValue
    static let dataTypeCPUIDXF = IGVMPageDataType.cpuidXF.rawValue

    /// The directive as QEMU's loader sees it, with its file data resolved.
    init(_ directive: IGVMDirective, in file: IGVMFile, index: Int) throws(MeasurementError) {
        switch directive {
        case .pageData(let p):
            self = .pageData(
                gpa: p.gpa, mask: p.compatibilityMask, flags: p.flags.rawValue, dataType: p.dataType.rawValue,
                data: file.data(of: p).map(Array.init))
        case .parameterArea(let a):
            self = .parameterArea(index: a.parameterAreaIndex, size: a.numberOfBytes)
        case .parameterInsert(let i):
            self = .parameterInsert(gpa: i.gpa, mask: i.compatibilityMask, areaIndex: i.parameterAreaIndex)
        case .vpContext(let v):
            guard let data = file.data(of: v) else {
                throw .invalid("VP_CONTEXT directive #\(index) has no 4 KiB of context data in the file")
            }
            self = .vpContext(gpa: v.gpa, mask: v.compatibilityMask, vpIndex: v.vpIndex, vmsa: Array(data))
        case .snpIDBlock(let b):
            self = .snpIDBlock(mask: b.compatibilityMask, launchDigest: b.ld)
        default:
            self = .other(type: directive.type.rawValue)
        }
    }
}

/// Whose measurement order to reproduce for an IGVM file.
public enum IGVMMeasurementOrder: String, Sendable, CaseIterable {
    /// QEMU 10.2 + KVM: contiguous PAGE_DATA runs are submitted when the run ends, every
    /// PARAMETER_INSERT covers its whole area, VMSAs come last, one per vCPU.
    case qemu
    /// coconut-svsm `igvmmeasure`: file order, one UNMEASURED page per PARAMETER_INSERT, every
    /// VMSA where the file has it.
    case file
}

/// An IGVM launch digest in both orders, and why they differ.
public struct IGVMLaunchMeasurement: Sendable, Equatable {
    /// What QEMU 10.2 + KVM will measure.
    public let qemu: LaunchDigest
    /// What igvmmeasure computes (file order).
    public let file: LaunchDigest
    /// One line per reason the two differ (empty when they agree or for reasons that happen to
    /// cancel out).
    public let differences: [String]
    /// vCPUs whose VMSA was measured in QEMU order.
    public let cpus: Int
    /// The LD of the file's SNP_ID_BLOCK for this platform, if it has one.
    public let idBlockDigest: LaunchDigest?

    public func digest(_ order: IGVMMeasurementOrder) -> LaunchDigest { order == .qemu ? qemu : file }
}

extension LaunchDigest {
    /// The SEV-SNP launch digest of an IGVM file for its SEV-SNP platform, in QEMU 10.2 + KVM's
    /// order and in igvmmeasure's file order. `cpus` is the vCPU count QEMU starts (`-smp`;
    /// default: one per VP_CONTEXT of the platform).
    ///
    /// The VMSAs are hashed as the file carries them: KVM rebuilds each VMSA from the register
    /// state QEMU loads from it, which gives the same page when the file mirrors the values KVM
    /// forces (EFER.SVME, CR4.MCE, PAT, XCR0, x87/MXCSR defaults), as IGVM builders do.
    public static func igvm(file: IGVMFile, cpus: Int? = nil) throws(MeasurementError) -> IGVMLaunchMeasurement {
        guard let platform = file.platform(ofType: .sevSNP) else {
            let present = file.platforms.map(\.platformType.name).joined(separator: ", ")
            throw .invalid("the IGVM file has no SEV-SNP platform (it has: \(present.isEmpty ? "none" : present))")
        }
        var directives: [IGVMMeasuredDirective] = []
        directives.reserveCapacity(file.directives.count)
        for (index, directive) in file.directives.enumerated() {
            directives.append(try IGVMMeasuredDirective(directive, in: file, index: index))
        }
        return try igvm(directives: directives, platformMask: platform.compatibilityMask, cpus: cpus)
    }

    /// Reads, parses (with libigvm's rules) and measures an IGVM file.
    public static func igvm(contentsOf path: String, cpus: Int? = nil) throws(MeasurementError) -> IGVMLaunchMeasurement {
        let bytes = try FileContents.read(path, limit: InputFile.Limit.igvm)
        let file: IGVMFile
        do {
            file = try IGVMFile(bytes: bytes)
        } catch {
            throw .invalid("\(path): \(error)")
        }
        return try igvm(file: file, cpus: cpus)
    }

    /// The SEV-SNP launch digest of IGVM directives for the platform whose compatibility mask
    /// is `platformMask`, in QEMU's order and in file order. `cpus` is the vCPU count QEMU
    /// starts (default: one per VP_CONTEXT of the platform).
    static func igvm(
        directives: [IGVMMeasuredDirective], platformMask: UInt32, cpus: Int? = nil
    ) throws(MeasurementError) -> IGVMLaunchMeasurement {
        var qemu = QEMUIGVMMeasurer(platformMask: platformMask)
        for (index, directive) in directives.enumerated() { try qemu.process(directive, index: index) }
        try qemu.finish()
        let vmsas = qemu.vmsasByVP
        let cpuCount = cpus ?? max(vmsas.count, 1)
        guard cpuCount >= 1 else { throw .invalid("the vCPU count must be at least 1, got \(cpuCount)") }
        for vp in 0..<cpuCount {
            guard let vmsa = vmsas[vp] else {
                throw .invalid(
                    "the IGVM file has no VP_CONTEXT for vCPU \(vp) of \(cpuCount): KVM would measure QEMU's reset-state VMSA for it, which this tool does not model; start at most \(vmsas.count) vCPUs or add VMSAs")
            }
            qemu.chain.addVMSA(vmsa)
        }
        let file = try fileOrderDigest(directives, platformMask: platformMask)
        var differences = qemu.reorderings
        differences += qemu.parameterInsertDifferences
        if vmsas.count != cpuCount || qemu.vmsaCountInFile != cpuCount {
            differences.append(
                "QEMU measures one VMSA per vCPU (\(cpuCount)); the file has \(qemu.vmsaCountInFile) VP_CONTEXT directive(s) for the platform")
        }
        if let firstVMSA = qemu.firstVMSAIndex, let lastPage = qemu.lastPageIndex, firstVMSA < lastPage {
            differences.append(
                "VP_CONTEXT directive #\(firstVMSA) comes before page directive #\(lastPage): KVM measures every VMSA after all pages")
        }
        return IGVMLaunchMeasurement(
            qemu: LaunchDigest(bytes: qemu.chain.digest), file: file,
            differences: qemu.chain.digest == file.bytes ? [] : differences, cpus: cpuCount,
            idBlockDigest: qemu.idBlockDigest.map(LaunchDigest.init(bytes:)))
    }

    /// igvmmeasure's algorithm: every directive in file order.
    static func fileOrderDigest(_ directives: [IGVMMeasuredDirective], platformMask: UInt32) throws(MeasurementError)
        -> LaunchDigest
    {
        var chain = SNPPageInfoChain()
        for (index, directive) in directives.enumerated() {
            switch directive {
            case let .pageData(gpa, mask, flags, dataType, data) where mask & platformMask != 0:
                let type = try snpPageType(dataType: dataType, flags: flags, index: index)
                try addPages(&chain, type: type, gpa: gpa, flags: flags, pages: [data])
            case let .parameterInsert(gpa, mask, _) where mask & platformMask != 0:
                chain.addContentlessPages(.unmeasured, gpa: gpa, length: 0x1000)
            case let .vpContext(gpa, mask, _, vmsa) where mask & platformMask != 0:
                // igvm's SnpVpContext: measured at the GPA the file gives, wherever it appears.
                chain.update(type: .vmsa, gpa: gpa, contents: pageHash(vmsa))
            default:
                break
            }
        }
        return LaunchDigest(bytes: chain.digest)
    }

    /// QEMU's mapping (`qigvm_type_to_cgs_type`, then sev.c): NORMAL pages, zero or not, are
    /// NORMAL unless flagged unmeasured; SECRETS; both CPUID types are CPUID.
    static func snpPageType(dataType: UInt16, flags: UInt32, index: Int) throws(MeasurementError) -> SNPPageType {
        switch dataType {
        case IGVMMeasuredDirective.dataTypeNormal:
            return flags & IGVMMeasuredDirective.flagUnmeasured != 0 ? .unmeasured : .normal
        case IGVMMeasuredDirective.dataTypeSecrets: return .secrets
        case IGVMMeasuredDirective.dataTypeCPUIDData, IGVMMeasuredDirective.dataTypeCPUIDXF: return .cpuid
        default: throw .invalid("PAGE_DATA directive #\(index) has page data type \(dataType), which QEMU rejects")
        }
    }

    /// Measures page directives (4 KiB or 2 MiB each; data zero-padded to the page size).
    static func addPages(
        _ chain: inout SNPPageInfoChain, type: SNPPageType, gpa: UInt64, flags: UInt32, pages: [[UInt8]?]
    ) throws(MeasurementError) {
        let pageSize: UInt64 = flags & IGVMMeasuredDirective.flag2MB != 0 ? 0x20_0000 : 0x1000
        var address = gpa
        for data in pages {
            if type == .normal {
                // A 2 MiB page is measured as 512 4 KiB pages; file data covers at most the first.
                var offset: UInt64 = 0
                while offset < pageSize {
                    let contents = offset == 0 ? pageHash(data ?? []) : SNPPageInfoChain.zeroPageHash
                    chain.update(type: .normal, gpa: address + offset, contents: contents)
                    offset += 0x1000
                }
            } else {
                chain.addContentlessPages(type, gpa: address, length: pageSize)
            }
            address += pageSize
        }
    }

    /// SHA-384 of a page's data zero-padded to 4096 bytes.
    static func pageHash(_ data: [UInt8]) -> [UInt8] {
        if data.isEmpty { return SNPPageInfoChain.zeroPageHash }
        var page = data
        if page.count < 4096 { page += [UInt8](repeating: 0, count: 4096 - page.count) }
        return page.withUnsafeBytes { Array(sha384($0)) }
    }
}

/// QEMU 10.2's `qigvm_process_file` for an SNP guest, reduced to what reaches
/// `SNP_LAUNCH_UPDATE`: page-data runs grouped as `qigvm_process_mem_page` groups them.
struct QEMUIGVMMeasurer {
    struct PendingRun {
        var startIndex: Int
        var lastIndex: Int
        var startGPA: UInt64
        var nextGPA: UInt64
        var mask: UInt32
        var flags: UInt32
        var dataType: UInt16
        var hasData: Bool
        var pages: [[UInt8]?]
    }

    let platformMask: UInt32
    var chain = SNPPageInfoChain()
    var pending: PendingRun?
    var areas: [UInt32: UInt64] = [:]
    var vmsasByVP: [Int: [UInt8]] = [:]
    var vmsaCountInFile = 0
    var firstVMSAIndex: Int?
    var lastPageIndex: Int?
    var idBlockDigest: [UInt8]?
    /// Directives QEMU measures ahead of earlier page data, with the reason.
    var reorderings: [String] = []
    var parameterInsertDifferences: [String] = []

    init(platformMask: UInt32) { self.platformMask = platformMask }

    mutating func process(_ directive: IGVMMeasuredDirective, index: Int) throws(MeasurementError) {
        switch directive {
        case let .pageData(gpa, mask, flags, dataType, data):
            guard mask & platformMask != 0 else { return }
            lastPageIndex = index
            let hasData = data != nil
            let size: UInt64 = flags & IGVMMeasuredDirective.flag2MB != 0 ? 0x20_0000 : 0x1000
            if let run = pending {
                let continues = run.hasData == hasData && run.flags == flags && run.dataType == dataType
                    && run.mask == mask && run.nextGPA == gpa && run.lastIndex == index - 1
                if continues {
                    pending!.pages.append(data)
                    pending!.lastIndex = index
                    pending!.nextGPA = gpa + size
                    return
                }
                try flush()
            }
            pending = PendingRun(
                startIndex: index, lastIndex: index, startGPA: gpa, nextGPA: gpa + size, mask: mask, flags: flags,
                dataType: dataType, hasData: hasData, pages: [data])
        case let .parameterArea(areaIndex, size):
            areas[areaIndex] = size
        case let .parameterInsert(gpa, mask, areaIndex):
            guard mask & platformMask != 0 else { return }
            guard let size = areas[areaIndex] else { return }  // QEMU warns and skips it
            guard size % 0x1000 == 0, size > 0 else {
                throw .invalid(
                    "PARAMETER_INSERT directive #\(index): parameter area \(areaIndex) is \(size) bytes, not a whole number of pages (KVM rejects it)")
            }
            if let run = pending {
                reorderings.append(
                    "PARAMETER_INSERT directive #\(index) (GPA \(hex(gpa, uppercase: false))) comes while the page run of directives #\(run.startIndex)–#\(run.lastIndex) (GPA \(hex(run.startGPA, uppercase: false))) is still pending: QEMU measures the insert first and the run when it ends")
            }
            if size != 0x1000 {
                parameterInsertDifferences.append(
                    "PARAMETER_INSERT directive #\(index) inserts a \(size / 0x1000)-page area: QEMU measures every page as UNMEASURED, igvmmeasure only the first")
            }
            chain.addContentlessPages(.unmeasured, gpa: gpa, length: size)
        case let .vpContext(gpa, mask, vpIndex, vmsa):
            guard mask & platformMask != 0 else { return }
            guard gpa == SNPPageInfoChain.vmsaGPA else {
                throw .invalid(
                    "VP_CONTEXT directive #\(index) has VMSA GPA \(hex(gpa, uppercase: false)); QEMU requires 0xfffffffff000")
            }
            vmsaCountInFile += 1
            firstVMSAIndex = firstVMSAIndex ?? index
            vmsasByVP[Int(vpIndex)] = vmsa
        case let .snpIDBlock(mask, launchDigest):
            if mask & platformMask != 0 { idBlockDigest = launchDigest }
        case .other:
            break
        }
    }

    /// End of file: the last run is submitted.
    mutating func finish() throws(MeasurementError) { try flush() }

    private mutating func flush() throws(MeasurementError) {
        guard let run = pending else { return }
        pending = nil
        let type = try LaunchDigest.snpPageType(dataType: run.dataType, flags: run.flags, index: run.startIndex)
        try LaunchDigest.addPages(&chain, type: type, gpa: run.startGPA, flags: run.flags, pages: run.pages)
    }
}
