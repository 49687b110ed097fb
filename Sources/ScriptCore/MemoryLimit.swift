#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The memory this process may use: the tightest limit of its cgroup and its ancestors (v2
/// `memory.max`, else v1 `memory.limit_in_bytes`: a container's memory limit), or the machine's
/// memory where that is less. A process that holds requests sizes what it holds at once by it,
/// so that a burst is answered `busy` rather than ending in the kernel's out-of-memory kill.
public struct MemoryLimit: Sendable, Equatable {
    public let bytes: Int
    /// Where it comes from, in words ("its cgroup", "the machine's memory").
    public let source: String

    public init(bytes: Int, source: String) {
        self.bytes = bytes
        self.source = source
    }

    /// This process's limit, read once.
    public static let detected: MemoryLimit? = read()

    /// `bytes` where given (`--memory-limit`: a share of a limit that other processes share too,
    /// as `up`'s children share its cgroup), else the detected limit.
    public static func chosen(bytes: Int?) -> MemoryLimit? {
        bytes.map { MemoryLimit(bytes: $0, source: "--memory-limit") } ?? detected
    }

    /// The limit the cgroup files under `files` set, or `physical` bytes where that is less.
    public static func read(_ files: CgroupFiles = CgroupFiles(), physical: Int? = physicalMemory()) -> MemoryLimit? {
        let cgroup = files.tightestV2("memory.max", bytes) ?? files.tightestV1("memory", "memory.limit_in_bytes", bytes)
        if let cgroup, cgroup <= physical ?? .max { return MemoryLimit(bytes: cgroup, source: "its cgroup") }
        return physical.map { MemoryLimit(bytes: $0, source: "the machine's memory") }
    }

    /// The machine's memory (nil where it cannot be read).
    public static func physicalMemory() -> Int? {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? pages * size : nil
    }

    /// Bytes a limit file sets: nil for "max", or for v1's "no limit" (a page-rounded 2^63 - 1).
    static func bytes(_ text: String) -> Int? {
        guard let word = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first, let v = Int(word), v > 0, v < 1 << 62 else { return nil }
        return v
    }
}
