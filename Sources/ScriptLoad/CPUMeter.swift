/// The CPU time the processes of each role spend over a run, from readings taken while it lasts
/// (`ProcessCPU`). Processes may come and go meanwhile (a worker restarted, a pod replaced): one
/// that exits counts up to its last reading, one that starts counts from its first, and a PID
/// taken over by another process counts as a new process. The processes of a role are a fixed
/// list, or found again at every reading.
public struct CPUMeter {
    /// One process as read so far.
    struct Seen {
        var first: Double
        var last: Double
        var exited = false
    }

    private struct Key: Hashable {
        let pid: Int32
        let startTicks: UInt64
    }

    private let find: (String) -> [Int32]
    private let read: (Int32) -> ProcessCPU.Reading?
    private var seen: [String: [Key: Seen]]

    /// - Parameters:
    ///   - roles: the roles measured.
    ///   - find: a role's processes now (called at every reading).
    ///   - read: a process's reading (tests pass their own).
    public init(roles: [String], find: @escaping (String) -> [Int32],
                read: @escaping (Int32) -> ProcessCPU.Reading? = ProcessCPU.reading(pid:)) {
        self.find = find
        self.read = read
        seen = Dictionary(uniqueKeysWithValues: roles.map { ($0, [:]) })
    }

    /// The roles measured.
    public var roles: [String] { Array(seen.keys) }

    /// Reads every process of every role.
    public mutating func sample() {
        for role in Array(seen.keys) {
            var current = Set<Key>()
            for pid in find(role) {
                guard let r = read(pid) else { continue }
                let key = Key(pid: pid, startTicks: r.startTicks)
                current.insert(key)
                seen[role]![key, default: Seen(first: r.milliseconds, last: r.milliseconds)].last = r.milliseconds
            }
            for key in seen[role]!.keys where !current.contains(key) { seen[role]![key]!.exited = true }
        }
    }

    /// CPU milliseconds the role's processes spent between their first and last readings.
    public func milliseconds(_ role: String) -> Double {
        seen[role, default: [:]].values.reduce(0) { $0 + ($1.last - $1.first) }
    }

    /// How many of the role's processes were read, and how many of them exited before the last reading.
    public func processes(_ role: String) -> (seen: Int, exited: Int) {
        let all = seen[role, default: [:]].values
        return (all.count, all.filter(\.exited).count)
    }
}
