#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Reads a limit from this process's cgroups: the tightest value of a file in its cgroup and in
/// each ancestor's (a container's limit often sits on a parent), in the v2 hierarchy and, for a
/// v1 controller, in that controller's.
public struct CgroupFiles: Sendable {
    /// The file naming the process's cgroups (`/proc/self/cgroup`).
    public let membership: String
    /// Where the cgroup hierarchies are mounted (v2 there, v1 controllers in folders under it).
    public let root: String

    public init(membership: String = "/proc/self/cgroup", root: String = "/sys/fs/cgroup") {
        self.membership = membership
        self.root = root
    }

    /// The smallest value `parse` reads from `file` in the v2 cgroup and its ancestors; nil
    /// when there is none (no cgroup v2, or no limit set).
    public func tightestV2(_ file: String, _ parse: (String) -> Int?) -> Int? {
        tightest(under: root, path: path(of: { $0.hasPrefix("0::") }, drop: 3), file, parse)
    }

    /// The same in the v1 hierarchy of `controller` (mounted at `root/controller`).
    public func tightestV1(_ controller: String, _ file: String, _ parse: (String) -> Int?) -> Int? {
        let cgroupPath = path(of: { line in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            return parts.count == 3 && parts[1].split(separator: ",").contains(Substring(controller))
        }, drop: nil)
        return tightest(under: root + "/" + controller, path: cgroupPath, file, parse)
    }

    /// The cgroup path on the first membership line `matches` picks (after its first `drop`
    /// characters, or after its second colon when nil).
    private func path(of matches: (Substring) -> Bool, drop: Int?) -> String? {
        guard let text = Self.read(membership), let line = text.split(separator: "\n").first(where: matches) else { return nil }
        if let drop { return String(line.dropFirst(drop)) }
        return line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).last.map(String.init)
    }

    private func tightest(under base: String, path: String?, _ file: String, _ parse: (String) -> Int?) -> Int? {
        guard var path else { return nil }
        var tightest: Int?
        while true {
            if let text = Self.read(base + (path == "/" ? "" : path) + "/" + file), let v = parse(text) {
                tightest = min(tightest ?? v, v)
            }
            guard let slash = path.lastIndex(of: "/"), path != "/" else { break }
            path = slash == path.startIndex ? "/" : String(path[..<slash])
        }
        return tightest
    }

    /// A small file's text, or nil when it cannot be read.
    static func read(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 4096, f) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
