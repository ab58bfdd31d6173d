/// Runs `body` for every element at the same time and returns the results in the elements'
/// order: how `start`, `stop` and `destroy` work on several VMs.
func allAtOnce<Element: Sendable, Outcome: Sendable>(
    _ elements: [Element], _ body: @escaping @Sendable (Element) async -> Outcome
) async -> [Outcome] {
    await withTaskGroup(of: (Int, Outcome).self) { group in
        for (index, element) in elements.enumerated() {
            group.addTask { (index, await body(element)) }
        }
        var outcomes: [(Int, Outcome)] = []
        for await outcome in group { outcomes.append(outcome) }
        return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
