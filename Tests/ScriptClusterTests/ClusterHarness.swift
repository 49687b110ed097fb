import Foundation
import Synchronization
import XCTest
import ScriptClient
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptSynth
import ScriptTransport

/// A real `script-cluster` process for tests: started (optionally inside a network namespace),
/// its output read, signalled, waited for with a bound.
final class ClusterProcess: @unchecked Sendable {
    // Sendable: `text` and `errors` are only touched under `lock`; `process` is thread-safe.
    let process = Process()
    private let out = Pipe(), err = Pipe()
    private var text = ""
    private var errors = ""
    /// Pipes whose reader has not reached end of file yet.
    private var openPipes = 2
    private let lock = NSLock()
    let arguments: [String]

    static var executable: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [dir.appendingPathComponent("script-cluster").path]
        // On some platforms the test bundle sits one level deeper.
        candidates.append(dir.deletingLastPathComponent().appendingPathComponent("script-cluster").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    /// Starts `script-cluster ARGS`, through `prefix` when given (a command that runs the rest,
    /// such as `ip netns exec NS` or `prlimit --as=BYTES`).
    init(_ arguments: [String], prefix: [String] = []) throws {
        self.arguments = arguments
        if let first = prefix.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = Array(prefix.dropFirst()) + [Self.executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Self.executable)
            process.arguments = arguments
        }
        // A crashing child (the poison test) should die at once, not spend seconds on a backtrace;
        // and every child stops, as `up`'s do, when the test process is gone (killed at a
        // timeout, say) rather than holding its ports for ever.
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["SWIFT_BACKTRACE": "enable=no", SignalTrap.parentVariable: String(getpid())]) { $1 }
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // A reader thread per pipe holds its file handle until end of file. (Foundation's
        // readabilityHandler could run on a dispatch thread after the handle it reads was freed
        // with this object, which crashed the test process about once in ten runs.)
        Self.drain(out.fileHandleForReading, { [weak self] d in self?.append(d, toErrors: false) }, end: { [weak self] in self?.closed() })
        Self.drain(err.fileHandleForReading, { [weak self] d in self?.append(d, toErrors: true) }, end: { [weak self] in self?.closed() })
    }

    private func closed() { lock.lock(); openPipes -= 1; lock.unlock() }

    private func append(_ d: Data, toErrors: Bool) {
        lock.lock(); defer { lock.unlock() }
        if toErrors { errors += String(decoding: d, as: UTF8.self) } else { text += String(decoding: d, as: UTF8.self) }
    }

    private static func drain(_ handle: FileHandle, _ sink: @escaping @Sendable (Data) -> Void, end: @escaping @Sendable () -> Void) {
        let reader = Thread {
            // read(2) on the handle's descriptor: whatever has arrived, as it arrives. The
            // closure holds `handle`, so the descriptor stays open until end of file.
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
                if n > 0 { sink(Data(buffer[0..<n])); continue }
                if n < 0 && errno == EINTR { continue }
                break
            }
            end()
        }
        reader.start()
    }

    var output: String { lock.lock(); defer { lock.unlock() }; return text }
    var log: String { lock.lock(); defer { lock.unlock() }; return errors }
    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// The rest of the first stdout line starting with `prefix`, waiting up to `timeout` seconds.
    func line(_ prefix: String, timeout: Double = 20) -> String? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let l = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(l.dropFirst(prefix.count)) }
            if !process.isRunning { return nil }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return nil
    }

    /// Waits until the log holds `text` (`count` times).
    @discardableResult
    func waitForLog(_ text: String, count: Int = 1, timeout: Double = 20) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if log.components(separatedBy: text).count - 1 >= count { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    func signal(_ s: Int32) { if process.isRunning { kill(process.processIdentifier, s) } }

    /// Waits for exit; SIGKILL after `timeout`. Returns the exit status (or -signal), and how
    /// long the wait took.
    @discardableResult
    func wait(timeout: Double = 15) -> Int32 { waitTimed(timeout: timeout).status }

    func waitTimed(timeout: Double) -> (status: Int32, seconds: Double) {
        let start = Date(), end = start.addingTimeInterval(timeout)
        while process.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.01) }
        let seconds = Date().timeIntervalSince(start)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        // Its last lines read (bounded: a child it started may hold the pipes open).
        let drained = Date().addingTimeInterval(1)
        while Date() < drained && { lock.lock(); defer { lock.unlock() }; return openPipes > 0 }() {
            Thread.sleep(forTimeInterval: 0.005)
        }
        return (process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus, seconds)
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
}

