import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the kernel says about this process: resident memory and start time (Linux `/proc`).
enum ProcessStats {
    /// Resident set size in bytes (0 where `/proc` is missing).
    static func residentBytes() -> Double {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// When the process started, in seconds since the epoch: the boot time plus the process's
    /// start in clock ticks after boot (nil where `/proc` is missing).
    static func startTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")"),
              let boot = bootTime() else { return nil }
        // Fields after the command name, which may hold spaces: state is field 3, starttime 22.
        let rest = stat[stat.index(after: close)...].split(separator: " ")
        guard rest.count > 19, let ticks = Double(rest[19]) else { return nil }
        return boot + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
