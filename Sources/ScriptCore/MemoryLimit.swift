/// The memory this process may use: the tightest limit of its cgroup and its ancestors (v2
/// `memory.max`, else v1 `memory.limit_in_bytes`: a container's memory limit); nil when none
/// is set. A process that holds requests sizes what it holds at once by it, so that a burst is
/// answered `busy` rather than ending in the kernel's out-of-memory kill.
public enum MemoryLimit {
    /// This process's limit, read once.
    public static let detected: Int? = read()

    /// The limit the cgroup files under `files` set.
    public static func read(_ files: CgroupFiles = CgroupFiles()) -> Int? {
        files.tightestV2("memory.max", bytes) ?? files.tightestV1("memory", "memory.limit_in_bytes", bytes)
    }

    /// Bytes a limit file sets: nil for "max", or for v1's "no limit" (a page-rounded 2^63 - 1).
    static func bytes(_ text: String) -> Int? {
        guard let word = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first, let v = Int(word), v > 0, v < 1 << 62 else { return nil }
        return v
    }
}
