import Foundation
import ScriptService
#if canImport(Glibc)
import Glibc
#endif

/// A child process of `up`: started with this executable, stopped with SIGTERM (then SIGKILL).
public final class ChildProcess: @unchecked Sendable {
    private let process = Process()
    private var buffer = Data()
    private var errorBuffer = Data()
    private var errorsEnded = false
    /// The child's own `Error:` line, without the prefix.
    private var reason: String?
    private let lock = NSLock()
    public let arguments: [String]

    public init(_ executable: String, _ arguments: [String], captureOutput: Bool, echo: Bool = true) throws {
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // The child stops (drains, exits) once this process is gone, even by SIGKILL.
        process.environment = ProcessInfo.processInfo.environment.merging([SignalTrap.parentVariable: String(getpid())]) { $1 }
        if captureOutput {
            let pipe = Pipe()
            process.standardOutput = pipe
            pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
                let d = h.availableData
                if d.isEmpty { h.readabilityHandler = nil }
                guard let self, !d.isEmpty else { return }
                self.lock.lock(); self.buffer.append(d); self.lock.unlock()
                if echo { StandardStream.output.write(d) }
            }
            let errors = Pipe()
            process.standardError = errors
            errors.fileHandleForReading.readabilityHandler = { [weak self] h in
                let d = h.availableData
                if d.isEmpty { h.readabilityHandler = nil }
                self?.readErrors(d)
            }
        } else {
            errorsEnded = true
        }
        try process.run()
    }

    /// Passes the child's standard error on line by line, but for its `Error:` line, which is
    /// kept for `ending` (whoever stops over this child says it in the one line it exits with).
    /// Lines are written after the lock is let go: a slow standard error holds up no reader.
    private func readErrors(_ d: Data) {
        var lines: [Data] = []
        lock.lock()
        if d.isEmpty {
            if !errorBuffer.isEmpty { lines.append(errorBuffer) }
            errorBuffer = Data()
            errorsEnded = true
        } else {
            errorBuffer.append(d)
            while let newline = errorBuffer.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(Data(errorBuffer[errorBuffer.startIndex...newline]))
                errorBuffer = Data(errorBuffer[errorBuffer.index(after: newline)...])
            }
        }
        var passed: [Data] = []
        for line in lines {
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("Error: ") {
                reason = text.dropFirst("Error: ".count).trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                passed.append(line)
            }
        }
        lock.unlock()
        for line in passed { StandardStream.error.write(line) }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var status: Int32 { process.isRunning ? 0 : process.terminationStatus }

    /// How it ended, for a person, with the child's own error line when it left one: "exited
    /// with status 3: cannot serve metrics on 0.0.0.0:9100: the port is in use", "was killed by
    /// signal 9 (Killed)".
    public var ending: String {
        guard !process.isRunning else { return "is running" }
        let n = process.terminationStatus
        guard process.terminationReason == .uncaughtSignal else {
            return "exited with status \(n)" + (childReason().map { ": " + $0 } ?? "")
        }
        let name = strsignal(n).map { String(cString: $0) } ?? "signal \(n)"
        return "was killed by signal \(n) (\(name))"
    }

    /// The child's error line, once its standard error has ended (waiting up to 1 s for the
    /// pipe to drain after the child exited).
    private func childReason() -> String? {
        let end = ContinuousClock.now + .seconds(1)
        while true {
            lock.lock()
            let (ended, r) = (errorsEnded, reason)
            lock.unlock()
            if ended || ContinuousClock.now >= end { return r }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// The rest of the first output line starting with `prefix`.
    public func waitForLine(prefix: String, timeout: Double) -> String? {
        let end = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < end {
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
        let end = ContinuousClock.now + .seconds(10)
        for group in groups {
            for c in group where c.isRunning { kill(c.pid, SIGTERM) }
            while ContinuousClock.now < end && group.contains(where: { $0.isRunning }) { Thread.sleep(forTimeInterval: 0.02) }
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
