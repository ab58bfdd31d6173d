import IGVM
import Testing

/// One rule of QEMU 10.2.2's IGVM loading (libigvm 0.4.0's parse, then backends/igvm.c), a
/// small file built here with `IGVMWriter` that meets it, and what the checker must say. The
/// same table drives the unit test and the comparison with a real IGVM-capable QEMU.
struct LoaderRule: Sendable, CustomTestStringConvertible {
    enum Expected: Sendable, Equatable { case loads, refuses, aborts }

    let name: String
    /// The QEMU or libigvm function that decides it.
    let decidedBy: String
    let code: String?
    let expected: Expected
    var platform: IGVMPlatformType = .native
    var machine: MachineMemoryMap.Machine = .q35
    var memory: UInt64 = 512 << 20
    let bytes: @Sendable () -> [UInt8]

    var testDescription: String { name }
    /// Only native guests run under TCG, so only they can be loaded by a QEMU on any machine.
    var runsUnderTCG: Bool { platform == .native }

    /// What the checker's problem for the rule must be (a warning when QEMU loads the file).
    var level: IGVMProblem.Level {
        switch expected {
        case .loads: .warning
        case .refuses: .error
        case .aborts: .aborts
        }
    }

    func validator() -> IGVMValidator {
        IGVMValidator(platform: platform, qemuVersion: QEMUVersion(major: 10, minor: 2, micro: 2),
                      memoryMap: MachineMemoryMap(machine: machine, ramSize: memory))
    }
}

/// Small files for the rules: a native platform (mask 1) and its directives.
enum RuleFile {
    typealias M = MiniFile

    static func native(_ build: (inout IGVMWriter) -> Void) -> [UInt8] {
        var w = IGVMWriter()
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: .native)]
        build(&w)
        w.trailingData = [UInt8](repeating: 0xAA, count: 8)
        return w.serialize()
    }

    static func page(_ gpa: UInt64, mask: UInt32 = 1, flags: IGVMPageDataFlags = [], type: IGVMPageDataType = .normal) -> IGVMDirective {
        .pageData(IGVMPageData(gpa: gpa, compatibilityMask: mask, flags: flags, dataType: type))
    }

    static func required(_ gpa: UInt64, bytes: UInt32) -> IGVMDirective {
        .requiredMemory(IGVMRequiredMemory(gpa: gpa, compatibilityMask: 1, numberOfBytes: bytes, flags: 0))
    }

    static func parameter(_ kind: IGVMParameterKind, offset: UInt32 = 0) -> IGVMDirective {
        .parameter(IGVMParameter(kind: kind, parameterAreaIndex: 0, byteOffset: offset))
    }

    /// A native file plus a VSM-isolation platform (mask 2) whose VP context holds `registers`
    /// (vtl, Hyper-V register name) as libigvm's `VbsVpContextRegister`s.
    static func vbs(_ registers: [(vtl: UInt8, name: UInt32)], vpIndex: UInt16 = 0) -> [UInt8] {
        var w = IGVMWriter()
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: .native),
                       IGVMSupportedPlatform(compatibilityMask: 2, platformType: .vsmIsolation)]
        w.add(page(0x1000))
        var data: [UInt8] = withUnsafeBytes(of: UInt32(registers.count).littleEndian, Array.init)
        for r in registers {
            data += [r.vtl] + withUnsafeBytes(of: r.name.littleEndian, Array.init) + [UInt8](repeating: 0, count: 27)
        }
        w.add(M.vp(2, gpa: 0, index: vpIndex), data: data)
        w.trailingData = [0xAA]
        return w.serialize()
    }

    static let rip: UInt32 = 0x0002_0010, rsp: UInt32 = 0x0002_0004, rax: UInt32 = 0x0002_0000

    /// The VBS file with its VP context's file_offset moved past the end of the file.
    static func vbsContextPastTheEnd() -> [UInt8] {
        let b = vbs([(0, rip)])
        let file = try! IGVMFile(bytes: b)
        let fileOffsetField = file.directiveOffsets[1] + 8 + 0xC
        return M.patched(UInt32(b.count + 0x1000), at: fileOffsetField, b)
    }

    /// A file for sev-snp (mask 1) and native (mask 2) whose SEV-SNP VMSA has a byte set after 0x670.
    static func snpVMSAWithTail() -> [UInt8] {
        var w = IGVMWriter()
        w.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: .sevSNP),
                       IGVMSupportedPlatform(compatibilityMask: 2, platformType: .native)]
        w.add(page(0x1000, mask: 3))
        var vmsa = SEVVMSA.resetState(eip: 0xFFFF_FFF0, sevFeatures: 1).bytes
        vmsa[0x700] = 1
        w.add(M.vp(1), data: vmsa)
        w.trailingData = [0xAA]
        return w.serialize()
    }

    static func idBlock() -> IGVMDirective { ValidatorTests.idBlock() }
}

