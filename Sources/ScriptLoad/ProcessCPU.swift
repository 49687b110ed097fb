import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// CPU time processes have used, from /proc (Linux), to tell what a request costs each role.
public enum ProcessCPU {
    /// Milliseconds of CPU (user and system) used by process `pid`; 0 where /proc has none.
    public static func milliseconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        // After the command name: state, ppid, ... utime and stime are the 12th and 13th fields.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) * 1000 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// This process's CPU time, in milliseconds.
    public static func own() -> Double { milliseconds(pid: getpid()) }

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

    /// Total CPU milliseconds of several processes.
    public static func total(_ pids: [Int32]) -> Double { pids.reduce(0) { $0 + milliseconds(pid: $1) } }
}
