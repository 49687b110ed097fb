import Foundation
import XCTest
import ScriptFormats

/// Every error a user can cause: the exit status the README documents, and one message in the
/// project's words that names the flag or file, the value, and what would be accepted.
final class CLIErrorTests: CLITestCase {
    /// Words that mean a message is not ours (Swift's or the parser's defaults), or a crash.
    static let foreign = ["DecodingError", "dataCorrupted", "Missing value", "internal error", "Error Domain", "Fatal error",
                          "Usage: script-cluster <subcommand>"]

    /// One bad input: exit status 2, nothing on standard output, and every word in `words`.
    func expectBadInput(_ args: [String], _ words: [String], stdout redirection: String? = nil,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let o = try redirection.map { try run(args, stdout: $0) } ?? run(args)
        let shown = args.joined(separator: " ")
        XCTAssertEqual(o.status, 2, "\(shown): \(o.err)", file: file, line: line)
        XCTAssertEqual(o.out, "", "\(shown) printed on standard output", file: file, line: line)
        XCTAssertTrue(o.err.hasPrefix("Error: "), "\(shown): \(o.err)", file: file, line: line)
        for w in words {
            XCTAssertTrue(o.err.contains(w), "\(shown): the message should say '\(w)': \(o.err)", file: file, line: line)
        }
        for w in Self.foreign {
            XCTAssertFalse(o.err.contains(w), "\(shown): '\(w)' in \(o.err)", file: file, line: line)
        }
    }

    /// `--similarity` is f32 or bf16; bf16 where oneDNN cannot be loaded is refused, naming the
    /// library and the package, by prune, eval and bench alike; bench refuses it with --cluster.
    func testSimilarityChoicesAndAnUnavailableLibrary() throws {
        try writeInputs()
        try expectBadInput(["prune", "--features", "x.npy", "--budget", "3", "--similarity", "f16"], ["--similarity f16: must be f32 or bf16"])
        try expectBadInput(["submit", "--features", "x.npy", "--budget", "3", "--similarity", "f16"], ["--similarity f16: must be f32 or bf16"])
        try expectBadInput(["load", "--similarity", "bf32"], ["--similarity bf32: must be f32 or bf16"])
        let missing = "SCRIPT_CLUSTER_DNNL=/nonexistent/libdnnl.so.2 exec \"$0\" \"$@\""
        for args in [["prune", "--features", "x.npy", "--budget", "3", "--similarity", "bf16"],
                     ["eval", "--kinds", "image", "--scale", "small", "--requests", "1", "--methods", "script", "--similarity", "bf16"],
                     ["bench", "--cases", "image", "--repeats", "1", "--no-numpy", "--similarity", "bf16"],
                     ["bench", "--cluster", "--cases", "anyres", "--similarity", "bf16"]] {
            let o = try run(args, shell: missing)
            XCTAssertEqual(o.status, 2, "\(args[0]): \(o.err)")
            XCTAssertTrue(o.err.hasPrefix("Error: --similarity bf16: bf16 similarity needs oneDNN 2 (/nonexistent/libdnnl.so.2 could not be loaded: install libdnnl2"), "\(args[0]): \(o.err)")
            XCTAssertEqual(o.out, "", args[0])
        }
        // A CPU without bfloat16 instructions (oneDNN told to use at most AVX2, or AVX-512
        // without BF16, where it would emulate them): refused, saying what the CPU lacks.
        for isa in ["AVX2", "AVX512_CORE"] {
            let o = try run(["prune", "--features", "x.npy", "--budget", "3", "--similarity", "bf16"], shell: "ONEDNN_MAX_CPU_ISA=\(isa) exec \"$0\" \"$@\"")
            XCTAssertEqual(o.status, 2, "\(isa): \(o.err)")
            XCTAssertTrue(o.err.hasPrefix("Error: --similarity bf16: bf16 similarity needs a CPU with AVX512-BF16 or AMX"), "\(isa): \(o.err)")
        }
    }

