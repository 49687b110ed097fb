import Foundation
import Logging
import XCTest
@testable import ScriptOps
import ScriptService

/// The operations port over real HTTP on loopback: metrics through swift-metrics and
/// swift-prometheus, probes from `HealthState`.
final class OpsServerTests: XCTestCase {
    static let exporter = PrometheusExporter.bootstrap(role: "coordinator")
    let logger = Logger(label: "ops-test")

    func start(_ health: HealthState) throws -> OpsServer {
        try OpsServer.start(host: "127.0.0.1", port: 0, health: health, exporter: Self.exporter, logger: logger)
    }

    /// A server whose log lines, from debug up, are kept.
    func startLogging() throws -> (OpsServer, LogLines) {
        let lines = LogLines()
        var logger = Logger(label: "ops-logged") { _ in lines }
        logger.logLevel = .debug
        return (try OpsServer.start(host: "127.0.0.1", port: 0, health: HealthState(), exporter: Self.exporter, logger: logger), lines)
    }

    /// The value of the sample `series` (name with its labels, as exported), or nil.
    func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    func scrape(_ server: OpsServer) throws -> String {
        let r = try HTTPProbe.get(server.url + "/metrics")
        XCTAssertEqual(r.status, 200)
        return r.body
    }

    /// A peer that resets its connection, or sends what is not HTTP, is the peer's business:
    /// never a warning (a load balancer's TCP checks, or scrapes that time out, wrote one
    /// warning each); the server serves on.
    func testPeersThatDropTheirConnectionsAreNotWarnedAbout() throws {
        let (server, lines) = try startLogging()
        defer { server.stop() }
        for request in Array(repeating: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", count: 5) + ["\u{16}\u{3}\u{1}hello\r\n\r\n"] {
            let fd = try connection(to: server)
            write(request, to: fd)
            var reset = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
            close(fd)
        }
        XCTAssertEqual(try HTTPProbe.get(server.url + "/livez").status, 200)
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(lines.at(.warning), [])
    }

