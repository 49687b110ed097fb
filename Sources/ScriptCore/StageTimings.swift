/// Wall-clock milliseconds per pipeline stage, in the order the stages ran.
public struct StageTimings: Sendable, Equatable {
    public private(set) var stages: [(name: String, milliseconds: Double)] = []

    public init() {}

    public static func == (a: StageTimings, b: StageTimings) -> Bool {
        a.stages.map(\.name) == b.stages.map(\.name) && a.stages.map(\.milliseconds) == b.stages.map(\.milliseconds)
    }

    /// Runs `body`, recording its duration under `name`.
    public mutating func measure<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let clock = ContinuousClock()
        let start = clock.now
        let value = try body()
        record(name, clock.now - start)
        return value
    }

    public mutating func record(_ name: String, milliseconds: Double) {
        stages.append((name, milliseconds))
    }

    mutating func record(_ name: String, _ duration: Duration) {
        let c = duration.components
        record(name, milliseconds: Double(c.seconds) * 1e3 + Double(c.attoseconds) * 1e-15)
    }

    public subscript(name: String) -> Double? { stages.first { $0.name == name }?.milliseconds }
}
