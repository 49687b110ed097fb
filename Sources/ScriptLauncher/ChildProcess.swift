import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process of `up`: started with this executable, stopped with SIGTERM (then SIGKILL).
public final class ChildProcess: @unchecked Sendable {
    private let process = Process()
    private var buffer = Data()
    private let lock = NSLock()
    public let arguments: [String]

    public init(_ executable: String, _ arguments: [String], captureOutput: Bool, echo: Bool = true) throws {
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if captureOutput {
            let pipe = Pipe()
            process.standardOutput = pipe
            pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
                let d = h.availableData
                guard let self, !d.isEmpty else { return }
                self.lock.lock(); self.buffer.append(d); self.lock.unlock()
                if echo { FileHandle.standardOutput.write(d) }
            }
        }
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var status: Int32 { process.isRunning ? 0 : process.terminationStatus }

    /// How it ended, for a person: "exited with status 3", "was killed by signal 9 (KILL)".
    public var ending: String {
        guard !process.isRunning else { return "is running" }
        let n = process.terminationStatus
        guard process.terminationReason == .uncaughtSignal else { return "exited with status \(n)" }
        let name = strsignal(n).map { String(cString: $0) } ?? "signal \(n)"
        return "was killed by signal \(n) (\(name))"
    }

    /// The rest of the first output line starting with `prefix`.
    public func waitForLine(prefix: String, timeout: Double) -> String? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            lock.lock()
            let text = String(decoding: buffer, as: UTF8.self)
            lock.unlock()
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) {
                return String(line.dropFirst(prefix.count))
            }
            if !process.isRunning { return nil }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return nil
    }

    /// SIGTERM to each group in turn (coordinators first, so they stop sending work, then the
    /// workers), waiting for each; SIGKILL to whoever is still there after 10 s in all.
    public static func stop(_ groups: [[ChildProcess]]) {
        let end = Date().addingTimeInterval(10)
        for group in groups {
            for c in group where c.isRunning { kill(c.pid, SIGTERM) }
            while Date() < end && group.contains(where: { $0.isRunning }) { Thread.sleep(forTimeInterval: 0.02) }
        }
        for c in groups.joined() where c.isRunning { kill(c.pid, SIGKILL) }
        for c in groups.joined() { c.process.waitUntilExit() }
    }
}

extension CommandLine {
    /// This executable, to start copies of it as children.
    public static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
    }
}