extension LoaderRule {
    typealias F = RuleFile
    static let areaOf4GiB: UInt64 = 1 << 32

    static let all: [LoaderRule] = [
        // libigvm 0.4.0 (igvm/src/lib.rs), for every platform.
        LoaderRule(name: "platform type 6 (CCA) is unknown to libigvm 0.4.0", decidedBy: "IgvmPlatformHeader::validate",
                   code: "libigvm-invalid-platform-type", expected: .refuses) {
            MiniFile.patched(UInt8(6), at: 0x25, MiniFile.bytes(.native))
        },
        LoaderRule(name: "SEV-SNP VMSA with bytes after 0x670, native target", decidedBy: "IgvmDirectiveHeader::new_from_binary_split",
                   code: "libigvm-vp-context-trailing-data", expected: .refuses) { F.snpVMSAWithTail() },
        LoaderRule(name: "VBS VP context with a register libigvm does not convert (RAX)",
                   decidedBy: "IgvmDirectiveHeader::new_from_binary_split, X86Register::try_from",
                   code: "libigvm-vbs-register", expected: .refuses) { F.vbs([(0, F.rip), (0, F.rax)]) },
        LoaderRule(name: "variable-header offset + size wraps past 2^32", decidedBy: "IgvmFile::new_from_binary (split_at panics)",
                   code: "libigvm-variable-header-section-out-of-file", expected: .aborts) {
            MiniFile.patched(UInt32(0xFFFF_FFF0), at: 0xC, MiniFile.bytes(.native))
        },
        LoaderRule(name: "VBS VP context for vp_index 1", decidedBy: "IgvmDirectiveHeader::new_from_binary_split (assert_eq!)",
                   code: "libigvm-vbs-context", expected: .aborts) { F.vbs([(0, F.rip)], vpIndex: 1) },
        LoaderRule(name: "VBS VP context mixing VTLs", decidedBy: "IgvmDirectiveHeader::new_from_binary_split (assert_eq!)",
                   code: "libigvm-vbs-context", expected: .aborts) { F.vbs([(0, F.rip), (2, F.rsp)]) },
        LoaderRule(name: "VBS VP context file_offset past the end", decidedBy: "IgvmDirectiveHeader::new_from_binary_split (slice index)",
                   code: "libigvm-file-data-out-of-bounds", expected: .aborts) { F.vbsContextPastTheEnd() },
        LoaderRule(name: "relocatable region with alignment 0", decidedBy: "IgvmInitializationHeader::validate (remainder by zero)",
                   code: "libigvm-relocation-alignment", expected: .aborts) {
            MiniFile.bytes(.native) { $0.initializations.append(MiniFile.region(gpa: 0x100000, alignment: 0)) }
        },
        // QEMU's loader for the native platform (backends/igvm.c, target/i386/igvm.c).
        LoaderRule(name: "secrets page on native", decidedBy: "qigvm_process_mem_region (qigvm_type_to_cgs_type needs cgs)",
                   code: "page-type", expected: .loads) { F.native { $0.add(F.page(0x100000, type: .secrets)) } },
        LoaderRule(name: "CPUID-XF page on native", decidedBy: "qigvm_process_mem_region (qigvm_type_to_cgs_type needs cgs)",
                   code: "page-type", expected: .loads) { F.native { $0.add(F.page(0x100000, type: .cpuidXF)) } },
        LoaderRule(name: "2 MiB page, not 2 MiB aligned", decidedBy: "qigvm_process_mem_region (page_size 0x200000)",
                   code: "2mb-page", expected: .loads) { F.native { $0.add(F.page(0x301000, flags: .is2MBPage)) } },
        LoaderRule(name: "two native VP contexts for vp_index 0", decidedBy: "qigvm_x86_set_vp_context (the last one wins)",
                   code: "vmsa-duplicate", expected: .loads) {
            F.native { $0.add(F.page(0x1000)); $0.add(MiniFile.vp(1, gpa: 0), data: []); $0.add(MiniFile.vp(1, gpa: 0), data: []) }
        },
        LoaderRule(name: "native VP context for vp_index 1", decidedBy: "qigvm_x86_set_vp_context",
                   code: "directive-platform", expected: .refuses) {
            F.native { $0.add(F.page(0x1000)); $0.add(MiniFile.vp(1, gpa: 0, index: 1), data: []) }
        },
        LoaderRule(name: "page in the IOAPIC", decidedBy: "qigvm_prepare_memory (memory_region_is_ram)",
                   code: "memory-not-ram", expected: .refuses) { F.native { $0.add(F.page(0xFEC0_0000)) } },
        LoaderRule(name: "page in the HPET", decidedBy: "qigvm_prepare_memory (memory_region_is_ram)",
                   code: "memory-not-ram", expected: .refuses) { F.native { $0.add(F.page(0xFED0_0000)) } },
        LoaderRule(name: "page in the local APIC window", decidedBy: "qigvm_prepare_memory (memory_region_is_ram)",
                   code: "memory-not-ram", expected: .refuses) { F.native { $0.add(F.page(0xFEE8_0000)) } },
        LoaderRule(name: "page run crossing into the IOAPIC", decidedBy: "qigvm_prepare_memory (memory_region_find)",
                   code: "memory-not-ram", expected: .refuses) {
            F.native { $0.add(F.page(0xFEBF_F000)); $0.add(F.page(0xFEC0_0000)) }
        },
        LoaderRule(name: "REQUIRED_MEMORY in the local APIC window", decidedBy: "qigvm_directive_required_memory, qigvm_prepare_memory",
                   code: "memory-not-ram", expected: .refuses) { F.native { $0.add(F.page(0x1000)); $0.add(F.required(0xFEE0_0000, bytes: 0x1000)) } },
        LoaderRule(name: "PARAMETER_INSERT into the HPET", decidedBy: "qigvm_directive_parameter_insert, qigvm_prepare_memory",
                   code: "memory-not-ram", expected: .refuses) {
            F.native { $0.add(F.page(0x1000)); $0.add(MiniFile.area(0)); $0.add(MiniFile.insert(0, gpa: 0xFED0_0000)) }
        },
        LoaderRule(name: "larger page run where an earlier run made a region", decidedBy: "qigvm_prepare_memory (region size exceeded)",
                   code: "memory-region-size", expected: .refuses) {
            F.native { $0.add(F.page(0x8000_0000)); $0.add(F.page(0x8000_0000)); $0.add(F.page(0x8000_1000)) }
        },
        LoaderRule(name: "REQUIRED_MEMORY of 0xFFFFF000 bytes at 0", decidedBy: "qigvm_prepare_memory (region size exceeded)",
                   code: "memory-region-size", expected: .refuses) { F.native { $0.add(F.page(0x1000)); $0.add(F.required(0, bytes: 0xFFFF_F000)) } },
        LoaderRule(name: "REQUIRED_MEMORY of 0 bytes where nothing is mapped", decidedBy: "qigvm_prepare_memory, find_ram_offset (assert)",
                   code: "memory-zero-size", expected: .aborts) { F.native { $0.add(F.page(0x1000)); $0.add(F.required(0x8000_0000, bytes: 0)) } },
        LoaderRule(name: "page run past the end of 512 MiB of RAM", decidedBy: "qigvm_prepare_memory (region size exceeded)",
                   code: "memory-region-size", expected: .refuses) { F.native { $0.add(F.page(0x1FFF_F000)); $0.add(F.page(0x2000_0000)) } },
        LoaderRule(name: "the same page run with 1 GiB of RAM", decidedBy: "qigvm_prepare_memory",
                   code: nil, expected: .loads, memory: 1 << 30) { F.native { $0.add(F.page(0x1FFF_F000)); $0.add(F.page(0x2000_0000)) } },
        LoaderRule(name: "4 GiB parameter area holding a memory map", decidedBy: "qigvm_directive_parameter_area (u32 size), qigvm_directive_memory_map",
                   code: "memory-map-area-size", expected: .refuses) {
            F.native { $0.add(F.page(0x1000)); $0.add(MiniFile.area(0, size: areaOf4GiB)); $0.add(F.parameter(.memoryMap)); $0.add(MiniFile.insert(0, gpa: 0x100000)) }
        },
        LoaderRule(name: "4 GiB parameter area holding the VP count", decidedBy: "qigvm_directive_parameter_area (u32 size), qigvm_directive_vp_count",
                   code: "parameter-area-empty", expected: .aborts) {
            F.native { $0.add(F.page(0x1000)); $0.add(MiniFile.area(0, size: areaOf4GiB)); $0.add(F.parameter(.vpCount)); $0.add(MiniFile.insert(0, gpa: 0x100000)) }
        },
        LoaderRule(name: "empty parameter area holding a memory map", decidedBy: "qigvm_directive_memory_map (byte_offset unused)",
                   code: "memory-map-area-size", expected: .refuses) {
            F.native { $0.add(F.page(0x1000)); $0.add(MiniFile.area(0, size: 0)); $0.add(F.parameter(.memoryMap, offset: 0x10)); $0.add(MiniFile.insert(0, gpa: 0x100000)) }
        },
        LoaderRule(name: "two SNP_ID_BLOCKs under the native mask", decidedBy: "qigvm_directive_snp_id_block",
                   code: "id-block-multiple", expected: .refuses) { F.native { $0.add(F.page(0x1000)); $0.add(F.idBlock()); $0.add(F.idBlock()) } },
        LoaderRule(name: "pc machine: the IOAPIC is there too", decidedBy: "qigvm_prepare_memory",
                   code: "memory-not-ram", expected: .refuses, machine: .pc) { F.native { $0.add(F.page(0xFEC0_0000)) } },
        // Confidential targets (KVM and SEV hardware only, so not loaded under TCG).
        LoaderRule(name: "SNP_ID_BLOCK on sev-es is ignored", decidedBy: "qigvm_handle_policy (SEV-SNP only)",
                   code: "id-block-ignored", expected: .loads, platform: .sevES) {
            MiniFile.bytes(.sevES) { $0.initializations = [.guestPolicy(policy: 0x5, compatibilityMask: 1)]; $0.add(F.idBlock()) }
        },
        LoaderRule(name: "secrets page on sev-es", decidedBy: "cgs_set_guest_state (target/i386/sev.c)",
                   code: "page-type", expected: .refuses, platform: .sevES) {
            MiniFile.bytes(.sevES) { $0.initializations = [.guestPolicy(policy: 0x5, compatibilityMask: 1)]; $0.add(F.page(0x2000, type: .secrets)) }
        },
    ]
}
