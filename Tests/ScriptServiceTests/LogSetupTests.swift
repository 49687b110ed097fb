import Foundation
import Logging
import Synchronization
import XCTest
@testable import ScriptService

/// Log levels and formats, the JSON handler, and the access line.
final class LogSetupTests: XCTestCase {
    func testLevelsAndFormatsAreValidatedByName() throws {
        for level in Logger.Level.allCases { XCTAssertEqual(try LogSetup.level(named: level.rawValue), level) }
        XCTAssertEqual(try LogSetup.level(named: "WARNING"), .warning)
        XCTAssertThrowsError(try LogSetup.level(named: "verbose")) {
            XCTAssertEqual("\($0)", "unknown log level 'verbose' (accepted: trace, debug, info, notice, warning, error, critical)")
        }
        XCTAssertEqual(try LogFormat(named: "json"), .json)
        XCTAssertThrowsError(try LogFormat(named: "yaml")) { XCTAssertEqual("\($0)", "unknown log format 'yaml' (accepted: text, json)") }
    }

    /// A text log line stays one line whatever its label and message hold (a worker's name, a
    /// peer's words): control characters are escaped. (Standard error is a file meanwhile.)
    func testATextLogLineStaysOneLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("text-log-\(UUID().uuidString)").path
        let file = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644), saved = dup(STDERR_FILENO)
        XCTAssertTrue(file >= 0 && saved >= 0)
        dup2(file, STDERR_FILENO)
        let logger = Logger(label: "w\nforged") { TextLogHandler(label: $0) }
        logger.warning("peer said \"a\n2026-01-01T00:00:00+0000 critical forged\u{1B}[31m\"")
        fflush(nil)
        dup2(saved, STDERR_FILENO)
        close(saved)
        close(file)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: path)
        XCTAssertEqual(text.filter { $0 == "\n" }.count, 1, text)
        XCTAssertTrue(text.contains(" warning w\\u{a}forged: "), text)
        XCTAssertTrue(text.contains("peer said \"a\\u{a}2026-01-01T00:00:00+0000 critical forged\\u{1b}[31m\""), text)
    }

    /// Lines a JSON logger writes, parsed.
    func jsonLines(_ body: (Logger) -> Void) throws -> [[String: Any]] {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "test") { JSONLogHandler(label: $0) { line in lines.withLock { $0.append(line) } } }
        logger.logLevel = .debug
        body(logger)
        return try lines.withLock { $0 }.map { line in
            XCTAssertTrue(line.hasSuffix("}\n"))
            XCTAssertEqual(line.filter { $0 == "\n" }.count, 1, "one object a line: \(line)")
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    func testJSONLinesKeepTypesAndEscapeText() throws {
        let lines = try jsonLines { logger in
            var l = logger
            l[metadataKey: "worker"] = "w1"
            l.info("a \"quoted\"\nline\u{1}", metadata: [
                "n": .stringConvertible(42), "ms": .stringConvertible(1.5), "ok": .stringConvertible(true),
                "msg": "not the message", "nested": ["a": .array(["x", .stringConvertible(2)])],
            ])
            l.trace("below the level")
            l.warning("second")
        }
        XCTAssertEqual(lines.count, 2)
        let first = lines[0]
        XCTAssertEqual(first["msg"] as? String, "a \"quoted\"\nline\u{1}")
        XCTAssertEqual(first["level"] as? String, "info")
        XCTAssertEqual(first["logger"] as? String, "test")
        XCTAssertEqual(first["worker"] as? String, "w1")
        XCTAssertEqual(first["n"] as? Int, 42)
        XCTAssertEqual(first["ms"] as? Double, 1.5)
        XCTAssertEqual(first["ok"] as? Bool, true)
        XCTAssertEqual(first["meta.msg"] as? String, "not the message")
        XCTAssertEqual(((first["nested"] as? [String: Any])?["a"] as? [Any])?.count, 2)
        let ts = try XCTUnwrap(first["ts"] as? String)
        XCTAssertNotNil(ts.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), ts)
        XCTAssertEqual(lines[1]["level"] as? String, "warning")
    }

    /// Every control character is escaped (the line stays one JSON object), a number JSON cannot
    /// hold is written as a string, and a message's own metadata wins over the logger's.
    func testJSONLinesStayValidForEveryCharacterAndNumber() throws {
        let controls = String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) })
        let lines = try jsonLines { logger in
            var l = logger
            l[metadataKey: "worker"] = "w1"
            l.info("\(controls)end", metadata: [
                "nan": .stringConvertible(Double.nan), "inf": .stringConvertible(-Double.infinity),
                "f": .stringConvertible(Float.infinity), "worker": "w2",
            ])
        }
        XCTAssertEqual(lines.count, 1)
        XCTAssertEqual(lines.first?["msg"] as? String, controls + "end")
        XCTAssertEqual(lines.first?["nan"] as? String, "nan")
        XCTAssertEqual(lines.first?["inf"] as? String, "-inf")
        XCTAssertEqual(lines.first?["f"] as? String, "inf")
        XCTAssertEqual(lines.first?["worker"] as? String, "w2", "the message's metadata wins")
    }

    func testAccessLineForPeopleAndForCollectors() throws {
        let ok = AccessLogEntry.served(id: "req-1", tokensIn: 2880, tokensKept: 320, shards: 5, workers: 2, duration: .microseconds(51_634))
        XCTAssertEqual(ok.textLine, "request req-1 ok: 2880 -> 320 tokens, 5 shards on 2 workers, 51.6 ms")
        let bad = AccessLogEntry.failed(id: "evil\nrequest x ok", code: "bad_budget", tokensIn: 576, shards: 1, workers: 0,
                                        duration: .microseconds(312))
        XCTAssertEqual(bad.outcome, .rejected)
        XCTAssertEqual(bad.textLine, "request evil\\u{a}request x ok rejected (bad_budget): 576 tokens, 1 shard on 0 workers, 312 µs")

        let before = LogSetup.format
        defer { _ = LogSetup.make("restore", level: .info, format: before) }
        _ = LogSetup.make("test", level: .info, format: .json)
        let lines = try jsonLines { $0.access(ok) }
        XCTAssertEqual(lines.count, 1)
        let l = lines[0]
        XCTAssertEqual(l["msg"] as? String, "request")
        XCTAssertEqual(l["id"] as? String, "req-1")
        XCTAssertEqual(l["tokens_in"] as? Int, 2880)
        XCTAssertEqual(l["tokens_kept"] as? Int, 320)
        XCTAssertEqual(l["shards"] as? Int, 5)
        XCTAssertEqual(l["workers"] as? Int, 2)
        XCTAssertEqual(l["ms"] as? Double, 51.634)
        XCTAssertEqual(l["outcome"] as? String, "ok")
        XCTAssertNil(l["code"])
        _ = LogSetup.make("test", level: .info, format: .text)
        XCTAssertEqual(try jsonLines { $0.access(ok) }.first?["msg"] as? String, ok.textLine)
    }

    func testOutcomesOfErrorCodes() {
        XCTAssertEqual(RequestOutcome(errorCode: "non_finite"), .rejected)
        XCTAssertEqual(RequestOutcome(errorCode: "too_large"), .rejected)
        XCTAssertEqual(RequestOutcome(errorCode: "busy"), .overloaded)
        XCTAssertEqual(RequestOutcome(errorCode: "shutting_down"), .overloaded)
        XCTAssertEqual(RequestOutcome(errorCode: "timeout"), .failed)
        XCTAssertEqual(RequestOutcome(errorCode: "cancelled"), .cancelled)
        XCTAssertEqual(RequestOutcome(errorCode: "internal"), .failed)
        XCTAssertEqual(RequestOutcome(errorCode: "a_code_added_later"), .failed)
    }
}
