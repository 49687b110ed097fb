import Foundation
import XCTest
import ScriptFormats

/// The `script-cluster` executable as a user runs it: files in, files out, exit codes.
final class CLITests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static var executable: String {
        let d = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return [d.appendingPathComponent("script-cluster").path, d.deletingLastPathComponent().appendingPathComponent("script-cluster").path]
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? d.appendingPathComponent("script-cluster").path
    }

    /// Runs the executable; returns (status, stdout, stderr).
    @discardableResult
    func run(_ args: [String], executable: String = CLITests.executable) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    func indices(_ json: String) throws -> [Int] {
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        return obj["indices"] as! [Int]
    }

    func testSampleThenPruneWritesSortedIndicesAndTimings() throws {
        let (s, _, e) = try run(["sample", "--kind", "anyres", "--small", "--out", path("s")])
        XCTAssertEqual(s, 0, e)
        let (st, _, err) = try run(["prune", "--features", path("s/features.npy"), "--embeddings", path("s/embeddings.npy"),
                                    "--query", path("s/query.npy"), "--budget", "0.1", "--layout", path("s/layout.json"), "--out", path("kept.json")])
        XCTAssertEqual(st, 0, err)
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("kept.json")))) as! [String: Any]
        let idx = obj["indices"] as! [Int]
        let n = obj["n"] as! Int
        XCTAssertEqual(idx.count, Int((0.1 * Double(n) + 0.5).rounded(.down)))
        XCTAssertEqual(idx, Array(Set(idx)).sorted())
        XCTAssertEqual(obj["method"] as? String, "script")
        XCTAssertEqual(obj["sharded"] as? Bool, true)
        XCTAssertNotNil((obj["timings_ms"] as? [String: Any])?["total"])
        XCTAssertEqual((obj["units"] as? [[Int]])?.count, idx.count)
        // .npy output: int64 indices, the same ones.
        XCTAssertEqual(try run(["prune", "--features", path("s/features.npy"), "--budget", "7", "--out", path("kept.npy")]).0, 0)
        let t = try Npy.read(path: path("kept.npy"))
        XCTAssertEqual(t.shape, [7])
        // Kept features, merged: K x D.
        XCTAssertEqual(try run(["prune", "--features", path("s/features.npy"), "--budget", "9", "--tiles", "5",
                                "--kept-features", path("kf.npy"), "--merge", "--out", path("k2.json")]).0, 0)
        XCTAssertEqual(try Npy.read(path: path("kf.npy")).shape.first, 9)
    }

    func testSampleIsDeterministic() throws {
        try run(["sample", "--kind", "video", "--small", "--seed", "4", "--out", path("a")])
        try run(["sample", "--kind", "video", "--small", "--seed", "4", "--out", path("b")])
        for f in ["features.npy", "embeddings.npy", "query.npy", "target_mask.npy", "objects.npy", "layout.json"] {
            XCTAssertEqual(FileManager.default.contents(atPath: path("a/" + f)), FileManager.default.contents(atPath: path("b/" + f)), f)
        }
    }

    /// Each bad input: a non-zero exit and a message naming the problem, never a crash.
    func testBadInputsExitNonZeroWithAClearMessage() throws {
        try Npy.write((0..<60).map { Float($0 % 7) }, shape: [10, 6], to: path("x.npy"))
        try Npy.write((0..<50).map { Float($0 % 7) }, shape: [10, 5], to: path("x5.npy"))
        try Npy.write([Float](repeating: 1, count: 12), shape: [2, 6], to: path("q.npy"))
        try Npy.write([Float](repeating: 1, count: 10), shape: [2, 5], to: path("q5.npy"))
        var nan = (0..<60).map { Float($0 % 7) }
        nan[13] = .nan
        try Npy.write(nan, shape: [10, 6], to: path("nan.npy"))
        try Npy.write([], shape: [0, 6], to: path("empty.npy"))
        FileManager.default.createFile(atPath: path("junk.npy"), contents: Data("not a numpy file".utf8))
        let x = ["--features", path("x.npy")]
        let cases: [([String], String)] = [
            (["--features", path("empty.npy"), "--budget", "3"], "empty"),
            (x + ["--embeddings", path("x5.npy"), "--query", path("q.npy"), "--budget", "3"], "width"),
            (x + ["--query", path("q5.npy"), "--budget", "3"], "width"),
            (["--features", path("nan.npy"), "--budget", "3"], "NaN"),
            (x + ["--budget", "0"], "budget"),
            (x + ["--budget", "-2"], "budget"),
            (x + ["--budget", "1.5"], "ratio"),
            (x + ["--budget", "3", "--shards", "0:6,5:10"], "overlap"),
            (x + ["--budget", "3", "--shards", "0:4,6:10"], "uncovered"),
            (x + ["--budget", "3", "--shards", "0:5,5:12"], "past"),
            (x + ["--budget", "3", "--tiles", "3"], "tiles"),
            (["--features", path("junk.npy"), "--budget", "3"], "junk.npy"),
            (["--features", path("missing.npy"), "--budget", "3"], "missing.npy"),
            (x + ["--budget", "3", "--method", "magic"], "method"),
            (x + ["--budget", "3", "--theta", "1"], "theta"),
            (x + ["--budget", "3", "--method", "script+", "--unit-tokens", "0"], "unit-tokens"),
            (x + ["--budget", "3", "--method", "script+", "--discount", "-1"], "discount"),
            (x + ["--budget", "3", "--method", "script+", "--floor", "1.5"], "floor"),
        ]
        for (args, word) in cases {
            let (status, _, err) = try run(["prune"] + args)
            XCTAssertNotEqual(status, 0, "\(args)")
            XCTAssertLessThan(status, 128, "no crash for \(args)")
            XCTAssertTrue(err.lowercased().contains(word.lowercased()), "message for \(args) should mention '\(word)': \(err)")
        }
    }

    /// The Swift pipeline and the independent numpy implementation keep the same tokens.
    func testMatchesNumpyReferenceOnSeededInputsForEveryMethod() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Scripts/reference.py").path
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import numpy"]
        probe.standardError = FileHandle.nullDevice
        // The test command's dependencies include python3 with numpy (Scripts/install-deps.sh).
        try probe.run()
        probe.waitUntilExit()
        XCTAssertEqual(probe.terminationStatus, 0, "python3 with numpy is needed: run Scripts/install-deps.sh")
        guard probe.terminationStatus == 0 else { return }
        var compared = 0
        for seed in 1...3 {
            try run(["sample", "--kind", seed == 3 ? "video" : "anyres", "--small", "--seed", "\(seed)", "--out", path("r\(seed)")])
            let base = ["--features", path("r\(seed)/features.npy"), "--embeddings", path("r\(seed)/embeddings.npy"),
                        "--query", path("r\(seed)/query.npy")]
            let layout = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("r\(seed)/layout.json")))) as! [String: Any]
            let shards = (layout["shards"] as! [[Int]]).map { "\($0[0]):\($0[1])" }.joined(separator: ",")
            let units = layout["units"] as! [[Int]]
            for method in ["script", "script+", "cdpruner", "divprune", "gsp", "random", "uniform"] {
                for (budget, sharded) in [("24", false), ("40", true)] {
                    var args = base + ["--budget", budget, "--method", method, "--seed", "\(seed)", "--unit-tokens", "\(units[0][1] - units[0][0])"]
                    if sharded { args += ["--shards", shards] }
                    let (s1, _, e1) = try run(["prune"] + args + ["--out", path("swift.json")])
                    XCTAssertEqual(s1, 0, e1)
                    let p = Process()
                    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    p.arguments = ["python3", script] + args + ["--out", path("numpy.json")]
                    let err = Pipe()
                    p.standardError = err
                    try p.run()
                    p.waitUntilExit()
                    XCTAssertEqual(p.terminationStatus, 0, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
                    XCTAssertEqual(try indices(path("swift.json")), try indices(path("numpy.json")), "seed \(seed) \(method) budget \(budget) sharded \(sharded)")
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, 42)
    }
}
