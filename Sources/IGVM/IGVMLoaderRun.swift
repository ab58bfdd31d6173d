import Numerals

/// One pass of QEMU's loader over a file for the selected platform, directive by directive in
/// file order as `qigvm_process_file` (backends/igvm.c) runs them, with the guest-physical
/// space the machine has. Each rule names the QEMU function that decides it.
struct IGVMLoaderRun {
    let validator: IGVMValidator
    let file: IGVMFile
    let platform: IGVMSupportedPlatform
    var problems: [IGVMProblem] = []
    /// nil without a memory map: placement is then not checked.
    var space: GuestPhysicalSpace?
    /// VMSA offsets by vp_index (SEV-ES/SNP) or the native BSP context.
    var vmsaIndexes: [UInt16: Int] = [:]

    /// `QIgvmParameterData.size`: a `uint32_t`, so number_of_bytes is taken modulo 2^32.
    private var areaSizes: [UInt32: (size: UInt32, declared: UInt64)] = [:]
    private var idBlocks = 0
    private var seenVPContext = false
    /// `qigvm_process_mem_page`'s pending run: contiguous pages with equal attributes.
    private var pending: (startIndex: Int, gpa: UInt64, count: UInt64, last: IGVMPageData, lastIndex: Int)?

    init(validator: IGVMValidator, file: IGVMFile, platform: IGVMSupportedPlatform) {
        self.validator = validator
        self.file = file
        self.platform = platform
        space = validator.memoryMap.map(GuestPhysicalSpace.init)
    }

    /// The selected platform's type (`ctx->platform_type`).
    private var type: IGVMPlatformType { platform.platformType }
    /// The confidential-guest object's type: what target/i386/sev.c checks (`sev_snp_enabled`,
    /// `sev_es_enabled`), which can be stronger than the selected platform after a fallback.
    private var guestType: IGVMPlatformType { validator.platform }
    private var mask: UInt32 { platform.compatibilityMask }
    /// `ctx->machine_state->cgs`: a confidential-guest-support object exists for SEV targets.
    private var confidential: Bool { validator.platform != .native }
    private var version: QEMUVersion { validator.qemuVersion }

    private mutating func add(_ level: IGVMProblem.Level, _ code: String, _ message: String, _ offset: Int?,
                              qemuSays: String? = nil, stage: IGVMProblem.Stage = .load) {
        problems.append(IGVMProblem(level, code, message, offset: offset, stage: stage, qemuSays: qemuSays))
    }

    // MARK: Headers

    /// `qigvm_handler`: a type without a handler fails the file when QEMU reaches it, whatever
    /// its compatibility mask.
    private mutating func hasHandler(_ type: IGVMHeaderType, at offset: Int) -> Bool {
        guard version.igvmHandledTypes.contains(type) else {
            let code = hex(type.rawValue, prefix: "")
            add(.error, "unhandled-header", "QEMU \(version) has no handler for \(type.cName)", offset,
                qemuSays: "IGVM: Unknown header type encountered when processing file: (type 0x\(code))")
            return false
        }
        return true
    }

    mutating func processDirectives() {
        for (index, directive) in file.directives.enumerated() {
            let offset = file.directiveOffsets[index]
            guard hasHandler(directive.type, at: offset) else { continue }
            switch directive {
            case .pageData(let page) where page.compatibilityMask & mask != 0:
                pageData(page, index: index, offset: offset)
            case .parameterArea(let area):
                areaSizes[area.parameterAreaIndex] = (UInt32(truncatingIfNeeded: area.numberOfBytes), area.numberOfBytes)
            case .parameterInsert(let insert) where insert.compatibilityMask & mask != 0:
                parameterInsert(insert, index: index, offset: offset)
            case .parameter(let parameter):
                self.parameter(parameter, offset: offset)
            case .vpContext(let context) where context.compatibilityMask & mask != 0:
                vpContext(context, offset: offset)
            case .requiredMemory(let memory) where memory.compatibilityMask & mask != 0:
                // qigvm_directive_required_memory: number_of_bytes at gpa.
                place(memory.gpa, UInt64(memory.numberOfBytes), index: index, offset: offset, what: "REQUIRED_MEMORY")
            case .snpIDBlock(let block) where block.compatibilityMask & mask != 0:
                idBlock(block, offset: offset)
            default:
                break  // another platform's directive, or one QEMU has no handler for (reported)
            }
        }
    }

    /// Initialization headers come after all directives; only GUEST_POLICY has a handler.
    mutating func processInitializations() {
        for (index, header) in file.initializations.enumerated() {
            _ = hasHandler(header.type, at: file.initializationOffsets[index])
        }
    }

    // MARK: Memory