    func writeInputs() throws {
        try Npy.write((0..<60).map { Float($0 % 7) }, shape: [10, 6], to: path("x.npy"))
        try Npy.write((0..<50).map { Float($0 % 7) }, shape: [10, 5], to: path("x5.npy"))
        try Npy.write([Float](repeating: 1, count: 12), shape: [2, 6], to: path("q.npy"))
        try Npy.write([Float](repeating: 1, count: 10), shape: [2, 5], to: path("q5.npy"))
        var nan = (0..<60).map { Float($0 % 7) }
        nan[13] = .nan
        try Npy.write(nan, shape: [10, 6], to: path("nan.npy"))
        try Npy.write([], shape: [0, 6], to: path("empty.npy"))
        try Npy.write([Float](repeating: 1, count: 7), shape: [7], to: path("mask7.npy"))
        try Data("not a numpy file".utf8).write(to: URL(fileURLWithPath: path("junk.npy")))
    }

    /// Bad files and values given to `prune`: each named, with what would be accepted.
    func testPruneRefusesBadInputsNamingFlagValueAndWhatIsAccepted() throws {
        try writeInputs()
        let x = ["prune", "--features", path("x.npy")]
        try expectBadInput(["prune", "--features", path("empty.npy"), "--budget", "3"], ["--features", "empty.npy", "empty"])
        try expectBadInput(x + ["--embeddings", path("x5.npy"), "--query", path("q.npy"), "--budget", "3"],
                           ["--query", "q.npy", "width 6", "width of --embeddings (5)"])
        try expectBadInput(x + ["--query", path("q5.npy"), "--budget", "3"], ["--query", "q5.npy", "width of --features (6)"])
        try expectBadInput(["prune", "--features", path("nan.npy"), "--budget", "3"], ["--features", "nan.npy", "NaN", "row 2, column 1"])
        try expectBadInput(["prune", "--features", path("junk.npy"), "--budget", "3"], ["--features", "junk.npy", "not a .npy file"])
        try expectBadInput(["prune", "--features", path("missing.npy"), "--budget", "3"], ["--features", "missing.npy", "cannot be read"])
        // Negative numbers are values: refused for what they are, never "Missing value".
        let budget = "must be a count >= 1 (such as 64) or a ratio in (0, 1] (such as 0.1)"
        try expectBadInput(x + ["--budget", "-5"], ["--budget -5: " + budget, "Usage: script-cluster prune"])
        try expectBadInput(x + ["--budget", "0"], ["--budget 0: " + budget])
        try expectBadInput(x + ["--budget", "1.5"], ["--budget 1.5: " + budget])
        try expectBadInput(x + ["--budget", "lots"], ["--budget lots: " + budget])
        try expectBadInput(x + ["--budget", "3", "--tau", "-3"], ["--tau -3.0: must be a number in [-1, 1]"])
        try expectBadInput(x + ["--budget", "3", "--theta", "1"], ["--theta 1.0: must be a number in [0, 1)"])
        try expectBadInput(x + ["--budget", "3", "--relevance-sign", "-2"], ["--relevance-sign -2.0: must be 1 or -1"])
        try expectBadInput(x + ["--budget", "3", "--method", "script+", "--discount", "-1"], ["--discount -1: must be a whole number in [0, 64]"])
        try expectBadInput(x + ["--budget", "3", "--method", "script+", "--floor-relevance", "1.5"], ["--floor-relevance 1.5: must be a number in [0, 1]"])
        try expectBadInput(x + ["--budget", "3", "--method", "script+", "--unit-tokens", "0"], ["--unit-tokens 0: must be a whole number >= 1"])
        try expectBadInput(x + ["--budget", "3", "--tiles", "-2"], ["--tiles -2: must be a whole number >= 1"])
        try expectBadInput(x + ["--budget", "3", "--threads", "0"], ["--threads 0: must be a whole number from 1 to 1024"])
        try expectBadInput(x + ["--budget", "3", "--method", "magic"],
                           ["--method magic: must be script, script+, cdpruner, divprune, gsp, random or uniform"])
        // Layouts: the flag, its value, and why.
        try expectBadInput(x + ["--budget", "3", "--shards", "0:6,5:10"], ["--shards 0:6,5:10", "overlap"])
        try expectBadInput(x + ["--budget", "3", "--shards", "0:4,6:10"], ["--shards 0:4,6:10", "uncovered"])
        try expectBadInput(x + ["--budget", "3", "--shards", "0:5,5:12"], ["--shards 0:5,5:12", "past the 10 tokens"])
        try expectBadInput(x + ["--budget", "3", "--shards", "0:5,five"], ["--shards 0:5,five: 'five' is not start:end"])
        try expectBadInput(x + ["--budget", "3", "--shards", "0:5,5:3"], ["--shards 0:5,5:3: '5:3' must have 0 <= start < end"])
        try expectBadInput(x + ["--budget", "3", "--tiles", "3"], ["--tiles 3: must divide the 10 tokens into equal tiles"])
        try expectBadInput(x + ["--budget", "3", "--frames", "5"], ["--frames 5", "--segment-frames"])
        try expectBadInput(x + ["--budget", "3", "--tiles", "2", "--shards", "0:10"], ["at most one of --shards, --tiles"])
        // Outputs: refused before any work, naming the flag and the path.
        try expectBadInput(x + ["--budget", "3", "--out", path("no/such/dir/kept.json")],
                           ["--out \(path("no/such/dir/kept.json")): cannot be written: the directory", "does not exist"])
        try expectBadInput(x + ["--budget", "3", "--out", dir], ["--out \(dir): is a directory"])
        try expectBadInput(x + ["--budget", "3", "--merge"], ["--merge: needs --kept-features"])
    }

