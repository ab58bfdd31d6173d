import ArgumentParser

/// What `start`, `stop` and `destroy` share when they work on several VMs: all at once, the
/// results reported in the order given, the highest exit status.
enum SeveralVMs {
    /// Runs `body` for every element at the same time and returns the outcomes in the elements'
    /// order.
    static func allAtOnce<Element: Sendable, Report: Sendable>(
        _ elements: [Element], _ body: @escaping @Sendable (Element) async throws -> Report
    ) async -> [Result<Report, any Error>] {
        await withTaskGroup(of: (Int, Result<Report, any Error>).self) { group in
            for (index, element) in elements.enumerated() {
                group.addTask {
                    do { return (index, .success(try await body(element))) } catch { return (index, .failure(error)) }
                }
            }
            var outcomes: [(Int, Result<Report, any Error>)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// Prints each VM's report with `print`, in the order of `names`; a failure is one line on
    /// stderr (naming its VM when there are several). Ends the command with the highest exit
    /// status when any failed.
    static func report<Report>(_ names: [String], _ results: [Result<Report, any Error>], print: (Report) -> Void) throws {
        var status = ExitStatus.ok
        for (name, result) in zip(names, results) {
            switch result {
            case .success(let report):
                print(report)
            case .failure(let error):
                let code = failure(error, of: names.count > 1 ? name : nil)
                if code.rawValue > status.rawValue { status = code }
            }
        }
        if status != ExitStatus.ok { throw status }
    }

    /// The first name that comes again later in `names`.
    static func repeatedName(_ names: [String]) -> String? {
        var seen = Set<String>()
        return names.first { !seen.insert($0).inserted }
    }
}