    /// `qigvm_prepare_memory` for `size` bytes at `gpa`.
    private mutating func place(_ gpa: UInt64, _ size: UInt64, index: Int, offset: Int, what: String) {
        guard var space else { return }
        let outcome = space.prepare(gpa, size, identifier: index)
        self.space = space
        let at = hex(gpa)
        let prefix = "Processing of IGVM file failed: Could not prepare memory at address \(at)"
        switch outcome {
        case .existingRAM, .created:
            break
        case .nonRAM(let region):
            add(.error, "memory-not-ram", "\(what) of \(hex(size)) bytes at \(hex(gpa)) meets \(region) of the "
                + "\(validator.memoryMap!.description) machine, which is not RAM", offset,
                qemuSays: prefix + " due to existing non-RAM region")
        case .sizeExceeded(let region):
            add(.error, "memory-region-size", "\(what) of \(hex(size)) bytes at \(hex(gpa)) does not fit in \(region), the first "
                + "memory region it meets (QEMU sizes a region once, from what first lands there)", offset,
                qemuSays: prefix + ": region size exceeded")
        case .zeroSizedRegion:
            add(.aborts, "memory-zero-size", "\(what) of 0 bytes at \(hex(gpa)), where nothing is mapped: QEMU creates a "
                + "0-byte RAM region and aborts (find_ram_offset: Assertion 'size != 0')", offset)
        }
    }

    // MARK: Page data

    private mutating func pageData(_ page: IGVMPageData, index: Int, offset: Int) {
        if seenVPContext {
            add(.warning, "vmsa-not-last", "PAGE_DATA at \(hex(page.gpa)) comes after a VP context; KVM measures VMSAs last, "
                + "so file-order measurers disagree", offset)
        }
        if page.flags.contains(.is2MBPage) {
            // qigvm_process_mem_region: page_size 2 MiB, 4 KiB of file data copied, the rest zero.
            add(.warning, "2mb-page", "PAGE_DATA at \(hex(page.gpa)) is a 2 MiB page: QEMU places 2 MiB (the file's 4 KiB "
                + "of data, then zeros) and does not require 2 MiB alignment", offset)
        }
        if page.dataType != .normal {
            pageType(page, offset: offset)
        }
        // qigvm_process_mem_page: extend the pending run or flush it and start a new one.
        if let run = pending, run.lastIndex == index - 1, Self.sameAttributes(run.last, page),
           run.last.gpa &+ Self.pageSize(run.last) == page.gpa {
            pending = (run.startIndex, run.gpa, run.count + 1, page, index)
        } else {
            flushPendingPages()
            pending = (index, page.gpa, 1, page, index)
        }
    }

    /// `qigvm_page_attrs_equal`: flags, data type, mask, and both with or both without data.
    static func sameAttributes(_ a: IGVMPageData, _ b: IGVMPageData) -> Bool {
        a.flags == b.flags && a.dataType == b.dataType && a.compatibilityMask == b.compatibilityMask
            && (a.fileOffset == 0) == (b.fileOffset == 0)
    }

    static func pageSize(_ page: IGVMPageData) -> UInt64 { page.flags.contains(.is2MBPage) ? 0x20_0000 : igvmPageSize }

    /// `qigvm_process_mem_region` for the pending run, when the next page does not extend it
    /// or at the end of the file.
    mutating func flushPendingPages() {
        guard let run = pending else { return }
        pending = nil
        let (size, overflow) = run.count.multipliedReportingOverflow(by: Self.pageSize(run.last))
        let runOffset = file.directiveOffsets[run.startIndex]
        place(run.gpa, overflow ? .max : size, index: run.startIndex, offset: runOffset,
              what: "the page run of \(run.count) PAGE_DATA")
    }

    /// `qigvm_type_to_cgs_type` runs only with a confidential-guest object; target/i386/sev.c
    /// `cgs_set_guest_state` takes SECRETS and CPUID pages only for SEV-SNP.
    private mutating func pageType(_ page: IGVMPageData, offset: Int) {
        if !confidential {
            add(.warning, "page-type", "PAGE_DATA at \(hex(page.gpa)) has type \(page.dataType.name): QEMU's IGVM documentation "
                + "calls that an error outside SEV-SNP, but without a confidential-guest object QEMU \(version) never looks at "
                + "the page type and loads it as a normal page", offset)
        } else if guestType != .sevSNP {
            let what = page.dataType == .secrets ? "secrets page" : "CPUID page"
            add(.error, "page-type", "PAGE_DATA at \(hex(page.gpa)) has type \(page.dataType.name), which only SEV-SNP supports",
                offset, qemuSays: "attempt to configure \(what), but SEV-SNP is not enabled")
        }
    }

    // MARK: Parameters

    private mutating func parameterInsert(_ insert: IGVMParameterInsert, index: Int, offset: Int) {
        // The measurement order: QEMU keeps the latest page run pending until the next
        // PAGE_DATA, so on SEV-SNP an insert's UNMEASURED update precedes that run's pages.
        if guestType == .sevSNP, let run = pending {
            add(.warning, "insert-splits-run", "PARAMETER_INSERT at \(hex(insert.gpa)) is measured before the page run that precedes it "
                + "(from offset \(hex(file.directiveOffsets[run.startIndex]))): QEMU flushes a run only at the next PAGE_DATA, so its "
                + "SEV-SNP launch digest order differs from file order", offset)
        }
        if seenVPContext {
            add(.warning, "vmsa-not-last", "PARAMETER_INSERT at \(hex(insert.gpa)) comes after a VP context; VMSAs should be last", offset)
        }
        // qigvm_directive_parameter_insert: the area's (32-bit) size at gpa.
        guard let area = areaSizes[insert.parameterAreaIndex] else { return }
        place(insert.gpa, UInt64(area.size), index: index, offset: offset,
              what: "parameter area \(insert.parameterAreaIndex)" + Self.truncationNote(area))
    }