/// A free TCP port on loopback (bound and released: the test then binds it).
/// A TCP socket bound to a loopback port (`port`, or a free one): its descriptor and the port
/// (0 when `port` could not be bound).
private func boundLoopbackSocket(port: Int = 0) -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    if bound != 0 { return (fd, 0) }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

/// A TCP connection to a loopback port (its descriptor, or -1), which says nothing.
func connectedLoopbackSocket(port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if connected != 0 { close(fd); return -1 }
    return fd
}

/// A TCP connection to a loopback port that does a ZeroMQ peer's whole handshake (ZMTP 3.1,
/// NULL, a DEALER's READY) and then says nothing more, as a peer whose host died would: its
/// descriptor, or -1.
func quietZMQPeer(port: Int) -> Int32 {
    let fd = connectedLoopbackSocket(port: port)
    var hello = [UInt8](repeating: 0, count: 64)
    (hello[0], hello[9], hello[10], hello[11]) = (0xFF, 0x7F, 3, 1)
    hello.replaceSubrange(12..<16, with: Array("NULL".utf8))
    let property = [11] + Array("Socket-Type".utf8) + [0, 0, 0, 6] + Array("DEALER".utf8)
    let ready = [5] + Array("READY".utf8) + property
    hello += [0x04, UInt8(ready.count)] + ready
    guard fd >= 0, hello.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == hello.count else {
        if fd >= 0 { close(fd) }
        return -1
    }
    return fd
}

/// Whether the other end of `fd` closes the connection within `seconds` (what it sends
/// meanwhile is read and dropped).
func closedByPeer(_ fd: Int32, within seconds: Double) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while Date() < end {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 50) > 0 else { continue }
        if recv(fd, &buffer, buffer.count, 0) <= 0 { return true }
    }
    return false
}

func freePort() -> Int {
    let (fd, port) = boundLoopbackSocket()
    close(fd)
    return port
}

/// A loopback port whose kernel accepts TCP connections that nothing ever answers (no ZeroMQ
/// handshake): what a client meets at a service that is not ZeroMQ and waits, or at a proxy
/// whose backend is gone.
final class SilentListener {
    let port: Int
    private let fd: Int32

    init() {
        (fd, port) = boundLoopbackSocket()
        listen(fd, 64)
    }

    func stop() { close(fd) }
}

/// A loopback port where every TCP connection is accepted and closed at once: what docker's
/// userland proxy or a mesh sidecar does while nothing listens behind it.
final class ClosingListener: Sendable {
    private let fd: Int32
    private let count = Mutex(0)
    private let finished = DispatchSemaphore(value: 0)

    init(port: Int) throws {
        let (fd, bound) = boundLoopbackSocket(port: port)
        self.fd = fd
        guard bound == port, listen(fd, 64) == 0 else {
            close(fd)
            throw HarnessError("cannot listen on port \(port)")
        }
        Thread.detachNewThread { [self] in
            while case let c = accept(fd, nil, nil), c >= 0 {
                close(c)
                count.withLock { $0 += 1 }
            }
            finished.signal()
        }
    }

    /// Connections accepted (and closed) so far.
    var accepted: Int { count.withLock { $0 } }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        finished.wait()
        close(fd)
    }
}

