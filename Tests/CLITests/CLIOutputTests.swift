import Foundation
import FoundationXML
import XCTest

/// What a person and a program read: progress on a terminal only, machine-readable output
/// unchanged by it, numbers rounded to what was measured, a help line for every option.
final class CLIOutputTests: CLITestCase {
    /// About two seconds of evaluation: long enough for a progress line to appear.
    let evalArgs = ["eval", "--scale", "medium", "--requests", "1", "--kinds", "anyres"]

    /// The terminal's text as a pipe would have carried it: the progress line's draws and
    /// erasures taken out, CR LF back to LF.
    func withoutProgress(_ screen: String) -> String {
        var text = screen.replacingOccurrences(of: "\r\n", with: "\n")
        while let start = text.range(of: "\r"), let end = text.range(of: "\u{1B}[K", range: start.upperBound..<text.endIndex) {
            text.removeSubrange(start.lowerBound..<end.upperBound)
        }
        return text
    }

    func testProgressOnlyOnATerminalAndOutputUnchangedByIt() throws {
        // Piped: not a byte on standard error.
        let piped = try runOK(evalArgs)
        XCTAssertEqual(piped.err, "")
        XCTAssertTrue(piped.out.contains("| anyres | script | 320 |"), piped.out)
        XCTAssertFalse(piped.out.contains("\r") || piped.out.contains("\u{1B}"), piped.out)
        // On a terminal: a progress line (what, how far), drawn and erased in place.
        let tty = try runInTerminal(evalArgs)
        XCTAssertEqual(tty.status, 0, tty.screen)
        XCTAssertTrue(tty.screen.contains("\reval anyres"), tty.screen)
        XCTAssertTrue(tty.screen.contains(" runs ("), tty.screen)
        XCTAssertTrue(tty.screen.contains("\r\u{1B}[K"), "the line is erased: \(tty.screen)")
        // Every draw is followed by a redraw or an erasure, never by the command's output.
        XCTAssertNil(tty.screen.range(of: "\r[^\r\n\u{1B}]+\u{1B}\\[K(?!\r)", options: .regularExpression),
                     "output written after the progress line: \(tty.screen)")
        // What the command prints is the same on the terminal as through the pipe (the eval's
        // timings column aside, and the time ratios of the targets table with their marks,
        // which differ run to run).
        let tableRows = { (s: String) in
            s.split(separator: "\n").map {
                $0.replacingOccurrences(of: "\\| [0-9.]+ \\|$", with: "| ms |", options: .regularExpression)
                    .replacingOccurrences(of: "\\| [0-9.]+ (yes|\\*\\*no\\*\\*) ", with: "| ratio ", options: .regularExpression)
            }
        }
        XCTAssertEqual(tableRows(withoutProgress(tty.screen)), tableRows(piped.out))
        // --quiet: no progress on a terminal either.
        let quiet = try runInTerminal(evalArgs + ["--quiet"])
        XCTAssertEqual(quiet.status, 0, quiet.screen)
        XCTAssertFalse(quiet.screen.contains("\u{1B}[K"), quiet.screen)
        XCTAssertFalse(quiet.screen.contains("runs ("), quiet.screen)
    }

    /// A short command on a terminal shows nothing but its result.
    func testShortWorkShowsNoProgressOnATerminal() throws {
        try runOK(["sample", "--kind", "image", "--small", "--out", path("s")])
        let tty = try runInTerminal(["prune", "--features", path("s/features.npy"), "--budget", "5"])
        XCTAssertEqual(tty.status, 0, tty.screen)
        XCTAssertFalse(tty.screen.contains("\u{1B}[K"), tty.screen)
        XCTAssertTrue(tty.screen.hasPrefix("{\""), tty.screen)
    }

    /// Timings in JSON carry microseconds at most (no float noise such as 0.40429800000000005).
    func testJSONTimingsAreRoundedToTheMicrosecond() throws {
        try runOK(["sample", "--kind", "anyres", "--small", "--out", path("s")])
        try runOK(["prune", "--features", path("s/features.npy"), "--budget", "40", "--tiles", "5", "--out", path("kept.json")])
        let text = String(decoding: try contents(path("kept.json")), as: UTF8.self)
        let timings = try XCTUnwrap(try json(path("kept.json"))["timings_ms"] as? [String: Double])
        XCTAssertFalse(timings.isEmpty)
        for (stage, ms) in timings {
            XCTAssertEqual(ms * 1000, (ms * 1000).rounded(), accuracy: 1e-6, "\(stage) = \(ms)")
        }
        let section = try XCTUnwrap(text.range(of: "\"timings_ms\":\\{[^}]*\\}", options: .regularExpression).map { String(text[$0]) })
        XCTAssertNil(section.range(of: "\\.[0-9]{4,}", options: .regularExpression), "more than three decimals: \(section)")
        XCTAssertNotNil(section.range(of: "\"total\":[0-9]", options: .regularExpression), section)
    }

