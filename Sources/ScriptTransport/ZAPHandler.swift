import Dispatch
import Foundation
import Synchronization

/// The ZeroMQ authentication handler (ZAP, RFC 27) of one context: libzmq asks it about every
/// CurveZMQ handshake on that context's server sockets, and it lets a client in only when its
/// public key is in the allow-list of the socket's ZAP domain. Refusals are reported to a
/// callback, at most once a `reportInterval` for the same key, with how many there were.
///
/// Start it before binding the sockets it guards; `stop` it before closing the context. A
/// context has at most one.
public final class ZAPHandler: Sendable {
    /// A handshake refused.
    public struct Refusal: Sendable, Equatable, CustomStringConvertible {
        /// The socket's ZAP domain (`clients`, `workers`).
        public let domain: String
        /// The peer's IP address.
        public let address: String
        /// `CURVE`, or the mechanism the peer tried.
        public let mechanism: String
        /// The peer's public key (CURVE only).
        public let key: CurveKey?
        /// Refusals of this peer since the last report (1 the first time).
        public let count: Int

        public var description: String {
            let who = key.map { "key \($0)" } ?? "mechanism \(mechanism)"
            return "refused \(who) from \(address) on \(domain)" + (count > 1 ? " (\(count) times since the last report)" : "")
        }
    }

    /// Where libzmq sends its ZAP requests.
    public static let endpoint = "inproc://zeromq.zap.01"

    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Mutex<Result<Void, ZMQError>?>(nil)

    public init(context: ZMQContext, allowed: [String: Set<CurveKey>], reportInterval: Duration = .seconds(60),
                onRefusal: @escaping @Sendable (Refusal) -> Void) throws {
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            self.serve(context: context, ready: ready) { request, reports in
                self.answer(request, allowed: allowed, reports: &reports, interval: reportInterval, onRefusal: onRefusal)
            }
        }
        thread.name = "zap"
        thread.start()
        ready.wait()
        if case .failure(let e) = started.withLock({ $0 }) { throw e }
    }

    /// Stops answering and closes its socket; returns once it has.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
    }

    /// What the thread remembers of refusals, by domain and peer.
    typealias Reports = [String: (last: ContinuousClock.Instant, count: Int)]

    private func serve(context: ZMQContext, ready: DispatchSemaphore, handle: ([[UInt8]], inout Reports) -> [[UInt8]]) {
        defer { finished.signal() }
        let socket: ZMQSocket
        do {
            socket = try ZMQSocket(context: context, type: .rep)
            try socket.setLinger(milliseconds: 0)
            try socket.bind(Self.endpoint)
        } catch {
            started.withLock { $0 = .failure(error as? ZMQError ?? ZMQError(code: 0, operation: "ZAP handler")) }
            ready.signal()
            return
        }
        started.withLock { $0 = .success(()) }
        ready.signal()
        defer { socket.close() }
        var reports: Reports = [:]
        while !stopping.load(ordering: .acquiring) {
            let request: [[UInt8]]?
            do { request = try socket.receive(timeoutMilliseconds: 100) } catch { return }
            guard let request else { continue }
            do { try socket.send(handle(request, &reports)) } catch { return }
        }
    }

    /// The reply to one ZAP request: 200 for an allowed CURVE key, 400 otherwise.
    private func answer(_ request: [[UInt8]], allowed: [String: Set<CurveKey>], reports: inout Reports,
                        interval: Duration, onRefusal: @Sendable (Refusal) -> Void) -> [[UInt8]] {
        let text = { (i: Int) in i < request.count ? String(decoding: request[i], as: UTF8.self) : "" }
        let reply = { (code: String, status: String, user: String) -> [[UInt8]] in
            [Array("1.0".utf8), request.count > 1 ? request[1] : [], Array(code.utf8), Array(status.utf8), Array(user.utf8), []]
        }
        guard request.count >= 6, text(0) == "1.0" else { return reply("500", "malformed ZAP request", "") }
        let domain = text(2), address = text(3), mechanism = text(5)
        let key = mechanism == "CURVE" && request.count == 7 ? CurveKey(bytes: request[6]) : nil
        if let key, allowed[domain]?.contains(key) == true { return reply("200", "OK", key.z85) }

        let peer = domain + " " + (key?.z85 ?? address)
        let now = ContinuousClock().now
        var seen = reports[peer] ?? (last: now - interval - .seconds(1), count: 0)
        seen.count += 1
        if now - seen.last > interval {
            onRefusal(Refusal(domain: domain, address: address, mechanism: mechanism, key: key, count: seen.count))
            seen = (now, 0)
        }
        reports[peer] = seen
        if reports.count > 4096 { reports = reports.filter { now - $0.value.last <= interval } }
        return reply("400", key == nil ? "CURVE required" : "key not allowed", "")
    }
}
