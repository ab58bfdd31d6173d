import Numerals

/// One thing wrong (error, or QEMU aborts) or doubtful (warning) about running an IGVM file.
public struct IGVMProblem: Sendable, Hashable, CustomStringConvertible {
    /// What the operator sees.
    public enum Level: String, Sendable {
        /// QEMU (or, at launch, KVM and the SEV firmware) refuses with an error message.
        case error
        /// QEMU dies of a signal (libigvm panic, failed assertion, bad pointer): no error line.
        case aborts
        /// QEMU runs the file; something about it is doubtful.
        case warning
    }

    /// Who meets the problem, in the order QEMU starts a VM.
    public enum Stage: String, Sendable {
        /// libigvm's `igvm_new_from_binary`, for every platform (`qigvm_file_init`).
        case parse
        /// QEMU's loader (`qigvm_process_file`, backends/igvm.c) for the selected platform.
        case load
        /// KVM and the SEV firmware when the guest is launched (policy, ID block, measurement).
        case launch
    }

    public var level: Level
    /// A stable identifier for scripts and tests, e.g. "vmsa-gpa".
    public var code: String
    /// One line for people.
    public var message: String
    /// Byte offset in the file of the header concerned, when there is one.
    public var offset: Int?
    public var stage: Stage
    /// The error QEMU prints, as its format string with `%s` where QEMU inserts what the checker
    /// does not know (the file name); nil when QEMU prints nothing of its own.
    public var qemuSays: String?

    public init(_ level: Level, _ code: String, _ message: String, offset: Int? = nil, stage: Stage = .load,
                qemuSays: String? = nil) {
        self.level = level
        self.code = code
        self.message = message
        self.offset = offset
        self.stage = stage
        self.qemuSays = qemuSays
    }

    /// "error", "error (QEMU aborts)" or "warning".
    public var levelLabel: String { level == .aborts ? "error (QEMU aborts)" : level.rawValue }

    public var description: String {
        "\(levelLabel): \(code): \(message)" + (offset.map { " (offset \(hex($0)))" } ?? "")
    }

    /// Stops QEMU before the guest runs (warnings do not).
    public var isFatal: Bool { level != .warning }
}

/// What QEMU does when it starts a VM with the file, decided by the first fatal problem of the
/// parse and load stages (QEMU stops at its first error; launch problems come later).
public enum IGVMLoadVerdict: Sendable, Hashable, CustomStringConvertible {
    case loads
    /// QEMU exits 1 after printing `qemuSays` (nil: QEMU goes wrong without a message of its own).
    case refuses(code: String, qemuSays: String?)
    /// QEMU dies of a signal.
    case aborts(code: String)

    /// The verdict for problems listed in loader order (as `IGVMValidator` lists them).
    public init(_ problems: [IGVMProblem]) {
        guard let first = problems.first(where: { $0.isFatal && $0.stage != .launch }) else {
            self = .loads
            return
        }
        self = first.level == .aborts ? .aborts(code: first.code) : .refuses(code: first.code, qemuSays: first.qemuSays)
    }

    public var description: String {
        switch self {
        case .loads: "QEMU loads the file"
        case .refuses(let code, _): "QEMU refuses the file (\(code))"
        case .aborts(let code): "QEMU aborts (\(code))"
        }
    }
}