    /// A request whose one shard could not fit in this process's memory (Script's graph over it)
    /// is refused before any work, saying what it needs and how to split it; it was killed for
    /// memory part-way. The same tokens in tiles are pruned.
    func testPruneRefusesARequestThatCannotFitInMemory() throws {
        // Past the machine's memory, so past any container's limit too.
        let memory = Int(ProcessInfo.processInfo.physicalMemory)
        let n = 1000 * ((2 * Int(Double(memory / 4).squareRoot())) / 1000 + 2)
        try Npy.write((0..<n).map { Float($0 % 7 + 1) }, shape: [n, 1], to: path("long.npy"))
        let long = ["prune", "--features", path("long.npy"), "--budget", "8"]
        try expectBadInput(long, ["--features", "long.npy", "script over \(n) tokens of width 1 in one shard needs",
                                  "at the least (its features and graph), more than this process's memory limit",
                                  "): give it shards (--shards, --tiles, --frames with --segment-frames)"])
        try expectBadInput(long + ["--method", "gsp", "--tiles", "1000"], ["gsp over \(n) tokens"])
        let tiled = try run(long + ["--tiles", "1000"])
        XCTAssertEqual(tiled.status, 0, tiled.err)
        XCTAssertTrue(tiled.out.contains("\"indices\""), tiled.out)
    }