/// A coordinator and workers started separately (so tests can kill, stop and add them).
final class TestCluster {
    private(set) var coordinator: ClusterProcess
    var workers: [ClusterProcess] = []
    let frontend: String
    let backend: String
    let heartbeatMs: Int
    let coordinatorExtra: [String]
    let workerExtra: [String]
    /// CurveZMQ for the harness's own clients, when the coordinator speaks it.
    let clientCurve: CurveClientSettings?

    /// Fixed ports (so a restarted coordinator takes the same ones) unless `wildcard`; every
    /// socket on `host` (the workers' data sockets too, where it is not IPv4 loopback).
    init(workers n: Int, heartbeatMs: Int = 250, extra: [String] = [], workerExtra: [String] = [], wildcard: Bool = false,
         clientCurve: CurveClientSettings? = nil, host: String = "127.0.0.1") throws {
        self.heartbeatMs = heartbeatMs
        self.clientCurve = clientCurve
        coordinatorExtra = extra
        self.workerExtra = workerExtra + (host == "127.0.0.1" ? [] : ["--data-bind", "tcp://\(host):*"])
        (coordinator, frontend, backend) = try Self.startCoordinator(wildcard: wildcard, heartbeatMs: heartbeatMs, extra: extra, host: host)
        for _ in 0..<n { try addWorker() }
        try waitForWorkers(n)
    }

    /// A coordinator on two free ports (or wildcards), and its frontend and backend. A free port is
    /// free when `freePort` closes it, not necessarily when the coordinator binds it (another
    /// process's outgoing connection may take it from the same ephemeral range meanwhile, as one
    /// CI run saw): a bind that finds it in use is tried again on new ports.
    private static func startCoordinator(wildcard: Bool, heartbeatMs: Int, extra: [String], host: String) throws -> (ClusterProcess, String, String) {
        var attempts = 0
        while true {
            attempts += 1
            let fe = wildcard ? "tcp://\(host):*" : "tcp://\(host):\(freePort())"
            let be = wildcard ? "tcp://\(host):*" : "tcp://\(host):\(freePort())"
            let c = try startCoordinator(fe, be, heartbeatMs: heartbeatMs, extra: extra)
            if let f = c.line("frontend "), let b = c.line("backend ") { return (c, f, b) }
            guard attempts < 5, c.log.contains("Address already in use") else {
                throw HarnessError("coordinator did not start: \(c.output) \(c.log)")
            }
        }
    }

    private static func startCoordinator(_ fe: String, _ be: String, heartbeatMs: Int, extra: [String]) throws -> ClusterProcess {
        try ClusterProcess(["coordinator", "--frontend", fe, "--backend", be, "--heartbeat-ms", "\(heartbeatMs)"] + extra)
    }

    /// Starts the coordinator again on the same endpoints (after it was killed).
    func restartCoordinator() throws {
        coordinator = try Self.startCoordinator(frontend, backend, heartbeatMs: heartbeatMs, extra: coordinatorExtra)
        guard coordinator.line("frontend ") != nil else { throw HarnessError("coordinator did not restart: \(coordinator.log)") }
    }

    @discardableResult
    func addWorker(prefix: [String] = [], extra: [String] = []) throws -> ClusterProcess {
        let w = try ClusterProcess(["worker", "--connect", backend, "--name", "w\(workers.count + 1)", "--heartbeat-ms", "\(heartbeatMs)",
                                    "--reconnect-min-ms", "\(heartbeatMs)"] + workerExtra + extra, prefix: prefix)
        workers.append(w)
        return w
    }

    /// Adds a worker whose data socket binds one free port and advertises another, where nothing
    /// listens until a test puts something there (a `TCPForwarder` to the bound one); waits until
    /// `workers` have registered.
    func addWorkerAdvertisingAnotherPort(workers: Int) throws -> (advertised: Int, bound: Int) {
        let (advertised, bound) = (freePort(), freePort())
        try addWorker(extra: ["--data-bind", "tcp://127.0.0.1:\(bound)", "--data-advertise", "tcp://127.0.0.1:\(advertised)"])
        try waitForWorkers(workers)
        return (advertised, bound)
    }