    static func truncationNote(_ area: (size: UInt32, declared: UInt64)) -> String {
        UInt64(area.size) == area.declared ? "" : " (declared \(hex(area.declared)) bytes, kept in 32 bits as \(hex(area.size)))"
    }

    /// Parameter usages apply to every platform: QEMU's handlers do not test a mask.
    private mutating func parameter(_ parameter: IGVMParameter, offset: Int) {
        guard let area = areaSizes[parameter.parameterAreaIndex] else { return }
        let name = parameter.kind.headerType.cName
        switch parameter.kind {
        case .vpCount, .environmentInfo:
            // qigvm_directive_vp_count / _environment_info write through data + byte_offset.
            if area.size == 0 {
                add(.aborts, "parameter-area-empty", "\(name) writes into parameter area \(parameter.parameterAreaIndex), which "
                    + "QEMU holds as 0 bytes\(Self.truncationNote(area)): g_malloc0(0) is NULL and the write crashes QEMU (SIGSEGV)", offset)
            } else if UInt64(parameter.byteOffset) + 4 > UInt64(area.size) {
                add(.error, "parameter-offset", "\(name) byte_offset \(hex(parameter.byteOffset)) lies outside its \(hex(area.size))-byte "
                    + "parameter area: QEMU does not check and writes past its buffer (heap corruption, possibly a crash)", offset)
            }
        case .memoryMap:
            // qigvm_directive_memory_map fills entries from the start of the area (byte_offset
            // is not used); a non-empty area (a multiple of 4 KiB) holds 256 entries, more than
            // a PC machine's e820 table has.
            if version < QEMUVersion.nativeIGVM && !confidential {
                add(.error, "directive-platform", "QEMU \(version) fills MEMORY_MAP only for SEV platforms", offset)
            } else if area.size == 0 {
                add(.error, "memory-map-area-size", "\(name) into parameter area \(parameter.parameterAreaIndex) of 0 bytes"
                    + Self.truncationNote(area) + ": no memory-map entry fits", offset,
                    qemuSays: "IGVM: guest memory map size exceeds parameter area defined in IGVM file")
            }
        default:
            break  // no handler in this version (reported), or one without a size rule
        }
    }

    // MARK: VP contexts and ID blocks

    private mutating func vpContext(_ context: IGVMVPContext, offset: Int) {
        seenVPContext = true
        if !confidential {
            // qigvm_x86_set_vp_context (target/i386/igvm.c): BSP only, a later one replaces it.
            if context.vpIndex != 0 {
                add(.error, "directive-platform", "native VP context for vp_index \(context.vpIndex): QEMU sets the context of the "
                    + "BSP only", offset, qemuSays: "context can be set for BSP only")
            } else if let previous = vmsaIndexes[0] {
                add(.warning, "vmsa-duplicate", "second native VP context for the BSP (first at \(hex(previous))): QEMU keeps the last one", offset)
            }
            vmsaIndexes[context.vpIndex] = offset
        } else if guestType == .sev {
            // cgs_set_guest_state (target/i386/sev.c) takes a VMSA only with SEV-ES.
            add(.error, "directive-platform", "VP_CONTEXT is not supported on sev (it needs SEV-ES encrypted save state)",
                offset, qemuSays: "attempt to configure initial VMSA, but SEV-ES is not supported")
        } else {
            var indexes = vmsaIndexes
            problems += IGVMVMSACheck(validator: validator, type: guestType).problems(file, context, offset: offset, indexes: &indexes)
            vmsaIndexes = indexes
        }
    }

    /// `qigvm_directive_snp_id_block`: a second one for the selected mask fails on any
    /// platform; `qigvm_handle_policy` passes it to the launch only for SEV-SNP.
    private mutating func idBlock(_ block: IGVMSNPIDBlock, offset: Int) {
        idBlocks += 1
        if idBlocks > 1 {
            add(.error, "id-block-multiple", "more than one SNP_ID_BLOCK for the \(type.name) platform", offset,
                qemuSays: "IGVM: Multiple ID blocks encountered in IGVM file.")
            return
        }
        guard type == .sevSNP else {
            add(.warning, "id-block-ignored", "SNP_ID_BLOCK for the \(type.name) platform: QEMU ignores it outside SEV-SNP", offset)
            return
        }
        problems += IGVMIDBlockCheck(expectedLaunchDigest: validator.expectedLaunchDigest).problems(block, offset: offset)
    }
}
