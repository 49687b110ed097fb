import Foundation
import Synchronization
import XCTest

/// Runs the `script-cluster` executable as a user does: arguments in; exit status, standard
/// output and standard error out; through pipes, or through a pseudo-terminal.
class CLITestCase: XCTestCase {
    /// What one run of the executable did.
    struct Outcome {
        let status: Int32
        let out: String
        let err: String
    }

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

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    /// Runs the executable with pipes for standard output and error (neither is a terminal).
    /// A run still going after `timeout` seconds is killed (SIGKILL), so a command that hangs
    /// fails its test instead of holding the suite.
    func run(_ args: [String], executable: String = CLITestCase.executable, timeout: Double = 300) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let pid = p.processIdentifier, ended = Mutex(false)
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            ended.withLock { done in if !done { kill(pid, SIGKILL) } }
        }
        // Read both while the child runs, so neither pipe fills and blocks it.
        let errData = Mutex(Data())
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let e = err.fileHandleForReading.readDataToEndOfFile()
            errData.withLock { $0 = e }
            done.signal()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        p.waitUntilExit()
        ended.withLock { $0 = true }
        return Outcome(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self),
                       err: String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }

    /// Runs the executable with its standard output redirected by the shell (`>/dev/full`,
    /// `>&-` for a closed descriptor); standard error as `run` has it.
    func run(_ args: [String], stdout redirection: String) throws -> Outcome {
        try run(args, shell: "exec \"$0\" \"$@\" \(redirection)")
    }

    /// Runs `script` in `/bin/sh`, where `"$0" "$@"` is the executable with `args`.
    func run(_ args: [String], shell script: String) throws -> Outcome {
        try run(["-c", script, Self.executable] + args, executable: "/bin/sh")
    }

    /// Runs the executable and fails the test unless it exits 0.
    @discardableResult
    func runOK(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Outcome {
        let o = try run(args)
        XCTAssertEqual(o.status, 0, "\(args.joined(separator: " ")) failed: \(o.err)", file: file, line: line)
        return o
    }

    /// Runs the executable on a pseudo-terminal (util-linux `script`): standard output and error
    /// are both the terminal, and what it showed comes back as one text (lines end in CR LF).
    func runInTerminal(_ args: [String], columns: Int = 120) throws -> (status: Int32, screen: String) {
        let script = "/usr/bin/script"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: script), "util-linux `script` is needed for the terminal tests")
        let quoted = ([Self.executable] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: script)
        p.arguments = ["-q", "-e", "-c", "stty cols \(columns) 2>/dev/null; exec " + quoted.joined(separator: " "), "/dev/null"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        var env = ProcessInfo.processInfo.environment
        env["TERM"] = "xterm"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self))
    }

    /// The bytes of a file the command must have written (a missing file fails the test rather
    /// than comparing equal to another missing one).
    func contents(_ file: String, file callerFile: StaticString = #filePath, line: UInt = #line) throws -> Data {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: file), "\(file) was not written", file: callerFile, line: line)
        XCTAssertFalse(data.isEmpty, "\(file) is empty", file: callerFile, line: line)
        return data
    }

    func json(_ file: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: try contents(file)) as? [String: Any], "\(file) is not a JSON object")
    }

    func indices(_ file: String) throws -> [Int] {
        try XCTUnwrap(try json(file)["indices"] as? [Int], "\(file) has no indices")
    }
}
