import Foundation
import IGVM
import Testing
import TestSupport

/// Each rule of QEMU 10.2.2's IGVM loading: the checker names it with the level the operator
/// will see, and the verdict (what QEMU does as a whole) follows.
@Suite struct LoaderRuleTests {
    @Test(arguments: LoaderRule.all)
    func checkerSaysWhatQEMUDoes(rule: LoaderRule) {
        let problems = rule.validator().check(bytes: rule.bytes())
        if let code = rule.code {
            let problem = problems.first { $0.code == code }
            #expect(problem?.level == rule.level, "\(rule.decidedBy): \(problems)")
        } else {
            #expect(problems.isEmpty, "\(problems)")
        }
        #expect(LoaderVerdictComparison.expected(IGVMLoadVerdict(problems)) == rule.expected, "\(problems)")
    }

    /// What QEMU prints for the refusals the checker words itself.
    @Test func qemuMessagesForPlacementAndParse() throws {
        func says(_ rule: String) -> String? {
            let r = LoaderRule.all.first { $0.name == rule }!
            guard case .refuses(_, let says) = IGVMLoadVerdict(r.validator().check(bytes: r.bytes())) else { return nil }
            return says
        }
        #expect(says("page run crossing into the IOAPIC")
                == "Processing of IGVM file failed: Could not prepare memory at address 0xFEBFF000 due to existing non-RAM region")
        #expect(says("REQUIRED_MEMORY of 0xFFFFF000 bytes at 0")
                == "Processing of IGVM file failed: Could not prepare memory at address 0x0: region size exceeded")
        #expect(says("SEV-SNP VMSA with bytes after 0x670, native target") == "Unable to parse IGVM file %s: -11")
        #expect(says("platform type 6 (CCA) is unknown to libigvm 0.4.0") == "Unable to parse IGVM file %s: -9")
        #expect(says("two SNP_ID_BLOCKs under the native mask") == "IGVM: Multiple ID blocks encountered in IGVM file.")
    }

    /// QEMU stops at its first error, in its own order: a page run is placed only when the next
    /// PAGE_DATA does not extend it, or after the last header (`qigvm_process_mem_page`), so a
    /// REQUIRED_MEMORY later in the file can be met first.
    @Test func firstFatalProblemInLoaderOrderDecides() {
        let pending = RuleFile.native { $0.add(RuleFile.page(0xFEC0_0000)); $0.add(RuleFile.required(0x8000_0000, bytes: 0)) }
        let problems = LoaderRule.all[0].validator().check(bytes: pending)
        #expect(problems.map(\.code) == ["memory-zero-size", "memory-not-ram"])
        #expect(IGVMLoadVerdict(problems) == .aborts(code: "memory-zero-size"))

        let flushed = RuleFile.native {
            $0.add(RuleFile.page(0xFEC0_0000)); $0.add(RuleFile.page(0x10_0000)); $0.add(RuleFile.required(0x8000_0000, bytes: 0))
        }
        let inOrder = LoaderRule.all[0].validator().check(bytes: flushed)
        #expect(inOrder.map(\.code) == ["memory-not-ram", "memory-zero-size"])
        #expect(IGVMLoadVerdict(inOrder) == .refuses(code: "memory-not-ram",
            qemuSays: "Processing of IGVM file failed: Could not prepare memory at address 0xFEC00000 due to existing non-RAM region"))
        // Launch problems (SEV firmware) do not decide whether QEMU loads the file.
        let launchOnly = [IGVMProblem(.error, "policy-mismatch", "", stage: .launch)]
        #expect(IGVMLoadVerdict(launchOnly) == .loads)
    }
}

/// The comparison of the checker's verdict with what a real QEMU did.
enum LoaderVerdictComparison {
    static func expected(_ verdict: IGVMLoadVerdict) -> LoaderRule.Expected {
        switch verdict {
        case .loads: .loads
        case .refuses: .refuses
        case .aborts: .aborts
        }
    }

    /// True when QEMU did what the checker said: loaded; refused with the message the checker
    /// predicts (when it predicts one); or died of a signal.
    static func agrees(_ verdict: IGVMLoadVerdict, _ outcome: QEMULoadOutcome) -> Bool {
        switch (verdict, outcome) {
        case (.loads, .loaded), (.aborts, .crashed): true
        case (.refuses(_, let says), .refused(_, let stderr)):
            says.map { QEMULoadOutcome.stderr(stderr, matches: $0) } ?? true
        default: false
        }
    }
}

/// The pieces of the comparison, on QEMU's own outputs (exit statuses and lines as QEMU
/// writes them), so that the real-QEMU test below compares correctly when it runs.
@Suite struct LoaderVerdictComparisonTests {
    static let nonRAM = "Processing of IGVM file failed: Could not prepare memory at address 0xFEC00000 due to existing non-RAM region"