    /// `eval` writes its rows as JSON (numbers rounded) and the chart as SVG.
    func testEvalWritesRoundedJSONAndAnSVG() throws {
        try runOK(["eval", "--scale", "small", "--requests", "2", "--kinds", "image", "--json", path("e.json"), "--svg", path("e.svg")])
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: try contents(path("e.json"))) as? [[String: Any]])
        XCTAssertEqual(rows.count, 3 * 9, "three budgets, nine methods")
        let text = String(decoding: try contents(path("e.json")), as: UTF8.self)
        XCTAssertNil(text.range(of: "\\.[0-9]{7,}", options: .regularExpression), "float noise in \(text.prefix(400))")
        for row in rows {
            let ms = try XCTUnwrap(row["ms"] as? Double)
            XCTAssertEqual(ms * 1000, (ms * 1000).rounded(), accuracy: 1e-6)
            XCTAssertEqual(row["requests"] as? Int, 2)
            XCTAssertEqual(row["similarity"] as? String, "f32")
        }
        XCTAssertTrue(XMLParser(data: try contents(path("e.svg"))).parse(), "the SVG is well-formed XML")
    }

    /// `bench` writes JSON and an SVG chart next to its table.
    func testBenchWritesJSONAndAnSVGChart() throws {
        let o = try runOK(["bench", "--cases", "image", "--repeats", "2", "--no-numpy", "--json", path("b.json"), "--svg", path("b.svg")])
        XCTAssertTrue(o.out.contains("image 576x4096"), o.out)
        let report = try json(path("b.json"))
        XCTAssertEqual(report["repeats"] as? Int, 2)
        let cases = try XCTUnwrap(report["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 1)
        let c = cases[0]
        XCTAssertEqual(c["tokens"] as? Int, 576)
        XCTAssertEqual(c["budget"] as? Int, 64)
        let total = try XCTUnwrap(c["total_ms"] as? Double)
        let stages = try XCTUnwrap(c["stages_ms"] as? [String: Double])
        XCTAssertEqual(stages["total"], total)
        XCTAssertGreaterThan(try XCTUnwrap(c["blas_bound_ms"] as? Double), 0)
        XCTAssertNil(c["numpy_ms"], "--no-numpy")
        XCTAssertEqual(total * 1000, (total * 1000).rounded(), accuracy: 1e-6)
        let svg = try contents(path("b.svg"))
        XCTAssertTrue(XMLParser(data: svg).parse(), "the SVG is well-formed XML")
        let text = String(decoding: svg, as: UTF8.self)
        XCTAssertTrue(text.contains("image 576x4096") && text.contains("BLAS bound"), text)
    }

    /// `prune --similarity bf16` rounds the features (in the pass that checks them: a stage named
    /// for both in the timings) and keeps
    /// most of what f32 keeps; skipped where its products cannot run here.
    func testPruneWithBFloat16Products() throws {
        try runOK(["sample", "--kind", "anyres", "--small", "--out", path("s"), "--quiet"])
        let files = ["--features", path("s/features.npy"), "--embeddings", path("s/embeddings.npy"), "--query", path("s/query.npy"),
                     "--layout", path("s/layout.json"), "--budget", "0.1"]
        try runOK(["prune"] + files + ["--out", path("f32.json")])
        let o = try run(["prune"] + files + ["--similarity", "bf16", "--out", path("bf16.json")])
        if o.err.contains("--similarity bf16:") { throw XCTSkip(o.err) }
        XCTAssertEqual(o.status, 0, o.err)
        let full = try XCTUnwrap(try json(path("f32.json"))["indices"] as? [Int])
        let half = try json(path("bf16.json"))
        let kept = try XCTUnwrap(half["indices"] as? [Int])
        XCTAssertEqual(kept.count, full.count)
        XCTAssertGreaterThanOrEqual(Set(kept).intersection(full).count * 4, 3 * full.count)
        XCTAssertNotNil((half["timings_ms"] as? [String: Any])?["validate+bfloat16"], "\(half)")
    }

    /// An empty OPENBLAS_CORETYPE is no choice (OpenBLAS reads it as unset): the kernels are
    /// chosen as without it, and `bench` does not say the variable set them.
    func testAnEmptyCoreTypeIsNoChoice() throws {
        let args = ["bench", "--cases", "image", "--repeats", "1", "--no-numpy"]
        func blasLine(_ o: Outcome) -> String {
            o.out.split(separator: "\n").first { $0.hasPrefix("BLAS: ") }.map(String.init) ?? o.out + o.err
        }
        let unset = blasLine(try run(args, shell: "unset OPENBLAS_CORETYPE; exec \"$0\" \"$@\""))
        let empty = blasLine(try run(args, shell: "OPENBLAS_CORETYPE= exec \"$0\" \"$@\""))
        XCTAssertTrue(unset.hasPrefix("BLAS: "), unset)
        XCTAssertEqual(empty, unset)
        XCTAssertFalse(empty.contains("set by OPENBLAS_CORETYPE"), empty)
    }

    /// Every option of the commands this file covers has a help line, and defaults that depend
    /// on the machine (threads) are described, not printed as this machine's value.
    func testEveryOptionHasAHelpLine() throws {
        let dump = try runOK(["--experimental-dump-help"])
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(dump.out.utf8)) as? [String: Any])
        let commands = try XCTUnwrap((root["command"] as? [String: Any])?["subcommands"] as? [[String: Any]])
        var checked = 0
        for command in commands {
            let name = command["commandName"] as? String ?? ""
            guard ["prune", "sample", "submit", "eval", "bench"].contains(name) else { continue }
            checked += 1
            for argument in command["arguments"] as? [[String: Any]] ?? [] {
                let flag = ((argument["names"] as? [[String: Any]])?.first?["name"] as? String) ?? "?"
                let abstract = argument["abstract"] as? String ?? ""
                XCTAssertFalse(abstract.isEmpty, "\(name) --\(flag) has no help line")
                if flag == "threads" {
                    XCTAssertNil(argument["defaultValue"], "\(name) --threads prints this machine's core count")
                    XCTAssertTrue(abstract.contains("the CPUs this process may use"), "\(name) --threads: \(abstract)")
                }
            }
        }
        XCTAssertEqual(checked, 5)
    }
}