    /// A connection that sends nothing for the idle time is closed by the server: one that never
    /// sent, one that sent half a request, one kept alive after its answer. One that keeps asking
    /// is served throughout, and the port, quiet for longer than that, still takes connections.
    func testConnectionsThatSendNothingAreClosed() throws {
        let idle = Duration.milliseconds(400)
        let server = try OpsServer.start(host: "127.0.0.1", port: 0, health: HealthState(), exporter: Self.exporter, idle: idle, logger: logger)
        defer { server.stop() }
        let silent = try connection(to: server), half = try connection(to: server), kept = try connection(to: server)
        let talking = try connection(to: server)
        defer { [silent, half, kept, talking].forEach { close($0) } }
        write("GET /livez HTTP/1.1\r\nHo", to: half)
        XCTAssertTrue(try exchange("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", on: kept).hasPrefix("HTTP/1.1 200"))
        let quiet = ContinuousClock.now
        for _ in 0..<6 {
            XCTAssertTrue(try exchange("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", on: talking).hasPrefix("HTTP/1.1 200"))
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTAssertGreaterThan(ContinuousClock.now - quiet, idle * 2)
        for (name, fd) in [("silent", silent), ("half a request", half), ("kept alive", kept)] {
            XCTAssertEqual(try read(fd, within: .seconds(3)), "", "\(name): closed by the server, nothing sent")
        }
        XCTAssertEqual(try HTTPProbe.get(server.url + "/livez").status, 200)
    }

    /// What the port answers on the wire: keep-alive and pipelined requests on one connection,
    /// HEAD without a body, `Connection: close` and HTTP/1.0 honoured, and each request it does
    /// not serve answered with its status and reason, then closed, while other connections are
    /// served on.
    func testTheWireAnswers() throws {
        let (server, lines) = try startLogging()
        defer { server.stop() }
        let kept = try connection(to: server)
        defer { close(kept) }
        let get = try exchange("GET /livez?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n", on: kept)
        XCTAssertEqual(get, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nlive\n")
        write("HEAD /livez HTTP/1.1\r\nHost: x\r\n\r\n", to: kept)
        let head = try read(kept, within: .seconds(3))
        XCTAssertTrue(head.hasSuffix("Content-Length: 5\r\n\r\n"), head)
        let post = try exchange("POST /livez HTTP/1.1\r\nContent-Length: 0\r\n\r\n", on: kept)
        XCTAssertTrue(post.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n") && post.contains("\r\nAllow: GET, HEAD\r\n"), post)
        // Two requests in one write, each answered in turn; the second asks to close.
        write("GET /livez HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\nConnection: close\r\n\r\n", to: kept)
        var both = ""
        while case let more = try read(kept, within: .seconds(3)), !more.isEmpty { both += more }
        XCTAssertTrue(both.hasPrefix("HTTP/1.1 200 OK\r\n") && both.contains("live\nHTTP/1.1 404 Not Found\r\n"), both)
        XCTAssertTrue(both.contains("\r\nConnection: close\r\n"), both)

        let refused: [(String, String)] = [
            ("GET /livez HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK"),  // 1.0: closed after its answer
            ("\u{16}\u{3}\u{1}hello\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            ("GET /livez HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"),
            ("GET /livez HTTP/1.1\r\nno colon here\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            ("POST /livez HTTP/1.1\r\nContent-Length: 12\r\n\r\n", "HTTP/1.1 413 Content Too Large"),
            ("POST /livez HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 413 Content Too Large"),
            ("GET /livez HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: 9000), "HTTP/1.1 431 Request Header Fields Too Large"),
        ]
        for (request, status) in refused {
            let fd = try connection(to: server)
            defer { close(fd) }
            write(request, to: fd)
            var answer = ""
            while case let more = try read(fd, within: .seconds(3)), !more.isEmpty { answer += more }
            XCTAssertTrue(answer.hasPrefix(status + "\r\n"), "\(request.prefix(40)): \(answer)")
            XCTAssertTrue(answer.contains("\r\nConnection: close\r\n"), answer)
        }
        XCTAssertEqual(try HTTPProbe.get(server.url + "/livez").status, 200)
        XCTAssertEqual(lines.at(.warning), [], "the peer's doing: said at debug")
        let said = lines.at(.debug).filter { $0.hasPrefix("metrics port connection from 127.0.0.1:") }
        XCTAssertTrue(said.contains { $0.hasSuffix(#" error: not an HTTP/1.1 request: "\u{16}\u{03}\u{01}hello""#) }, "\(said)")
    }

    /// A TCP connection to `server`'s port.
    func connection(to server: OpsServer) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(server.port).bigEndian
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        return fd
    }

    func write(_ text: String, to fd: Int32) {
        _ = text.utf8CString.withUnsafeBytes { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    }

    /// What arrives on `fd` in one read, waiting at most `limit` ("" once the peer closed).
    func read(_ fd: Int32, within limit: Duration) throws -> String {
        var wait = timeval(tv_sec: Int(limit.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// Sends `request` on `fd` and returns the answer's head and body (the whole of it: its
    /// Content-Length is read).
    func exchange(_ request: String, on fd: Int32) throws -> String {
        write(request, to: fd)
        var text = ""
        while true {
            let more = try read(fd, within: .seconds(3))
            guard !more.isEmpty else { return text }
            text += more
            guard let head = text.range(of: "\r\n\r\n") else { continue }
            let length = text[..<head.lowerBound].split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if text.utf8.count - text[..<head.upperBound].utf8.count >= length { return text }
        }
    }

    func testProbesFollowHealthState() throws {
        let health = HealthState(stallLimit: .milliseconds(300))
        let server = try start(health)
        defer { server.stop() }
        XCTAssertEqual(try HTTPProbe.get(server.url + "/livez"), .init(status: 200, body: "live\n"))
        XCTAssertEqual(try HTTPProbe.get(server.url + "/readyz"), .init(status: 503, body: "not ready: starting\n"))
        health.setReady(true, reason: "2 workers")
        XCTAssertEqual(try HTTPProbe.get(server.url + "/readyz"), .init(status: 200, body: "ready: 2 workers\n"))
        health.setReady(false, reason: "no worker")
        XCTAssertEqual(try HTTPProbe.get(server.url + "/readyz").status, 503)
        // A loop that stops beating is reported dead; one beat revives it.
        Thread.sleep(forTimeInterval: 0.4)
        let dead = try HTTPProbe.get(server.url + "/livez")
        XCTAssertEqual(dead.status, 503)
        XCTAssertTrue(dead.body.hasPrefix("stalled"), dead.body)
        health.beat()
        XCTAssertEqual(try HTTPProbe.get(server.url + "/livez").status, 200)
        XCTAssertEqual(try HTTPProbe.get(server.url + "/nope").status, 404)
        XCTAssertEqual(try HTTPProbe.get(server.url + "/workers").status, 404, "no roster: a worker's port")
    }

    /// A coordinator's port serves its roster as JSON, as last published.
    func testWorkersServesTheRosterAsPublished() throws {
        let roster = WorkerRoster()
        let server = try OpsServer.start(host: "127.0.0.1", port: 0, health: HealthState(), exporter: Self.exporter, roster: roster, logger: logger)
        defer { server.stop() }
        XCTAssertEqual(try HTTPProbe.get(server.url + "/workers"), .init(status: 200, body: #"{"workers":[]}"#))
        let entries = [WorkerRoster.Entry(name: "big", credit: 2, threads: 4, jobs: 1, memoryBytes: 64 << 30, bytesHeld: 5 << 20, data: "tcp://10.0.0.7:5557",
                                          blas: "OpenBLAS, kernel Haswell", bf16: "oneDNN 2.6.3, kernel brg:avx512_core_amx", silent: false,
                                          straggling: true),
                       WorkerRoster.Entry(name: "old", credit: 0, threads: 1, jobs: 0, memoryBytes: nil, data: nil, blas: nil,
                                          silent: true, straggling: false)]
        roster.publish(entries)
        let r = try HTTPProbe.get(server.url + "/workers")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains(#""memory_bytes":68719476736"#) && r.body.contains(#""bytes_held":5242880"#), r.body)
        XCTAssertTrue(r.body.contains(#""bf16":"oneDNN 2.6.3, kernel brg:avx512_core_amx""#), r.body)
        XCTAssertEqual(try JSONDecoder().decode([String: [WorkerRoster.Entry]].self, from: Data(r.body.utf8)), ["workers": entries])
        XCTAssertTrue(try HTTPProbe.get(server.url + "/nope").body.contains("/workers"))
    }

    func testMetricsMoveWithTheEmittersAndCarryTypesAndHelp() throws {
        let server = try start(HealthState())
        defer { server.stop() }
        let before = try scrape(server)
        let ok = #"script_cluster_requests_total{outcome="ok",code="none"}"#
        let busy = #"script_cluster_requests_total{outcome="overloaded",code="busy"}"#
        let okCount = #"script_cluster_request_duration_seconds_count{outcome="ok"}"#

        ClusterMetrics.requestFinished(.served(id: "a", tokensIn: 2880, tokensKept: 320, shards: 5, workers: 2, duration: .milliseconds(40)))
        ClusterMetrics.requestFinished(.served(id: "b", tokensIn: 576, tokensKept: 64, shards: 1, workers: 1, duration: .milliseconds(8)))
        ClusterMetrics.requestFinished(.failed(id: "c", code: "busy", tokensIn: 576, shards: 0, workers: 0, duration: .microseconds(90)))
        ClusterMetrics.jobAnswered(.shard, roundTrip: .milliseconds(11))
        ClusterMetrics.queueDepth(7)
        ClusterMetrics.requestsInFlight(3)
        ClusterMetrics.workersAlive(2)
        ClusterMetrics.workerDeparted(.silent)
        ClusterMetrics.jobsRequeued(2, reason: .workerLost)
        ClusterMetrics.jobsRequeued(3, reason: .dataUnreachable)
        ClusterMetrics.hedge(.sent)
        ClusterMetrics.hedge(.sent)
        ClusterMetrics.hedge(.won)
        ClusterMetrics.workersSilent(1)
        ClusterMetrics.received(bytes: 1000, from: .client)
        ClusterMetrics.sent(bytes: 10, to: .worker)
        ClusterMetrics.connection(.refused, on: .frontend)
        ClusterMetrics.replyDropped(.clientNotReading)
        ClusterMetrics.workerJobFinished(.shard, tokens: 576, wall: .milliseconds(10), cpu: .milliseconds(9))
        ClusterMetrics.workerJobFinished(.shard, code: "bad_tensor", tokens: 0, wall: .microseconds(5), cpu: .microseconds(5))
        ClusterMetrics.workerJobsHeld(1)
        ClusterMetrics.workerBytesHeld(4096)
        ClusterMetrics.workerSharedBytes(1024)
        ClusterMetrics.workerRegistered(true)
        ClusterMetrics.workerReconnected()

        let after = try scrape(server)
        let delta = { (series: String) in (self.value(after, series) ?? .nan) - (self.value(before, series) ?? 0) }
        XCTAssertEqual(delta(ok), 2)
        XCTAssertEqual(delta(busy), 1)
        XCTAssertEqual(delta(okCount), 2)
        XCTAssertEqual(delta("script_cluster_tokens_in_total"), 2880 + 576)
        XCTAssertEqual(delta("script_cluster_tokens_kept_total"), 384)
        XCTAssertEqual(delta(#"script_cluster_request_duration_seconds_bucket{outcome="ok",le="0.01"}"#), 1)
        XCTAssertEqual(delta(#"script_cluster_request_duration_seconds_bucket{outcome="ok",le="0.05"}"#), 2)
        XCTAssertEqual(value(after, "script_cluster_queue_depth"), 7)
        XCTAssertEqual(value(after, "script_cluster_requests_in_flight"), 3)
        XCTAssertEqual(value(after, "script_cluster_workers"), 2)
        XCTAssertEqual(value(after, "script_cluster_workers_silent"), 1)
        XCTAssertEqual(delta(#"script_cluster_jobs_requeued_total{reason="worker_lost"}"#), 2)
        XCTAssertEqual(delta(#"script_cluster_jobs_requeued_total{reason="data_unreachable"}"#), 3)
        XCTAssertEqual(delta(#"script_cluster_shard_hedges_total{outcome="sent"}"#), 2)
        XCTAssertEqual(delta(#"script_cluster_shard_hedges_total{outcome="won"}"#), 1)
        XCTAssertEqual(delta(#"script_cluster_bytes_received_total{peer="client"}"#), 1000)
        XCTAssertEqual(delta(#"script_cluster_connections_total{socket="frontend",event="refused"}"#), 1)
        XCTAssertEqual(delta(#"script_cluster_replies_dropped_total{reason="client_not_reading"}"#), 1)
        XCTAssertEqual(delta(#"script_cluster_worker_jobs_total{kind="shard",outcome="error",code="bad_tensor"}"#), 1)
        XCTAssertEqual(delta(#"script_cluster_worker_cpu_seconds_total{kind="shard"}"#), 0.009005, accuracy: 1e-9)
        XCTAssertEqual(value(after, "script_cluster_worker_registered"), 1)
        XCTAssertEqual(value(after, "script_cluster_worker_bytes_held"), 4096)
        XCTAssertEqual(delta("script_cluster_worker_shared_bytes_total"), 1024)
        XCTAssertEqual(value(after, #"script_cluster_build_info{version="\#(BuildInfo.version)",role="coordinator"}"#), 1)
        XCTAssertGreaterThan(value(after, "process_cpu_seconds_total") ?? 0, 0)
        XCTAssertGreaterThan(value(after, "process_resident_memory_bytes") ?? 0, 1e6)
        XCTAssertGreaterThan(value(after, "process_start_time_seconds") ?? 0, 1.7e9)
        // Every metric of the catalogue is there, with its type and help text.
        for m in ClusterMetrics.all {
            XCTAssertTrue(after.contains("# TYPE \(m.name) \(m.kind.typeName)\n"), "TYPE of \(m.name)")
            XCTAssertTrue(after.contains("# HELP \(m.name) \(m.help)\n"), "HELP of \(m.name)")
        }
    }

    /// Another HTTP client than ours (Python's) reads the port as Prometheus would.
    func testAStandardClientScrapes() throws {
        let server = try start(HealthState())
        defer { server.stop() }
        let script = """
            import sys, urllib.request
            r = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=5)
            body = r.read().decode()
            print(r.status, r.headers["Content-Type"], "# TYPE process_cpu_seconds_total counter" in body)
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, server.url]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(text, "200 text/plain; version=0.0.4; charset=utf-8 True\n")
    }

    func testPortInUseAndBadAddressesAreClearErrors() throws {
        let first = try start(HealthState())
        defer { first.stop() }
        XCTAssertThrowsError(try OpsServer.start(host: "127.0.0.1", port: first.port, health: HealthState(), exporter: nil, logger: logger)) {
            XCTAssertEqual($0 as? OpsServerError, .cannotListen(host: "127.0.0.1", port: first.port, reason: "the port is in use"))
        }
        XCTAssertThrowsError(try OpsServer.start(host: "metrics.local", port: 0, health: HealthState(), exporter: nil, logger: logger)) {
            XCTAssertEqual($0 as? OpsServerError, .badAddress("metrics.local"))
        }
        XCTAssertThrowsError(try OpsServer.start(port: 70_000, health: HealthState(), exporter: nil, logger: logger))
    }

    func testProbeURLsAndUnreachablePorts() throws {
        XCTAssertEqual(try HTTPProbe.parse("http://127.0.0.1:9090/readyz").port, 9090)
        XCTAssertEqual(try HTTPProbe.parse("http://[::1]:80").path, "/")
        XCTAssertEqual(try HTTPProbe.parse("http://worker/livez").port, 80)
        XCTAssertThrowsError(try HTTPProbe.parse("https://a/b"))
        XCTAssertThrowsError(try HTTPProbe.parse("http://a:port/b"))
        let server = try start(HealthState())
        let url = server.url + "/livez"
        server.stop()
        XCTAssertThrowsError(try HTTPProbe.get(url, timeout: .seconds(2))) {
            guard case .unreachable(let u, _)? = $0 as? HTTPProbeError else { return XCTFail("\($0)") }
            XCTAssertEqual(u, url)
        }
    }

    /// A port that answers what is not HTTP (an SSH server's banner) is no answer, saying so.
    func testAnAnswerThatIsNotHTTPIsUnreachable() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &addr) { a in
            try a.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                guard bind(fd, $0, size) == 0, listen(fd, 4) == 0, getsockname(fd, $0, &size) == 0 else { throw POSIXError(.EADDRINUSE) }
            }
        }
        let banner = Thread {
            let peer = accept(fd, nil, nil)
            var request = [UInt8](repeating: 0, count: 4096)
            _ = recv(peer, &request, request.count, 0)
            _ = send(peer, "SSH-2.0-x\r\n", 11, Int32(MSG_NOSIGNAL))
            close(peer)
        }
        banner.start()
        let url = "http://127.0.0.1:\(UInt16(bigEndian: addr.sin_port))/metrics"
        XCTAssertThrowsError(try HTTPProbe.get(url, timeout: .seconds(3))) {
            XCTAssertEqual($0 as? HTTPProbeError, .unreachable(url, reason: "not an HTTP answer (11 bytes)"))
        }
    }

    /// A probe's timeout holds its name's resolution too: a name server gone makes getaddrinfo
    /// wait for its own timeouts (5 s a try by default), which a healthcheck would wait out.
    func testAResolverThatHangsCostsTheProbeItsTimeoutOnly() throws {
        let server = try start(HealthState())
        defer { server.stop() }
        let port = try XCTUnwrap(server.url.split(separator: ":").last)
        let named = "http://metrics.example:\(port)/livez"
        let here = try HTTPProbe.get(named, timeout: .seconds(5)) { _, port, url throws(HTTPProbeError) in
            try HTTPProbe.resolve("127.0.0.1", port, url: url)
        }
        XCTAssertEqual(here.status, 200, "the resolver given resolves")
        let start = ContinuousClock.now
        XCTAssertThrowsError(try HTTPProbe.get(named, timeout: .milliseconds(300)) { _, port, url throws(HTTPProbeError) in
            sleep(3)
            return try HTTPProbe.resolve("127.0.0.1", port, url: url)
        }) {
            guard case .unreachable(_, let reason)? = $0 as? HTTPProbeError else { return XCTFail("\($0)") }
            XCTAssertEqual(reason, "no answer within 300 ms")
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1), "bounded by its timeout, not the resolver's")
    }
}

/// A log handler that keeps each line's message by level.
final class LogLines: LogHandler, @unchecked Sendable {
    // Sendable: `lines` is only touched under `lock`; `metadata` and `logLevel` are set before use.
    private let lock = NSLock()
    private var lines: [(Logger.Level, String)] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lock.lock(); lines.append((event.level, event.message.description)); lock.unlock()
    }

    /// The messages logged at `level` or above it.
    func at(_ level: Logger.Level) -> [String] {
        lock.lock(); defer { lock.unlock() }
        return lines.filter { $0.0 >= level }.map(\.1)
    }
}
