import Foundation
import XCTest
@testable import ScriptTransport

/// Key files as keygen writes them and as ZeroMQ's other tools (pyzmq's zmq.auth) read them.
final class CurveKeyFileTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("curve-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        return path(name)
    }

    func testWrittenPairReadsBackWithASecretOnlyTheOwnerReads() throws {
        let pair = try CurveKeyPair.generate()
        let files = try CurveKeyFile.write(pair, base: path("server"))
        XCTAssertEqual(try CurveKeyFile.readKeyPair(files.secretFile), pair)
        XCTAssertEqual(try CurveKeyFile.readPublicKey(files.publicFile), pair.publicKey)
        XCTAssertEqual(try CurveKeyFile.readPublicKey(files.secretFile), pair.publicKey)
        let mode = try FileManager.default.attributesOfItem(atPath: files.secretFile)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        XCTAssertFalse(try String(contentsOfFile: files.publicFile, encoding: .utf8).contains(pair.secretKey.z85))
        XCTAssertThrowsError(try CurveKeyFile.write(try CurveKeyPair.generate(), base: path("server"))) {
            XCTAssertEqual($0 as? CurveKeyError, .exists(path: files.publicFile))
        }
        // The pair on disk is unchanged.
        XCTAssertEqual(try CurveKeyFile.readKeyPair(files.secretFile), pair)
    }

    func testPublicKeyDerivesFromTheSecretAndMustMatchIt() throws {
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        XCTAssertEqual(try CurveKeyPair(secretKey: a.secretKey).publicKey, a.publicKey)
        let secretOnly = try write("only.key_secret", "curve\n    secret-key = \"\(a.secretKey.z85)\"\n")
        XCTAssertEqual(try CurveKeyFile.readKeyPair(secretOnly), a)
        let mixed = try write("mixed.key_secret", "curve\n    public-key = \"\(b.publicKey.z85)\"\n    secret-key = \"\(a.secretKey.z85)\"\n")
        XCTAssertThrowsError(try CurveKeyFile.readKeyPair(mixed)) { XCTAssertEqual($0 as? CurveKeyError, .mismatch(path: mixed)) }
        let publicOnly = try write("pub.key", "curve\n    public-key = \"\(a.publicKey.z85)\"\n")
        XCTAssertThrowsError(try CurveKeyFile.readKeyPair(publicOnly)) { XCTAssertEqual($0 as? CurveKeyError, .noSecretKey(path: publicOnly)) }
    }

    func testBadFilesNameThePathAndLine() throws {
        let short = try write("short.key", "metadata\ncurve\n    public-key = \"abc\"\n")
        XCTAssertThrowsError(try CurveKeyFile.readPublicKey(short)) {
            XCTAssertEqual($0 as? CurveKeyError, .badKey("abc", source: "\(short) line 3"))
            XCTAssertTrue("\($0)".contains("line 3"))
        }
        // 40 characters, one outside Z85.
        let bad = String(repeating: "a", count: 39) + "~"
        let list = try write("list", "# clients\n\(bad)\n")
        XCTAssertThrowsError(try CurveKeyFile.readAllowList(list)) { XCTAssertEqual($0 as? CurveKeyError, .badKey(bad, source: "\(list) line 2")) }
        let prose = try write("prose", "these are my keys\n")
        XCTAssertThrowsError(try CurveKeyFile.readAllowList(prose)) {
            XCTAssertEqual($0 as? CurveKeyError, .badLine(path: prose, line: 1, text: "these are my keys"))
        }
        XCTAssertThrowsError(try CurveKeyFile.readKeyPair(path("missing"))) {
            XCTAssertEqual($0 as? CurveKeyError, .unreadable(path: path("missing"), reason: "no such file"))
        }
        let two = try write("two", "\(try CurveKeyPair.generate().publicKey)\n\(try CurveKeyPair.generate().publicKey)\n")
        XCTAssertThrowsError(try CurveKeyFile.readPublicKey(two)) { XCTAssertEqual($0 as? CurveKeyError, .severalKeys(path: two, count: 2)) }
    }

    func testAllowListFromADirectoryOfKeyFilesOrAFileOfKeys() throws {
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate(), c = try CurveKeyPair.generate()
        try FileManager.default.createDirectory(atPath: path("clients"), withIntermediateDirectories: false)
        try CurveKeyFile.write(a, base: path("clients/a"))
        try CurveKeyFile.write(b, base: path("clients/b"))
        // Secret files in the directory are not read as allowed keys.
        XCTAssertEqual(try CurveKeyFile.readAllowList(path("clients")), [a.publicKey, b.publicKey])
        let list = try write("workers.txt", "# the workers\n\(b.publicKey)\n\n  \(c.publicKey)  \n")
        XCTAssertEqual(try CurveKeyFile.readAllowList(list), [b.publicKey, c.publicKey])
        // .key files put end to end (a Kubernetes Secret's one file).
        let joined = try String(contentsOfFile: path("clients/a.key"), encoding: .utf8) + String(contentsOfFile: path("clients/b.key"), encoding: .utf8)
        XCTAssertEqual(try CurveKeyFile.readAllowList(try write("clients.keys", joined)), [a.publicKey, b.publicKey])
        try FileManager.default.createDirectory(atPath: path("empty"), withIntermediateDirectories: false)
        XCTAssertThrowsError(try CurveKeyFile.readAllowList(path("empty"))) {
            XCTAssertEqual($0 as? CurveKeyError, .emptyAllowList(path: path("empty")))
        }
        let config = try CurveServerConfiguration.load(secretFile: path("clients/a.key_secret"), clients: path("clients"), workers: list)
        XCTAssertEqual(config.keyPair, a)
        XCTAssertEqual(config.workers, [b.publicKey, c.publicKey])
    }

    /// pyzmq reads our files, and we read pyzmq's (the certificate format farms already use).
    func testFilesInterchangeWithPyzmq() throws {
        let pair = try CurveKeyPair.generate()
        let files = try CurveKeyFile.write(pair, base: path("ours"))
        let script = """
            import sys, zmq.auth
            pub, sec = zmq.auth.load_certificate(sys.argv[1])
            print(pub.decode(), sec.decode())
            zmq.auth.create_certificates(sys.argv[2], "theirs")
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, files.secretFile, dir]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "python3 with pyzmq is needed (Scripts/install-deps.sh)")
        XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), "\(pair.publicKey.z85) \(pair.secretKey.z85)")
        let theirs = try CurveKeyFile.readKeyPair(path("theirs.key_secret"))
        XCTAssertEqual(try CurveKeyFile.readPublicKey(path("theirs.key")), theirs.publicKey)
    }
}
