import Foundation

/// The kernel's flags (`VmFlags` of `/proc/self/smaps`) on the mapping holding an address:
/// `hg` where huge pages were asked for (`MADV_HUGEPAGE`). Nil where the kernel does not say.
public enum MemoryMaps {
    public static func flags(at address: UnsafeRawPointer) -> Set<String>? {
        guard let smaps = smaps() else { return nil }
        let a = UInt(bitPattern: address)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let ends = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = ends.count == 2 && a >= ends[0] && a < ends[1]
            } else if inside, fields.first == "VmFlags:" {
                return Set(fields.dropFirst().map(String.init))
            }
        }
        return nil
    }

    /// The largest mapping of process `pid` that asks for huge pages, in bytes (0: none).
    public static func largestHugePageMapping(pid: Int32) -> Int {
        var size = 0, largest = 0
        for line in (smaps(pid: "\(pid)") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.first == "Size:", fields.count >= 2 { size = (Int(fields[1]) ?? 0) << 10 }
            if fields.first == "VmFlags:", fields.contains("hg") { largest = max(largest, size) }
        }
        return largest
    }

    /// `/proc/PID/smaps`, read to its end (a /proc file's size says 0).
    private static func smaps(pid: String = "self") -> String? {
        guard let data = FileHandle(forReadingAtPath: "/proc/\(pid)/smaps")?.readDataToEndOfFile() else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// Whether this kernel has transparent huge pages (the advice means something).
    public static var hasHugePages: Bool {
        FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage/enabled")
    }

    /// An address inside `buffer`'s first whole 2 MiB page, if it holds one.
    public static func hugePageInside(_ buffer: UnsafeRawBufferPointer) -> UnsafeRawPointer? {
        let huge = UInt(2 << 20), start = UInt(bitPattern: buffer.baseAddress)
        let first = (start + huge - 1) & ~(huge - 1)
        return first + huge <= start + UInt(buffer.count) ? UnsafeRawPointer(bitPattern: first) : nil
    }
}
