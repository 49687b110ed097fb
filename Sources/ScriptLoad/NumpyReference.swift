import Foundation
import ScriptCore
import ScriptFormats

/// Runs `Scripts/reference.py` (the independent numpy implementation) on a request.
public enum NumpyReference {
    struct Outcome { let indices: [Int]; let totalMs: Double }
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// The python3 executable when it has numpy and the script exists.
    public static func locate(script: String) -> String? {
        guard FileManager.default.fileExists(atPath: script) else { return nil }
        for candidate in ["/usr/bin/env"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: candidate)
            p.arguments = ["python3", "-c", "import numpy"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            do { try p.run() } catch { return nil }
            p.waitUntilExit()
            if p.terminationStatus == 0 { return candidate }
        }
        return nil
    }

    static func run(python: String, script: String, request: PruneRequest, budget: Int, repeats: Int,
                    options: [String] = []) throws -> Outcome {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("script-ref-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var args = [script]
        try write(request.features, to: dir + "/x.npy")
        args += ["--features", dir + "/x.npy"]
        if let e = request.embeddings { try write(e, to: dir + "/e.npy"); args += ["--embeddings", dir + "/e.npy"] }
        if let q = request.query { try write(q, to: dir + "/q.npy"); args += ["--query", dir + "/q.npy"] }
        if let s = request.shards { args += ["--shards", s.map { "\($0.lowerBound):\($0.upperBound)" }.joined(separator: ",")] }
        args += ["--budget", "\(budget)", "--repeat", "\(repeats)", "--out", dir + "/out.json"] + options
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["python3"] + args
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "reference.py failed: \(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/out.json"))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let idx = obj["indices"] as? [Int], let t = obj["timings_ms"] as? [String: Any],
              let total = (t["total"] as? NSNumber)?.doubleValue else {
            throw Failure(description: "reference.py wrote an unexpected document")
        }
        return Outcome(indices: idx, totalMs: total)
    }

    private static func write(_ m: Matrix, to path: String) throws {
        try Npy.write(m.values, shape: [m.rows, m.cols], to: path)
    }
}