    func waitForWorkers(_ n: Int, timeout: Double = 20) throws {
        let client = try self.client()
        defer { client.close() }
        let end = Date().addingTimeInterval(timeout)
        var last = "no status answer"
        while Date() < end {
            if let s = try? client.status(timeoutMs: 500) {
                if s.workers == n { return }
                last = "\(s.workers) registered"
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("\(n) workers did not register within \(timeout) s (last: \(last)); the processes' last lines:\n" + tails(8))
    }

    /// What the coordinator logged of the requests `ids` (all of it at `--log-level debug`), the
    /// last `lines` lines.
    func history(of ids: [String], lines: Int = 60) -> String {
        coordinator.log.split(separator: "\n").filter { line in ids.contains { line.contains($0) } }.suffix(lines)
            .map { "    " + $0 }.joined(separator: "\n")
    }

    /// What each process said last, `lines` lines each, so a failure can be read from the test
    /// output alone.
    func tails(_ lines: Int) -> String {
        ([coordinator] + workers).map { p in
            p.log.split(separator: "\n").suffix(lines).map { "    " + $0 }.joined(separator: "\n")
        }.joined(separator: "\n  --\n")
    }

    /// A client that pings and retries at this cluster's pace.
    func client(attempts: Int = 8) throws -> ClusterClient {
        var o = ClusterClient.Options()
        o.curve = clientCurve
        o.pingIntervalMs = heartbeatMs
        o.attempts = attempts
        return try ClusterClient(endpoint: frontend, options: o)
    }

    func stop() {
        coordinator.signal(SIGTERM)
        coordinator.wait()
        for w in workers { w.signal(SIGTERM) }
        for w in workers { w.wait() }
    }
}

/// Requests with their in-process answers, and a client load that checks every reply.
enum Requests {
    static func sample(_ kind: SampleKind, seed: UInt64 = 1) -> PruneRequest {
        let s = SampleGenerator.make(.small(kind, seed: seed))
        return PruneRequest(features: Matrix(rows: s.n, cols: s.featureDim, values: s.features),
                            embeddings: Matrix(rows: s.n, cols: s.embeddingDim, values: s.embeddings),
                            query: Matrix(rows: s.spec.queryTokens, cols: s.embeddingDim, values: s.query),
                            shards: s.shards, unitTokens: s.spec.tokensPerUnit)
    }

    static func inProcess(_ r: PruneRequest, _ k: Int, options: PruneOptions = .defaults) throws -> [Int] {
        try Pruner(pool: .machine).prune(r, budget: .count(k), options: options).indices
    }
}

/// What a load of checked requests saw.
struct LoadOutcome: CustomStringConvertible {
    var sent = 0
    var correct = 0
    var wrong: [String] = []
    var errors: [String: Int] = [:]
    /// The first few errors in full, with their requests' ids: what a failing run is read by.
    var firstErrors: [String] = []
    var firstFailedIDs: [String] = []
    /// When each answered request was sent and answered.
    var spans: [(Date, Date)] = []
    var description: String { "\(correct) of \(sent) correct, wrong \(wrong), errors \(errors)\(firstErrors.isEmpty ? "" : ": " + firstErrors.joined(separator: "; "))" }

    /// Counts an error under `key`, and keeps the first few in full.
    mutating func failed(_ key: String, id: String, _ text: String) {
        errors[key, default: 0] += 1
        if firstErrors.count < 5 {
            firstErrors.append("\(id): \(text)")
            firstFailedIDs.append(id)
        }
    }

    /// Requests in flight at `moment` (sent before, answered after): they lived through it.
    func spanning(_ moment: Date) -> Int { spans.filter { $0.0 < moment && $0.1 > moment }.count }
}

/// Clients on `threads` threads, each sending requests one after another until stopped (each
/// request retried by its client with the same id), every answer checked against in-process.
final class CheckedLoad: @unchecked Sendable {
    // Sendable: `outcome` and `stopped` are only touched under `lock`.
    private let lock = NSLock()
    private var outcome = LoadOutcome()
    private var stopped = false
    private let group = DispatchGroup()

    init(cluster: TestCluster, threads: Int, count: Int = .max, requests: [(PruneRequest, Int, [Int])], transfer: Transfer = .inline,
         deadlineMs: Int = 30_000) {
        var options = ClusterClient.Options()
        options.pingIntervalMs = cluster.heartbeatMs
        options.attempts = 8
        let endpoint = cluster.frontend
        for t in 0..<threads {
            DispatchQueue.global().async(group: group) { [self, options] in
                let client = try? ClusterClient(endpoint: endpoint, options: options)
                var i = 0
                while i < count && !isStopped {
                    let (req, k, want) = requests[(t + i) % requests.count]
                    let id = "load-\(t)-\(i)-\(UInt32.random(in: 0...UInt32.max))"
                    i += 1
                    let sent = Date()
                    var failure = ""
                    let reply: ClusterReply?
                    do {
                        reply = try client?.prune(PruneSubmission(id: id, request: req, budget: .count(k), deadlineMs: deadlineMs,
                                                                  transfer: transfer))
                    } catch {
                        reply = nil
                        failure = "\(error)"
                    }
                    lock.lock()
                    outcome.sent += 1
                    switch reply {
                    case .result(let r)?:
                        if r.indices == want { outcome.correct += 1 } else { outcome.wrong.append(id) }
                        outcome.spans.append((sent, Date()))
                    case .error(_, let e)?:
                        outcome.failed(e.code.rawValue, id: id, "\(e.code.rawValue): \(e.message)")
                    default:
                        outcome.failed("client: \(failure.prefix(60))", id: id, failure)
                    }
                    lock.unlock()
                }
                client?.close()
            }
        }
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    /// Requests answered so far.
    var answered: Int { lock.lock(); defer { lock.unlock() }; return outcome.sent }

    /// Stops sending, and waits for every client's last request.
    func stop(timeout: Double = 120) -> LoadOutcome {
        lock.lock(); stopped = true; lock.unlock()
        return wait(timeout: timeout)
    }

    /// Waits for every client to finish.
    func wait(timeout: Double = 120) -> LoadOutcome {
        _ = group.wait(timeout: .now() + timeout)
        lock.lock(); defer { lock.unlock() }
        return outcome
    }
}

/// A cluster the test needed could not be brought up: the test fails with what the process said.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A TCP forwarder on 127.0.0.1 (python3, as the test command needs anyway): an address that
/// starts answering for another one when a test says so. `strand()` leaves the connections open
/// at that moment hanging, nothing forwarded and nothing closed (a balancer that dropped their
/// flows), and forwards later ones.
final class TCPForwarder {
    private let process = Process()

    init(from: Int, to: Int) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.script, "\(from)", "\(to)"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        guard out.fileHandleForReading.availableData.starts(with: Array("listening".utf8)) else {
            throw HarnessError("the forwarder from port \(from) did not start")
        }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    func strand() {
        kill(process.processIdentifier, SIGUSR1)
        Thread.sleep(forTimeInterval: 0.2)
    }

    private static let script = """
    import signal, socket, sys, threading, time
    src, dst = int(sys.argv[1]), int(sys.argv[2])
    generation = [0]
    signal.signal(signal.SIGUSR1, lambda *_: generation.__setitem__(0, generation[0] + 1))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", src))
    ls.listen()
    print("listening", flush=True)
    def pipe(a, b, mine):
        try:
            while True:
                d = a.recv(1 << 16)
                while generation[0] != mine:
                    time.sleep(3600)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    while True:
        c, _ = ls.accept()
        u = socket.create_connection(("127.0.0.1", dst))
        threading.Thread(target=pipe, args=(c, u, generation[0]), daemon=True).start()
        threading.Thread(target=pipe, args=(u, c, generation[0]), daemon=True).start()
    """
}
