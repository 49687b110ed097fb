import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// CPU time processes have used, from /proc (Linux), to tell what a request costs each role.
public enum ProcessCPU {
    /// One reading of a process: when it started (clock ticks after boot: a PID used again by
    /// another process reads a different start) and the CPU (user and system) it has used.
    public struct Reading: Equatable, Sendable {
        public var startTicks: UInt64
        public var milliseconds: Double

        public init(startTicks: UInt64, milliseconds: Double) {
            self.startTicks = startTicks
            self.milliseconds = milliseconds
        }
    }

    /// Process `pid` now; nil where /proc has none (it exited, or never was).
    public static func reading(pid: Int32) -> Reading? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After the command name: state, ppid, ...; utime, stime and starttime are the 12th,
        // 13th and 20th fields.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let user = Double(fields[11]), let system = Double(fields[12]),
              let start = UInt64(fields[19]) else { return nil }
        return Reading(startTicks: start, milliseconds: (user + system) * 1000 / Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// This process's CPU time, in milliseconds.
    public static func own() -> Double { reading(pid: getpid())?.milliseconds ?? 0 }

    /// Processes of this machine running `script-cluster ROLE` (`coordinator`, `worker`).
    public static func processes(role: String) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let exe = args.firstIndex(where: { $0.hasSuffix("script-cluster") }), exe + 1 < args.count else { return false }
            return args[exe + 1] == role
        }
    }
}