    /// A malformed layout file is described in our words, never with Swift's DecodingError.
    func testLayoutFileErrorsAreOurs() throws {
        try writeInputs()
        let files: [(String, String, String)] = [
            ("truncated.json", #"{"kind": "anyres", "tokens": 10, "units": [[0, 10]], "shards": [[0, 5],"#, "is not valid JSON"),
            ("nokey.json", #"{"kind": "anyres", "tokens": 10, "units": [[0, 10]]}"#, "has no 'shards'"),
            ("type.json", #"{"kind": "anyres", "tokens": "ten", "units": [[0, 10]], "shards": [[0, 10]]}"#, "tokens must be a whole number"),
            ("pair.json", #"{"kind": "anyres", "tokens": 10, "units": [[0, 10]], "shards": [[0, 5, 7], [5, 10]]}"#, "shards[0] is [0, 5, 7]"),
            ("gap.json", #"{"kind": "anyres", "tokens": 10, "units": [[0, 10]], "shards": [[0, 5]]}"#, "tokens 5..<10 uncovered"),
            ("reversed.json", #"{"kind": "anyres", "tokens": 10, "units": [[0, 10]], "shards": [[0, 5], [10, 5]]}"#,
             "shards[1] is [10, 5], not [start, end] with 0 <= start <= end"),
            ("negative.json", #"{"kind": "anyres", "tokens": 10, "units": [[-2, 10]], "shards": [[0, 10]]}"#, "units[0] is [-2, 10]"),
        ]
        for (name, text, words) in files {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
            try expectBadInput(["prune", "--features", path("x.npy"), "--budget", "3", "--layout", path(name)],
                               ["--layout \(path(name)): ", words])
        }
        try expectBadInput(["prune", "--features", path("x.npy"), "--budget", "3", "--layout", path("none.json")],
                           ["--layout \(path("none.json")): cannot be read"])
    }

    /// Errors of a subcommand show that subcommand's usage, not the top-level one.
    func testSubcommandErrorsShowTheirOwnUsage() throws {
        try expectBadInput(["sample", "--kind", "photo", "--out", path("p")],
                           ["--kind photo: must be image, anyres or video", "Usage: script-cluster sample"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("p")), "nothing written")
        try expectBadInput(["sample", "--out", path("p"), "--units", "-3"], ["--units -3: must be a whole number from 1 to 1000000"])
        try expectBadInput(["sample", "--out", path("p"), "--units", "2000", "--tokens-per-unit", "1000"], ["must make at most 1000000 tokens"])
        try expectBadInput(["sample", "--out", path("p"), "--dtype", "f64"], ["--dtype f64: must be f32 or f16"])
        try expectBadInput(["eval", "--requests", "0"], ["--requests 0: must be a whole number from 1 to 10000", "Usage: script-cluster eval"])
        try expectBadInput(["eval", "--kinds", "image,photo"], ["--kinds image,photo: 'photo' is not one of image, anyres, video"])
        try expectBadInput(["eval", "--methods", "script,magic"], ["--methods script,magic: 'magic' is not one of"])
        try expectBadInput(["eval", "--scale", "huge"], ["--scale huge: must be small, medium or full"])
        try expectBadInput(["eval", "--budgets", "64,-1"], ["--budgets 64,-1: '-1' is not a budget"])
        try expectBadInput(["eval", "--mask", path("m.npy")], ["--mask", "give --features too"])
        try expectBadInput(["bench", "--repeats", "-1"], ["--repeats -1: must be a whole number from 1 to 10000", "Usage: script-cluster bench"])
        try expectBadInput(["bench", "--cases", "image,huge"], ["--cases image,huge: 'huge' is not one of image, anyres, video"])
        // Each item once (a repeated one measured twice, the second run warm).
        try expectBadInput(["bench", "--cases", "anyres,anyres"], ["--cases anyres,anyres: 'anyres' is listed twice"])
        try expectBadInput(["eval", "--methods", "script,gsp,script"], ["--methods script,gsp,script: 'script' is listed twice"])
        // It measured nothing and exited 0.
        try expectBadInput(["bench", "--cluster", "--cases", "image"], ["--cases image: with --cluster, the cases are anyres, video"])
        // Said before anything starts (nothing on standard output): the sample was read, and its
        // budget checked, once the cluster was up; --once without --submit was ignored.
        try expectBadInput(["up", "--submit", "/nonexistent", "--once"], ["--submit /nonexistent: /nonexistent/features.npy cannot be read"])
        try expectBadInput(["up", "--submit", "/nonexistent", "--budget", "0"], ["--budget 0: must be a count >= 1"])
        try expectBadInput(["up", "--once"], ["--once: goes with --submit"])
        try expectBadInput(["load", "--sample", "/nonexistent"], ["--sample /nonexistent: /nonexistent/features.npy cannot be read"])
        try expectBadInput(["bench", "--seconds", "-2"], ["--seconds -2.0: must be a number > 0"])
        try expectBadInput(["submit", "--features", "x.npy", "--budget", "3", "--connect", "nonsense"],
                           ["--connect nonsense: 'nonsense' is not an endpoint"])
        try expectBadInput(["submit", "--features", "x.npy", "--budget", "3", "--dtype", "f64"], ["--dtype f64: must be f32, f16 or bf16"])
        try expectBadInput(["submit", "--features", "x.npy", "--budget", "3", "--deadline-ms", "-1"], ["--deadline-ms -1: must be a whole number >= 1"])
    }

    /// Your own files in `eval`: the ground truth must match the tokens.
    /// Every flag that takes a ZeroMQ endpoint refuses one no process could use, at once and as
    /// bad input (exit 2): an unknown transport, a TCP address without a port or with port 0 or
    /// past 65535, an empty item, a wildcard port where nothing binds. (Before, the roles that
    /// serve exited 3 with libzmq's "Protocol not supported" or "Invalid argument", and a
    /// `tcp://HOST` with no port crashed the check.)
    func testEveryEndpointFlagRefusesWhatNoProcessCouldUse() throws {
        let connects: [([String], String)] = [(["worker", "--connect"], "--connect"), (["submit", "--features", "x.npy", "--budget", "3", "--connect"], "--connect"),
                                              (["status", "--connect"], "--connect"), (["load", "--connect"], "--connect"),
                                              (["worker", "--data-advertise"], "--data-advertise")]
        let binds: [([String], String)] = [(["coordinator", "--frontend"], "--frontend"), (["coordinator", "--backend"], "--backend"),
                                           (["up", "--frontend"], "--frontend"), (["up", "--backend"], "--backend"), (["worker", "--data-bind"], "--data-bind")]
        for (args, flag) in connects + binds {
            for bad in ["bogus://x", "tcp://nohost", "tcp://h:0", "tcp://h:65536", "tcp://:5555", "ipc://"] {
                try expectBadInput(args + [bad], ["\(flag) \(bad): ", "tcp://HOST:PORT", "ipc://PATH"])
            }
        }
        for (args, flag) in connects { try expectBadInput(args + ["tcp://h:*"], ["\(flag) tcp://h:*: "]) }
        // A wildcard host is for binding: libzmq refused it where a process connects (exit 3,
        // "Invalid argument"), and an advertised 0.0.0.0 sent remote clients to their own host.
        for (args, flag) in connects { try expectBadInput(args + ["tcp://*:5556"], ["\(flag) tcp://*:5556: ", "names every interface (*), which is for binding"]) }
        try expectBadInput(["submit", "--features", "x.npy", "--budget", "3", "--connect", "tcp://a:1,tcp://*:2"], ["--connect tcp://a:1,tcp://*:2: 'tcp://*:2' names every interface"])
        for wildcard in ["tcp://0.0.0.0:5557", "tcp://[::]:5557"] {
            try expectBadInput(["worker", "--data-advertise", wildcard], ["--data-advertise \(wildcard): names every interface of this machine, which clients cannot connect to"])
        }
        try expectBadInput(["worker", "--connect", "tcp://a:5556,"], ["--connect tcp://a:5556,: an empty item is not an endpoint"])
        // Twice in a list: a worker registered twice with one coordinator, `up` bound one port twice.
        try expectBadInput(["worker", "--connect", "tcp://a:5556,tcp://a:5556"], ["--connect tcp://a:5556,tcp://a:5556: 'tcp://a:5556' is listed twice"])
        try expectBadInput(["up", "--frontend", "tcp://127.0.0.1:7001,tcp://127.0.0.1:7001"], ["'tcp://127.0.0.1:7001' is listed twice"])
        try expectBadInput(["coordinator", "--frontend", "tcp://a:1,tcp://b:2"], ["--frontend tcp://a:1,tcp://b:2: must be an endpoint"])
        // One endpoint for clients and workers: the second bind failed, "Address already in use".
        try expectBadInput(["coordinator", "--frontend", "tcp://127.0.0.1:7003", "--backend", "tcp://127.0.0.1:7003"],
                           ["--backend tcp://127.0.0.1:7003: 'tcp://127.0.0.1:7003' is the --frontend's too"])
        try expectBadInput(["up", "--coordinators", "2", "--frontend", "tcp://127.0.0.1:7001,ipc://@f", "--backend", "ipc://@b,ipc://@f"],
                           ["--backend ipc://@b,ipc://@f: 'ipc://@f' is the --frontend's too"])
        // `up`: one endpoint per coordinator, or one port the system picks for each; an extra one
        // went unused, one fixed port for two was bound twice (exit 3 after a second).
        try expectBadInput(["up", "--frontend", "tcp://127.0.0.1:7001,tcp://127.0.0.1:7002"],
                           ["--frontend tcp://127.0.0.1:7001,tcp://127.0.0.1:7002: lists 2 endpoints for 1 coordinator (--coordinators)"])
        try expectBadInput(["up", "--coordinators", "2", "--backend", "tcp://127.0.0.1:7004"],
                           ["--backend tcp://127.0.0.1:7004: is one endpoint for 2 coordinators, which cannot all bind it"])
    }

    /// The serving roles, `load` and `status` refuse numbers they could not work with (a worker
    /// of credit 0 never got a job, a coordinator of queue 0 refused every request, a heartbeat of
    /// 0 dropped every peer at once, `load --timeout-ms 0` timed every request out), negative ones
    /// included (the parser took `-1` for a flag: "Missing value").
    func testServingRolesRefuseCountsTheyCouldNotServeWith() throws {
        let cases: [(String, String, String, String)] = [
            ("worker", "--credit", "0", ">= 1"), ("worker", "--credit", "-1", ">= 1"), ("worker", "--threads", "0", "from 1 to 1024"),
            ("worker", "--io-threads", "0", ">= 1"), ("worker", "--heartbeat-ms", "0", ">= 1"), ("worker", "--liveness", "0", ">= 1"),
            ("worker", "--reconnect-min-ms", "0", ">= 1"), ("worker", "--reconnect-max-ms", "-5", ">= 1"),
            ("coordinator", "--heartbeat-ms", "0", ">= 1"), ("coordinator", "--liveness", "-2", ">= 1"), ("coordinator", "--queue", "0", ">= 1"),
            ("coordinator", "--deadline-ms", "0", ">= 1"), ("coordinator", "--max-message-bytes", "0", ">= 1"),
            ("coordinator", "--max-tokens", "0", ">= 1"), ("coordinator", "--max-width", "0", ">= 1"), ("coordinator", "--max-shards", "0", ">= 1"),
            ("coordinator", "--io-threads", "0", ">= 1"), ("coordinator", "--drain-ms", "-1", ">= 0"),
            ("up", "--workers", "0", "from 1 to 1024"), ("up", "--coordinators", "0", "from 1 to 64"),
            ("load", "--timeout-ms", "0", ">= 1"), ("load", "--wait-workers", "-1", ">= 0"),
            ("load", "--concurrency", "-1", ">= 1"), ("load", "--requests", "0", ">= 1"),
            ("status", "--timeout-ms", "-5", ">= 1"), ("status", "--min-workers", "-1", ">= 0"),
        ]
        for (command, flag, value, range) in cases {
            try expectBadInput([command, flag, value], ["\(flag) \(value): must be a whole number \(range)", "Usage: script-cluster \(command)"])
        }
        try expectBadInput(["load", "--duration", "-1"], ["--duration -1.0: must be a number of seconds above 0"])
        try expectBadInput(["load", "--rate", "-2"], ["--rate -2.0: must be a number of requests a second above 0"])
        try expectBadInput(["worker", "--metrics-port", "-1"], ["--metrics-port -1: must be 0 to 65535"])
        try expectBadInput(["up", "--metrics-port", "-1"], ["--metrics-port -1: must be a port, 1 to 65535"])
    }

    /// Output a command cannot write (a full disk, a closed standard output) fails it with
    /// exit 2 and one line saying why, never a crash (`FileHandle.write` traps) or a silent 0;
    /// an output path that is a link or a device is written through, never replaced by a file.
    func testOutputThatCannotBeWrittenSaysWhy() throws {
        try writeInputs()
        let x = ["prune", "--features", path("x.npy"), "--budget", "3"]
        let noSpace = "Error: standard output cannot be written: No space left on device\n"
        for args in [x, ["sample", "--kind", "image", "--small", "--out", path("s")], ["prune", "--help"], ["--version"],
                     ["keygen", "--out", path("k")], ["status", "--url", "http://127.0.0.1:9/readyz", "--json"]] {
            let o = try run(args, stdout: ">/dev/full")
            XCTAssertEqual(o.status, 2, "\(args): \(o.err)")
            XCTAssertEqual(o.err, noSpace, "\(args)")
        }
        let closed = try run(x, stdout: ">&-")
        XCTAssertEqual(closed.status, 2, closed.err)
        XCTAssertEqual(closed.err, "Error: standard output cannot be written: Bad file descriptor\n")
        // /dev/full through a link of this test's own, so that code which replaces what it writes
        // replaces the link, not the device.
        let full = path("full")
        try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: "/dev/full")
        try expectBadInput(x + ["--out", full], ["--out \(full): cannot be written: No space left on device"])
        try expectBadInput(x + ["--out", path("k.json"), "--kept-features", full],
                           ["--kept-features \(full): cannot be written: No space left on device"])
        try expectBadInput(x + ["--out", path("x.npy/k.json")], ["--out \(path("x.npy/k.json")): cannot be written: \(path("x.npy")) is not a directory"])
        try expectBadInput(["sample", "--small", "--out", path("x.npy/s")], ["--out \(path("x.npy/s")): cannot be written: Not a directory"])
        // Through symbolic links: the links stay, their targets get the files.
        for name in ["out.npy", "kept.npy"] {
            try FileManager.default.createSymbolicLink(atPath: path("link-" + name), withDestinationPath: path(name))
        }
        try runOK(x + ["--out", path("link-out.npy"), "--kept-features", path("link-kept.npy")])
        for name in ["out.npy", "kept.npy"] {
            XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: path("link-" + name)), path(name))
        }
        XCTAssertEqual(try Npy.read(path: path("out.npy")).shape, [3])
        XCTAssertEqual(try Npy.read(path: path("kept.npy")).shape, [3, 6])
    }

    func testEvalNamesAMaskOfTheWrongLength() throws {
        try writeInputs()
        try expectBadInput(["eval", "--features", path("x.npy"), "--mask", path("mask7.npy"), "--quiet"],
                           ["--mask \(path("mask7.npy")): has 7 values for 10 tokens"])
        try expectBadInput(["eval", "--features", path("x.npy")], ["--features", "needs --mask"])
    }

    /// Negative numbers parse as values where they are valid.
    func testNegativeNumbersAreValues() throws {
        try writeInputs()
        let o = try runOK(["prune", "--features", path("x.npy"), "--budget", "3", "--relevance-sign", "-1", "--tau", "-0.5"])
        XCTAssertTrue(o.out.contains("\"indices\""), o.out)
    }

    /// Help exits 0 on standard output; a parse error exits 2; no subcommand shows help.
    func testExitStatusOfHelpAndParseErrors() throws {
        let help = try run(["prune", "--help"])
        XCTAssertEqual(help.status, 0, help.err)
        XCTAssertTrue(help.out.contains("USAGE: script-cluster prune"), help.out)
        XCTAssertEqual(help.err, "")
        let top = try run([])
        XCTAssertEqual(top.status, 0, top.err)
        XCTAssertTrue(top.out.contains("Exit status: 0 done; 1 an internal error"), top.out)
        let unknown = try run(["prunee"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.err.contains("prunee"), unknown.err)
        let missing = try run(["prune", "--budget", "3"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.err.contains("--features"), missing.err)
        let noValue = try run(["prune", "--features", "x.npy", "--budget"])
        XCTAssertEqual(noValue.status, 2)
        XCTAssertTrue(noValue.err.contains("--budget"), noValue.err)
    }

    /// No coordinator answers: exit 3 (the cluster), with a message that says so.
    func testSubmitToNoClusterExitsThree() throws {
        try writeInputs()
        let o = try run(["submit", "--connect", "tcp://127.0.0.1:1", "--features", path("x.npy"), "--budget", "3",
                         "--deadline-ms", "100", "--attempts", "1"])
        XCTAssertEqual(o.status, 3, o.err)
        XCTAssertTrue(o.err.hasPrefix("Error: timeout: no answer"), o.err)
        XCTAssertTrue(o.err.contains("tcp://127.0.0.1:1"), o.err)
        XCTAssertEqual(o.out, "")
        // A request that cannot be valid is refused before it is sent (exit 2, not 3).
        try expectBadInput(["submit", "--connect", "tcp://127.0.0.1:1", "--features", path("nan.npy"), "--budget", "3", "--attempts", "1"],
                           ["--features \(path("nan.npy")): features holds a NaN"])
    }
}
