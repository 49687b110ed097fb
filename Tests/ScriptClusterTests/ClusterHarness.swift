import Foundation
import XCTest
@testable import ScriptProtocol
@testable import ScriptCoordinator
@testable import ScriptWorker
@testable import ScriptClient

/// Real `script-cluster` processes on loopback for tests: started, read, stopped, bounded in time.
final class ClusterProcess: @unchecked Sendable {
    let process = Process()
    private let out = Pipe()
    private var text = ""
    private let lock = NSLock()

    static var executable: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [dir.appendingPathComponent("script-cluster").path]
        // On some platforms the test bundle sits one level deeper.
        candidates.append(dir.deletingLastPathComponent().appendingPathComponent("script-cluster").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock(); self.text += String(decoding: d, as: UTF8.self); self.lock.unlock()
        }
        try process.run()
    }

    var output: String { lock.lock(); defer { lock.unlock() }; return text }

    /// The rest of the first stdout line starting with `prefix`, waiting up to `timeout` seconds.
    func line(_ prefix: String, timeout: Double = 20) -> String? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let l = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(l.dropFirst(prefix.count)) }
            if !process.isRunning { return nil }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return nil
    }

    func signal(_ s: Int32) { if process.isRunning { kill(process.processIdentifier, s) } }

    /// Waits for exit; SIGKILL after `timeout`. Returns the exit status (or -signal).
    @discardableResult
    func wait(timeout: Double = 15) -> Int32 {
        let end = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
}

/// A coordinator and workers started separately (so tests can kill and add workers).
final class TestCluster {
    let coordinator: ClusterProcess
    var workers: [ClusterProcess] = []
    let frontend: String
    let backend: String
    let heartbeatMs: Int

    init(workers n: Int, heartbeatMs: Int = 250, extra: [String] = []) throws {
        self.heartbeatMs = heartbeatMs
        coordinator = try ClusterProcess(["coordinator", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
                                          "--heartbeat-ms", "\(heartbeatMs)"] + extra)
        guard let fe = coordinator.line("frontend "), let be = coordinator.line("backend ") else {
            throw HarnessError("coordinator did not start: \(coordinator.output)")
        }
        frontend = fe
        backend = be
        for _ in 0..<n { try addWorker() }
        try waitForWorkers(n)
    }

    func addWorker() throws {
        workers.append(try ClusterProcess(["worker", "--connect", backend, "--name", "w\(workers.count + 1)", "--heartbeat-ms", "\(heartbeatMs)"]))
    }

    func waitForWorkers(_ n: Int, timeout: Double = 20) throws {
        let client = try ClusterClient(endpoint: frontend)
        defer { client.close() }
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let s = try? client.status(timeoutMs: 1000), s.workers == n { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("\(n) workers did not register within \(timeout) s")
    }

    func stop() {
        coordinator.signal(SIGTERM)
        coordinator.wait()
        for w in workers { w.signal(SIGTERM) }
        for w in workers { w.wait() }
    }
}

/// A cluster the test needed could not be brought up: the test fails with what the process said.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
