#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CPlatform

/// How many compute threads a process should use: the CPUs it may run on (its affinity mask),
/// capped by its cgroup v2 CPU quota (`cpu.max`, a container's CPU limit), unless the
/// environment (`SCRIPT_CLUSTER_THREADS`) or a command-line flag says otherwise.
public enum ThreadCount {
    /// The environment variable that overrides the detected count.
    public static let environmentVariable = "SCRIPT_CLUSTER_THREADS"
    /// The most threads a count may name (a flag's or the environment's): more than any machine
    /// this runs on has cores, and few enough that a typo cannot start a million threads.
    public static let maximum = 1024

    /// The count for this process: `SCRIPT_CLUSTER_THREADS` when it holds a valid count, else
    /// `detected`.
    public static let available: Int = (try? fromEnvironment()) ?? detected

    /// The count a command uses: its flag when given, else `SCRIPT_CLUSTER_THREADS`, else
    /// `detected`. Throws for a flag or variable that is not a positive count.
    public static func resolve(flag: Int?) throws -> Int {
        if let flag {
            guard (1...maximum).contains(flag) else { throw ThreadCountError.notACount(String(flag), source: "--threads") }
            return flag
        }
        return try fromEnvironment() ?? detected
    }

    /// `SCRIPT_CLUSTER_THREADS`, when set and not empty (compose writes an unset variable it
    /// passes on as an empty one).
    public static func fromEnvironment() throws(ThreadCountError) -> Int? {
        guard let raw = getenv(environmentVariable), raw.pointee != 0 else { return nil }
        let text = String(cString: raw)
        guard let n = Int(text), (1...maximum).contains(n) else { throw .notACount(text, source: environmentVariable) }
        return n
    }

    /// CPUs in the affinity mask (all online CPUs where there is none), capped by the quota.
    public static let detected: Int = {
        var n = Int(script_affinity_cpu_count())
        if n <= 0 { n = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
        if let quota = cgroupQuota() { n = min(n, quota) }
        return max(1, n)
    }()

    /// The tightest `cpu.max` quota of this process's cgroup and its ancestors, rounded up to
    /// whole CPUs; nil when there is none (no cgroup v2, or "max").
    /// - Parameters:
    ///   - membership: the file naming the process's cgroups (`/proc/self/cgroup`).
    ///   - root: where the cgroup v2 hierarchy is mounted.
    static func cgroupQuota(membership: String = "/proc/self/cgroup", root: String = "/sys/fs/cgroup") -> Int? {
        CgroupFiles(membership: membership, root: root).tightestV2("cpu.max", quotaCPUs)
    }

    /// CPUs allowed by a `cpu.max` line ("QUOTA PERIOD", or "max PERIOD" for none).
    static func quotaCPUs(_ text: String) -> Int? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count >= 2, let quota = Int(parts[0]), let period = Int(parts[1]), quota > 0, period > 0 else { return nil }
        return max(1, (quota + period - 1) / period)
    }
}

/// A thread count that is not a whole number from 1 to `ThreadCount.maximum`: the value, and
/// the flag or variable that gave it.
public enum ThreadCountError: Error, Equatable, CustomStringConvertible {
    case notACount(String, source: String)

    public var description: String {
        switch self {
        case .notACount(let value, let source): return "\(source) \(value): must be a whole number from 1 to \(ThreadCount.maximum)"
        }
    }
}
