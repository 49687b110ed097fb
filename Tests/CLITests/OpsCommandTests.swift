import Foundation
import XCTest

/// The operator's commands as a container or a person runs them: `status` against a real
/// coordinator and worker, `keygen`, options from the environment, `--version`, log settings.
final class OpsCommandTests: XCTestCase {
    var dir = ""
    var started: [Process] = []

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for p in started.reversed() where p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    /// Runs the executable to its end: (status, stdout, stderr).
    @discardableResult
    func run(_ args: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.executable)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Starts a long-running command; its stdout is collected, its stderr goes to `stderrFile`.
    func start(_ args: [String], stderrFile: String? = nil) throws -> (Process, Output) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.executable)
        p.arguments = args
        let out = Pipe(), output = Output()
        p.standardOutput = out
        out.fileHandleForReading.readabilityHandler = { h in output.append(h.availableData) }
        if let stderrFile {
            _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
            p.standardError = FileHandle(forWritingAtPath: stderrFile)
        }
        try p.run()
        started.append(p)
        return (p, output)
    }

    /// What a started process printed so far.
    final class Output: @unchecked Sendable {
        private var text = ""
        private let lock = NSLock()

        func append(_ d: Data) {
            lock.lock(); text += String(decoding: d, as: UTF8.self); lock.unlock()
        }

        /// The rest of the first line starting with `prefix`, waiting up to 15 s for it.
        func line(prefix: String) -> String? {
            let end = Date().addingTimeInterval(15)
            while Date() < end {
                lock.lock()
                let l = text.split(separator: "\n").first { $0.hasPrefix(prefix) }
                lock.unlock()
                if let l { return String(l.dropFirst(prefix.count)) }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return nil
        }
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func testStatusFollowsTheCoordinatorAndItsWorkers() throws {
        // Nothing listens: no answer, exit 3.
        let (s0, o0, _) = try run(["status", "--connect", "tcp://127.0.0.1:9", "--timeout-ms", "300", "--json"])
        XCTAssertEqual(s0, 3)
        let why = try XCTUnwrap(json(o0)["error"] as? String)
        XCTAssertTrue(why.hasPrefix("no answer within 300 ms; never connected ("), why)
        XCTAssertTrue(why.hasSuffix("failed attempts: is a coordinator listening there, and does its name resolve from here?)"), why)

        let log = path("coordinator.log")
        let (coordinator, out) = try start(["coordinator", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*", "--log-format", "json"],
                                           stderrFile: log)
        let frontend = try XCTUnwrap(out.line(prefix: "frontend "))
        let backend = try XCTUnwrap(out.line(prefix: "backend "))
        // Stopped: the kernel takes the connection, no handshake follows, and that is what it says.
        kill(coordinator.processIdentifier, SIGSTOP)
        let (sStopped, oStopped, _) = try run(["status", "--connect", frontend, "--timeout-ms", "300", "--json"])
        kill(coordinator.processIdentifier, SIGCONT)
        XCTAssertEqual(sStopped, 3)
        XCTAssertEqual(try json(oStopped)["error"] as? String, "no answer within 300 ms; never connected (its port takes connections, but no "
                       + "ZeroMQ handshake finished: not a coordinator's frontend, a coordinator that is stopped, or a proxy with nothing behind it)")
        // Up, no worker: not ready (exit 1), unless no worker is needed.
        let (s1, o1, _) = try run(["status", "--connect", frontend])
        XCTAssertEqual(s1, 1, o1)
        XCTAssertTrue(o1.contains("ready               no"), o1)
        XCTAssertTrue(o1.contains("workers             0"), o1)
        XCTAssertEqual(try run(["status", "--connect", frontend, "--min-workers", "0"]).0, 0)

        let (worker, _) = try start(["worker", "--connect", backend, "--name", "w1"])
        var ready: (Int32, String, String) = (-1, "", "")
        for _ in 0..<50 {
            // The endpoint and the JSON flag from the environment.
            ready = try run(["status"], environment: ["SCRIPT_CLUSTER_STATUS_CONNECT": frontend, "SCRIPT_CLUSTER_STATUS_JSON": "1"])
            if ready.0 == 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(ready.0, 0, ready.1 + ready.2)
        let doc = try json(ready.1)
        XCTAssertEqual(doc["ready"] as? Bool, true)
        XCTAssertEqual(doc["workers"] as? Int, 1)
        XCTAssertEqual(doc["target"] as? String, frontend)
        XCTAssertEqual(doc["served"] as? Int, 0)

        // The worker leaves: not ready again.
        worker.terminate()
        worker.waitUntilExit()
        var after: Int32 = -1
        for _ in 0..<50 {
            after = try run(["status", "--connect", frontend]).0
            if after == 1 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(after, 1)
        // The coordinator logged one JSON object a line.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        for l in lines {
            let obj = try json(String(l))
            XCTAssertEqual(obj["logger"] as? String, "coordinator", String(l))
            XCTAssertNotNil(obj["msg"] as? String)
        }
    }

    /// A coordinator whose standard output is a full disk, and a worker started with it closed,
    /// say so once on standard error and serve on (they crashed); the worker's first file or socket
    /// does not take descriptor 1, so its `data` line goes nowhere instead of into a socket.
    func testServingRolesWhoseOutputCannotBeWrittenServeOn() throws {
        let frontend = "ipc://" + path("fe"), backend = "ipc://" + path("be")
        let shell = { (args: [String], redirection: String) throws -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "exec \"$0\" \"$@\" \(redirection)", CLITests.executable] + args
            try p.run()
            self.started.append(p)
            return p
        }
        _ = try shell(["coordinator", "--frontend", frontend, "--backend", backend], ">/dev/full 2>'\(path("c.log"))'")
        _ = try shell(["worker", "--connect", backend, "--data-bind", "ipc://" + path("data"), "--name", "w1"], ">&- 2>'\(path("w.log"))'")
        var ready: (Int32, String, String) = (-1, "", "")
        for _ in 0..<100 {
            ready = try run(["status", "--connect", frontend])
            if ready.0 == 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(ready.0, 0, ready.1 + ready.2)
        XCTAssertTrue(ready.1.contains("workers             1"), ready.1)
        let lost = ": the lines this process prints there (where it serves) are lost; serving on"
        for (log, reason) in [("c.log", "No space left on device"), ("w.log", "Bad file descriptor")] {
            let text = try String(contentsOfFile: path(log), encoding: .utf8)
            let warnings = text.split(separator: "\n").filter { $0.hasPrefix("warning: standard output") }
            XCTAssertEqual(warnings, ["warning: standard output cannot be written: \(reason)" + lost], text)
            XCTAssertFalse(text.contains("Fatal error"), text)
        }
    }

    /// `up` whose standard output is a pipe its reader closed after the first line (`| head -1`,
    /// a `tee` or a log collector that went away): its next line fails, it says so once on
    /// standard error and serves on, children included, and stops with 0 on SIGTERM (SIGPIPE
    /// ended it without a word, its cluster with it).
    func testUpWhoseOutputReaderWentAwayServesOn() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.executable)
        p.arguments = ["up", "--workers", "1", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"]
        let out = Pipe()
        p.standardOutput = out
        XCTAssertTrue(FileManager.default.createFile(atPath: path("up.log"), contents: nil))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: path("up.log")))
        try p.run()
        started.append(p)
        var first = Data()
        while !first.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            XCTAssertFalse(chunk.isEmpty, "up ended before its first line")
            if chunk.isEmpty { return }
            first += chunk
        }
        try out.fileHandleForReading.close()
        let line = String(decoding: first, as: UTF8.self)
        let frontend = String(try XCTUnwrap(line.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("tcp://") }))
        var ready: (Int32, String, String) = (-1, "", "")
        for _ in 0..<100 where ready.0 != 0 {
            ready = try run(["status", "--connect", frontend, "--min-workers", "1", "--timeout-ms", "500"])
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(ready.0, 0, ready.1 + ready.2)
        let log = { (try? String(contentsOfFile: self.path("up.log"), encoding: .utf8)) ?? "" }
        for _ in 0..<50 where !log().contains("warning: standard output cannot be written: Broken pipe") {
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertTrue(p.isRunning, log())
        XCTAssertTrue(log().contains("warning: standard output cannot be written: Broken pipe"), log())
        XCTAssertEqual(try run(["status", "--connect", frontend, "--min-workers", "1", "--timeout-ms", "2000"]).0, 0, log())
        p.terminate()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, log())
        XCTAssertEqual(p.terminationStatus, 0, log())
    }

    /// A worker's name reaches logs and clients: one with a control character or over 128
    /// bytes is refused at the command line, in one line showing it escaped.
    func testAWorkerNameThatWouldBreakLogLinesIsRefused() throws {
        for (name, problem) in [("w\n2026-01-01 critical forged", "must hold no control characters"),
                                (String(repeating: "w", count: 129), "must be 1 to 128 bytes, not 129")] {
            let (status, out, err) = try run(["worker", "--name", name])
            XCTAssertEqual(status, 2, out + err)
            XCTAssertTrue(err.hasPrefix("Error: --name "), err)
            XCTAssertTrue(err.contains(problem), err)
            XCTAssertFalse(err.contains("\n2026"), "the value shown escaped: \(err)")
        }
    }

    /// Whether `pid` has exited (gone, or a zombie nobody reaped) within `timeout` seconds.
    private func exits(_ pid: pid_t, timeout: Double = 10) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
            if stat.split(separator: ")").last?.split(separator: " ").first == "Z" { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// Polls `status` at `frontend` until the coordinator answers ready (no worker needed).
    private func answers(_ frontend: String) throws -> Bool {
        for _ in 0..<100 {
            if try run(["status", "--connect", frontend, "--min-workers", "0", "--timeout-ms", "500"]).0 == 0 { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// A child of `up` stops (drains, exits) once `up` is gone, even killed with SIGKILL (it went
    /// on holding its ports, and the next `up` could not bind them); SIGHUP (a closed terminal)
    /// stops a server as SIGTERM does (it died without a word), unless the server was started
    /// with SIGHUP ignored, as `nohup` starts it.
    func testServersStopWhenTheirParentDiesOrTheirTerminalCloses() throws {
        let coordinator = { (name: String) in ["coordinator", "--frontend", "ipc://" + self.path(name + "-fe"), "--backend", "ipc://" + self.path(name + "-be")] }
        let shell = { (script: String, args: [String]) throws -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", script, CLITests.executable] + args
            try p.run()
            self.started.append(p)
            return p
        }
        // Orphaned: the shell that started it (as `up` starts its children) is killed.
        let log = path("orphan.log")
        let parent = try shell("SCRIPT_CLUSTER_PARENT_PID=$$ \"$0\" \"$@\" 2>'\(log)' & echo $! > '\(path("pid"))'; wait", coordinator("orphan"))
        XCTAssertTrue(try answers("ipc://" + path("orphan-fe")))
        let child = try XCTUnwrap(pid_t(String(contentsOfFile: path("pid"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Foundation's waitUntilExit would wait for the orphan too (it inherits the descriptor
        // Foundation watches): a failing run must end, and leave no process behind.
        defer { kill(child, SIGKILL) }
        kill(parent.processIdentifier, SIGKILL)
        XCTAssertTrue(exits(parent.processIdentifier))
        XCTAssertTrue(exits(child), "the orphan still runs")
        let said = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(said.contains("warning: the process that started this one (script-cluster up, pid \(parent.processIdentifier)) is gone: stopping"), said)
        XCTAssertTrue(said.contains("coordinator stopped"), said)

        // SIGHUP: drains and exits 0, as on SIGTERM.
        let hung = try shell("exec \"$0\" \"$@\" 2>/dev/null", coordinator("hup"))
        XCTAssertTrue(try answers("ipc://" + path("hup-fe")))
        kill(hung.processIdentifier, SIGHUP)
        XCTAssertTrue(exits(hung.processIdentifier))
        hung.waitUntilExit()
        XCTAssertEqual(hung.terminationReason, .exit)
        XCTAssertEqual(hung.terminationStatus, 0)

        // Started with SIGHUP ignored: serves on through it.
        let nohup = try shell("trap '' HUP; exec \"$0\" \"$@\" 2>/dev/null", coordinator("nohup"))
        XCTAssertTrue(try answers("ipc://" + path("nohup-fe")))
        kill(nohup.processIdentifier, SIGHUP)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertTrue(try answers("ipc://" + path("nohup-fe")), "SIGHUP stopped a process started with it ignored")
        XCTAssertTrue(nohup.isRunning)
    }

    func testStatusOfAProbeURLThatNobodyServes() throws {
        let (s, o, _) = try run(["status", "--url", "http://127.0.0.1:9/readyz", "--timeout-ms", "1000"])
        XCTAssertEqual(s, 3)
        XCTAssertTrue(o.contains("error") && o.contains("http://127.0.0.1:9/readyz"), o)
        XCTAssertTrue(o.contains("connection refused or closed (is a metrics port served there?)"), o)
        // Not a URL it could ask: bad input (it was 'not ready', exit 3).
        for bad in ["ftp://x", "foo", "http://h:port/readyz"] {
            let (status, _, e) = try run(["status", "--url", bad])
            XCTAssertEqual(status, 2, bad)
            XCTAssertTrue(e.contains("--url \(bad): must be an http://HOST:PORT/PATH URL"), e)
        }
    }

    func testKeygenWritesAPairAndNeverOverwrites() throws {
        let (s, o, e) = try run(["keygen", "--out", path("coordinator")])
        XCTAssertEqual(s, 0, e)
        XCTAssertTrue(o.hasPrefix("wrote \(path("coordinator")).key (public key "), o)
        let secret = try String(contentsOfFile: path("coordinator.key_secret"), encoding: .utf8)
        XCTAssertTrue(secret.contains("secret-key = \""))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path("coordinator.key_secret"))[.posixPermissions] as? Int, 0o600)
        let (s2, _, e2) = try run(["keygen", "--out", path("coordinator")])
        XCTAssertEqual(s2, 2)
        XCTAssertTrue(e2.contains("exists"), e2)
        XCTAssertEqual(try String(contentsOfFile: path("coordinator.key_secret"), encoding: .utf8), secret)
        let (s3, _, e3) = try run(["keygen", "--out", path("no/such/dir/k")])
        XCTAssertEqual(s3, 2)
        XCTAssertTrue(e3.contains("cannot write"), e3)
    }

    func testEnvironmentVariablesAreListedAndChecked() throws {
        let (s, help, _) = try run(["coordinator", "--help"])
        XCTAssertEqual(s, 0)
        for v in ["SCRIPT_CLUSTER_COORDINATOR_FRONTEND", "SCRIPT_CLUSTER_COORDINATOR_MAX_MESSAGE_BYTES", "SCRIPT_CLUSTER_COORDINATOR_LOG_FORMAT"] {
            XCTAssertTrue(help.contains(v), v)
        }
        XCTAssertTrue(try run(["help", "worker"]).1.contains("SCRIPT_CLUSTER_WORKER_CONNECT"))
        XCTAssertTrue(try run(["--help"]).1.contains("SCRIPT_CLUSTER_<COMMAND>_<OPTION>"))
        // A flag's variable must say on or off; an unknown variable is a warning.
        let (s2, _, e2) = try run(["status", "--connect", "tcp://127.0.0.1:9", "--timeout-ms", "100"],
                                  environment: ["SCRIPT_CLUSTER_STATUS_JSON": "maybe"])
        XCTAssertEqual(s2, 2)
        XCTAssertTrue(e2.contains("SCRIPT_CLUSTER_STATUS_JSON='maybe'"), e2)
        let (_, _, e3) = try run(["status", "--connect", "tcp://127.0.0.1:9", "--timeout-ms", "100"],
                                 environment: ["SCRIPT_CLUSTER_STATUS_CONECT": "x"])
        XCTAssertTrue(e3.contains("warning: environment variable SCRIPT_CLUSTER_STATUS_CONECT sets no option"), e3)
        // The thread count's variable: bad input (it was an internal error, and 99999 a crash);
        // empty is unset.
        try run(["sample", "--kind", "image", "--small", "--out", path("s")])
        let prune = ["prune", "--features", path("s/features.npy"), "--budget", "4"]
        for bad in ["abc", "0", "99999"] {
            let (s4, o4, e4) = try run(prune, environment: ["SCRIPT_CLUSTER_THREADS": bad])
            XCTAssertEqual(s4, 2, e4)
            XCTAssertEqual(e4, "Error: SCRIPT_CLUSTER_THREADS \(bad): must be a whole number from 1 to 1024\n")
            XCTAssertEqual(o4, "")
        }
        let (s5, o5, e5) = try run(prune, environment: ["SCRIPT_CLUSTER_THREADS": ""])
        XCTAssertEqual(s5, 0, e5)
        XCTAssertTrue(o5.contains("\"indices\""), o5)
    }

    func testVersionAndLogSettingsAreValidated() throws {
        let (s, o, _) = try run(["--version"])
        XCTAssertEqual(s, 0)
        XCTAssertNotNil(o.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression), o)
        let (s1, _, e1) = try run(["worker", "--log-level", "verbose"])
        XCTAssertNotEqual(s1, 0)
        XCTAssertTrue(e1.contains("unknown log level 'verbose' (accepted: trace, debug, info, notice, warning, error, critical)"), e1)
        let (s2, _, e2) = try run(["coordinator"], environment: ["SCRIPT_CLUSTER_COORDINATOR_LOG_FORMAT": "xml"])
        XCTAssertNotEqual(s2, 0)
        XCTAssertTrue(e2.contains("unknown log format 'xml' (accepted: text, json)"), e2)
    }

    /// Every option of the operator's commands has a help line, and no default that depends on
    /// the machine is printed as this machine's value.
    func testEveryOptionOfTheOperatorsCommandsHasAHelpLine() throws {
        let (s, dump, _) = try run(["--experimental-dump-help"])
        XCTAssertEqual(s, 0)
        let root = try json(dump)
        let commands = try XCTUnwrap((root["command"] as? [String: Any])?["subcommands"] as? [[String: Any]])
        var checked = 0
        for command in commands {
            let name = command["commandName"] as? String ?? ""
            guard ["coordinator", "worker", "up", "status", "keygen"].contains(name) else { continue }
            checked += 1
            for argument in command["arguments"] as? [[String: Any]] ?? [] {
                let flag = ((argument["names"] as? [[String: Any]])?.first?["name"] as? String) ?? "?"
                XCTAssertFalse((argument["abstract"] as? String ?? "").isEmpty, "\(name) --\(flag) has no help line")
                if ["workers", "threads"].contains(flag), let value = argument["defaultValue"] as? String {
                    XCTAssertNotEqual(value, "\(ProcessInfo.processInfo.activeProcessorCount)", "\(name) --\(flag) prints this machine's cores")
                }
            }
        }
        XCTAssertEqual(checked, 5)
    }
}
