import Foundation
import JSON

/// Runs a batch of QMP commands through one QEMU process on stdio, without a QMP client:
/// `qemu-system-x86_64 -machine none|MACHINE -nodefaults -display none -S [extra…] -qmp stdio`, writes
/// `qmp_capabilities`, the commands (each with a numeric id) and `quit`, reads every reply line
/// and matches replies to commands by id.
///
/// QEMU handles the commands in order; without OOB it pauses reading stdin while its request
/// queue is full, so a long batch is fine. stdin is written on its own thread so neither side can
/// block the other on a full pipe.
public struct QMPStdioBatch {
    /// One reply: `{"return": …}` or `{"error": {"class", "desc"}}`.
    public enum Reply: Sendable, Hashable {
        case success(JSON)
        case error(class: String, description: String)

        public var isSuccess: Bool { if case .success = self { return true } else { return false } }
        public var errorDescription: String? {
            if case .error(_, let d) = self { return d } else { return nil }
        }
    }

    /// What came back.
    public struct Result: Sendable {
        /// The QMP greeting, nil if QEMU exited before it (e.g. a bad `-object` on its command line).
        public var greeting: JSON?
        public var replies: [Int: Reply]
        /// Events (`{"event": …}`) in arrival order.
        public var events: [JSON]
        public var exitStatus: Int32
        public var stderr: String

        /// The reply to the command with this id; fails the caller with a reason if there is none.
        public func reply(_ id: Int) throws -> Reply {
            guard let r = replies[id] else {
                throw MissingTool(description: "no QMP reply for id \(id) (QEMU status \(exitStatus), stderr: \(stderr))")
            }
            return r
        }
    }

    public var extraArguments: [String]
    /// The `-machine` value (`none` unless a test needs a real machine).
    public var machine: String
    private var commands: [JSON] = []
    private var nextID = 1

    /// `extraArguments` go before `-qmp stdio` (e.g. `-object …` to try QEMU's command-line parser).
    public init(machine: String = "none", extraArguments: [String] = []) {
        self.machine = machine
        self.extraArguments = extraArguments
    }

    /// Queues `execute` with `arguments` and returns the id its reply will carry.
    @discardableResult
    public mutating func add(_ execute: String, _ arguments: JSONObject? = nil) -> Int {
        let id = nextID
        nextID += 1
        var command: JSONObject = ["execute": .string(execute)]
        if let arguments { command["arguments"] = .object(arguments) }
        command["id"] = .integer(Int64(id))
        commands.append(.object(command))
        return id
    }

    /// Starts QEMU, sends everything, waits for it to exit and returns the replies.
    public func run() throws -> Result {
        let qemu = try QEMU.binary()
        var input = #"{"execute":"qmp_capabilities"}"# + "\n"
        for c in commands { input += try c.encoded() + "\n" }
        input += #"{"execute":"quit"}"# + "\n"

        // QEMU exits early on a bad command line; writing to its stdin must then fail with EPIPE,
        // not kill the test process with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemu)
        process.arguments = ["-machine", machine, "-nodefaults", "-display", "none", "-S"]
            + extraArguments + ["-qmp", "stdio"]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()

        let group = DispatchGroup()
        let data = Data(input.utf8)
        group.enter()
        DispatchQueue.global().async {
            // QEMU may exit early (bad command line): a failed write is then expected.
            try? stdin.fileHandleForWriting.write(contentsOf: data)
            try? stdin.fileHandleForWriting.close()
            group.leave()
        }
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = stderr.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = stdout.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()

        var result = Result(greeting: nil, replies: [:], events: [], exitStatus: process.terminationStatus,
                            stderr: String(decoding: errData, as: UTF8.self))
        for line in String(decoding: outData, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let message = try JSON.decode(String(line))
            if message["QMP"] != nil {
                result.greeting = message
            } else if message["event"] != nil {
                result.events.append(message)
            } else if let id = message["id"]?.intValue {
                if let value = message["return"] {
                    result.replies[id] = .success(value)
                } else if let error = message["error"] {
                    result.replies[id] = .error(class: error["class"]?.stringValue ?? "",
                                                description: error["desc"]?.stringValue ?? "")
                }
            }
        }
        return result
    }
}