    @Test func classifiesExitStatusSignalAndStderr() {
        #expect(QEMULoadOutcome(status: 0, signal: nil, stderr: "") == .loaded)
        #expect(QEMULoadOutcome(status: 6, signal: 6, stderr: "thread panicked") == .crashed(signal: 6))
        #expect(QEMULoadOutcome(status: 11, signal: 11, stderr: "") == .crashed(signal: 11))
        let line = "qemu-system-x86_64: \(Self.nonRAM)\n"
        #expect(QEMULoadOutcome(status: 1, signal: nil, stderr: line) == .refused(status: 1, stderr: line))
    }

    @Test func matchesQEMUsMessageWithTheFileNameLeftOpen() {
        let parse = "qemu-system-x86_64: -object igvm-cfg,id=igvm0,file=/tmp/x.igvm: Unable to parse IGVM file /tmp/x.igvm: -11\n"
        #expect(QEMULoadOutcome.stderr(parse, matches: "Unable to parse IGVM file %s: -11"))
        #expect(!QEMULoadOutcome.stderr(parse, matches: "Unable to parse IGVM file %s: -9"))
        #expect(QEMULoadOutcome.stderr("qemu-system-x86_64: \(Self.nonRAM)", matches: Self.nonRAM))
        // The pieces must be on one line and in order.
        #expect(!QEMULoadOutcome.stderr("-11\nUnable to parse IGVM file x", matches: "Unable to parse IGVM file %s: -11"))
    }

    @Test func agreementNeedsTheSameOutcomeAndMessage() {
        let refuses = IGVMLoadVerdict.refuses(code: "memory-not-ram", qemuSays: Self.nonRAM)
        #expect(LoaderVerdictComparison.agrees(refuses, .refused(status: 1, stderr: "qemu-system-x86_64: \(Self.nonRAM)\n")))
        #expect(!LoaderVerdictComparison.agrees(refuses, .refused(status: 1, stderr: "qemu-system-x86_64: invalid object type: igvm-cfg\n")))
        #expect(!LoaderVerdictComparison.agrees(refuses, .loaded))
        #expect(!LoaderVerdictComparison.agrees(refuses, .crashed(signal: 6)))
        #expect(LoaderVerdictComparison.agrees(.aborts(code: "memory-zero-size"), .crashed(signal: 6)))
        #expect(!LoaderVerdictComparison.agrees(.aborts(code: "memory-zero-size"), .refused(status: 1, stderr: "")))
        #expect(LoaderVerdictComparison.agrees(.loads, .loaded))
        #expect(!LoaderVerdictComparison.agrees(.loads, .refused(status: 1, stderr: "")))
        #expect(LoaderVerdictComparison.agrees(.refuses(code: "parameter-offset", qemuSays: nil), .refused(status: 1, stderr: "x")))
    }

    /// The same command line against the installed QEMU (10.0, no IGVM support): QEMU parses
    /// it up to the IGVM object and refuses that, which `load` reports as a refusal with
    /// QEMU's line, so the comparison would fail loudly rather than pass on such a binary.
    @Test func loadRunsQEMUAndReportsItsRefusal() throws {
        let qemu = try QEMU.binary()
        let dir = try TestPaths.makeTemporaryDirectory("igvm-rule")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ok.igvm").path
        try Data(RuleFile.native { $0.add(RuleFile.page(0x1000)) }).write(to: URL(fileURLWithPath: path))
        let outcome = try QEMUWithIGVM.load(path, machine: "q35", memory: "512M", binary: qemu)
        guard case .refused(let status, let stderr) = outcome else {
            Issue.record("the installed QEMU was expected to refuse igvm-cfg: \(outcome)")
            return
        }
        #expect(status == 1 && stderr.contains("igvm-cfg"), "\(stderr)")
        #expect(!LoaderVerdictComparison.agrees(.loads, outcome))
    }

    @Test func skipsNamingTheVariableWhenUnset() {
        #expect(QEMUWithIGVM.skipReason.contains("IGVM_MGR_TEST_QEMU_IGVM"))
        #expect(QEMUWithIGVM.variable == "IGVM_MGR_TEST_QEMU_IGVM")
    }
}

/// Each native rule's file loaded by a QEMU built with IGVM support (`IGVM_MGR_TEST_QEMU_IGVM`)
/// under TCG: QEMU's verdict must be the checker's.
@Suite(.enabled(if: QEMUWithIGVM.binary != nil, Comment(rawValue: QEMUWithIGVM.skipReason)))
struct LoaderRuleQEMUTests {
    @Test(arguments: LoaderRule.all.filter(\.runsUnderTCG))
    func qemuAgreesWithTheChecker(rule: LoaderRule) throws {
        let binary = try #require(QEMUWithIGVM.binary)
        let dir = try TestPaths.makeTemporaryDirectory("igvm-rule")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("rule.igvm").path
        try Data(rule.bytes()).write(to: URL(fileURLWithPath: path))
        let verdict = IGVMLoadVerdict(rule.validator().check(bytes: rule.bytes()))
        let outcome = try QEMUWithIGVM.load(path, machine: rule.machine.rawValue, memory: IGVMSize.text(rule.memory), binary: binary)
        #expect(LoaderVerdictComparison.agrees(verdict, outcome), "\(rule.decidedBy): checker: \(verdict); \(outcome)")
    }
}
