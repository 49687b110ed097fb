import Foundation
import XCTest
import ScriptFormats

/// The `script-cluster` executable as a user runs it: files in, files out.
final class CLITests: CLITestCase {
    func testSampleThenPruneWritesSortedIndicesAndTimings() throws {
        try runOK(["sample", "--kind", "anyres", "--small", "--out", path("s")])
        try runOK(["prune", "--features", path("s/features.npy"), "--embeddings", path("s/embeddings.npy"),
                   "--query", path("s/query.npy"), "--budget", "0.1", "--layout", path("s/layout.json"), "--out", path("kept.json")])
        let obj = try json(path("kept.json"))
        let idx = try XCTUnwrap(obj["indices"] as? [Int])
        let n = try XCTUnwrap(obj["n"] as? Int)
        XCTAssertEqual(n, 720)
        XCTAssertEqual(idx.count, Int((0.1 * Double(n) + 0.5).rounded(.down)))
        XCTAssertEqual(idx, Array(Set(idx)).sorted())
        XCTAssertEqual(obj["method"] as? String, "script")
        XCTAssertEqual(obj["sharded"] as? Bool, true)
        XCTAssertNotNil((obj["timings_ms"] as? [String: Any])?["total"])
        XCTAssertEqual((obj["units"] as? [[Int]])?.count, idx.count)
        // .npy output: int64 indices, the same count.
        try runOK(["prune", "--features", path("s/features.npy"), "--budget", "7", "--out", path("kept.npy")])
        XCTAssertEqual(try Npy.read(path: path("kept.npy")).shape, [7])
        // Kept features, merged: K x D.
        try runOK(["prune", "--features", path("s/features.npy"), "--budget", "9", "--tiles", "5",
                   "--kept-features", path("kf.npy"), "--merge", "--out", path("k2.json")])
        XCTAssertEqual(try Npy.read(path: path("kf.npy")).shape, [9, 128])
        // Without --out: the same document on standard output, and nothing else.
        let printed = try runOK(["prune", "--features", path("s/features.npy"), "--budget", "7"])
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(printed.out.utf8)) as? [String: Any])
        XCTAssertEqual((doc["indices"] as? [Int])?.count, 7)
        XCTAssertEqual(printed.err, "")
    }

    /// Frames in segments that do not divide them: the last segment is the frames left, and
    /// the result is that of the same shards given by hand.
    /// Inputs through pipes, as a shell hands them over (`cat F | ... --features /dev/stdin`,
    /// `<(...)`): the same kept tokens as from the files (they could not be read), the layout
    /// read once though the command asks for it three times.
    func testInputsThroughPipesKeepWhatTheFilesKeep() throws {
        try runOK(["sample", "--kind", "anyres", "--small", "--out", path("s")])
        let args = ["prune", "--budget", "16", "--method", "script+", "--embeddings", path("s/embeddings.npy"), "--query", path("s/query.npy")]
        let files = try runOK(args + ["--features", path("s/features.npy"), "--layout", path("s/layout.json")])
        // The layout through a pipe on descriptor 3, the features through another on standard input.
        let piped = try run(args + ["--features", "/dev/stdin", "--layout", "/dev/fd/3"],
                            shell: "cat '\(path("s/layout.json"))' | (exec 3<&0; cat '\(path("s/features.npy"))' | \"$0\" \"$@\")")
        XCTAssertEqual(piped.status, 0, piped.err)
        let kept = { (out: String) in try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])["indices"] as? [Int] }
        XCTAssertEqual(try kept(piped.out), try kept(files.out))
        XCTAssertNotNil(try kept(files.out))
    }

    func testVideoSegmentsEndAtTheLastFrame() throws {
        try runOK(["sample", "--kind", "anyres", "--small", "--out", path("s")])
        let common = ["prune", "--features", path("s/features.npy"), "--embeddings", path("s/embeddings.npy"),
                      "--query", path("s/query.npy"), "--budget", "40"]
        try runOK(common + ["--frames", "5", "--segment-frames", "2", "--out", path("segments.json")])
        try runOK(common + ["--shards", "0:288,288:576,576:720", "--out", path("shards.json")])
        XCTAssertEqual(try json(path("segments.json"))["indices"] as? [Int], try json(path("shards.json"))["indices"] as? [Int])
    }

    func testSampleIsDeterministic() throws {
        try runOK(["sample", "--kind", "video", "--small", "--seed", "4", "--out", path("a")])
        try runOK(["sample", "--kind", "video", "--small", "--seed", "4", "--out", path("b")])
        try runOK(["sample", "--kind", "video", "--small", "--seed", "5", "--out", path("c")])
        for f in ["features.npy", "embeddings.npy", "query.npy", "target_mask.npy", "objects.npy", "layout.json"] {
            XCTAssertEqual(try contents(path("a/" + f)), try contents(path("b/" + f)), f)
        }
        XCTAssertNotEqual(try contents(path("a/features.npy")), try contents(path("c/features.npy")), "another seed, other bytes")
    }

    /// The Swift pipeline and the independent numpy implementation keep the same tokens.
    func testMatchesNumpyReferenceOnSeededInputsForEveryMethod() throws {
        let script = Self.repository.appendingPathComponent("Scripts/reference.py").path
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
            try runOK(["sample", "--kind", seed == 3 ? "video" : "anyres", "--small", "--seed", "\(seed)", "--out", path("r\(seed)")])
            let base = ["--features", path("r\(seed)/features.npy"), "--embeddings", path("r\(seed)/embeddings.npy"),
                        "--query", path("r\(seed)/query.npy")]
            let layout = try json(path("r\(seed)/layout.json"))
            let shards = try XCTUnwrap(layout["shards"] as? [[Int]]).map { "\($0[0]):\($0[1])" }.joined(separator: ",")
            let units = try XCTUnwrap(layout["units"] as? [[Int]])
            for method in ["script", "script+", "cdpruner", "divprune", "gsp", "random", "uniform"] {
                for (budget, sharded) in [("24", false), ("40", true)] {
                    var args = base + ["--budget", budget, "--method", method, "--seed", "\(seed)", "--unit-tokens", "\(units[0][1] - units[0][0])"]
                    if sharded { args += ["--shards", shards] }
                    try? FileManager.default.removeItem(atPath: path("swift.json"))
                    try? FileManager.default.removeItem(atPath: path("numpy.json"))
                    try runOK(["prune"] + args + ["--out", path("swift.json")])
                    let p = Process()
                    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    p.arguments = ["python3", script] + args + ["--out", path("numpy.json")]
                    let err = Pipe()
                    p.standardError = err
                    try p.run()
                    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    p.waitUntilExit()
                    XCTAssertEqual(p.terminationStatus, 0, message)
                    let swift = try indices(path("swift.json")), numpy = try indices(path("numpy.json"))
                    XCTAssertEqual(swift.count, Int(budget), "seed \(seed) \(method) budget \(budget)")
                    XCTAssertEqual(swift, numpy, "seed \(seed) \(method) budget \(budget) sharded \(sharded)")
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, 42)
    }
}
