import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A libzmq socket. Not thread-safe: one thread uses a socket at a time (handing it to another
/// thread needs a memory barrier, which a serial dispatch queue provides).
public final class ZMQSocket {
    let handle: UnsafeMutableRawPointer
    private var closed = false
    /// Kept so that the context is terminated only after this socket is closed (terminating a
    /// context waits for its sockets: a socket left open would block it for ever).
    private let context: ZMQContext

    public init(context: ZMQContext, type: SocketType) throws {
        guard let h = zmq_socket(context.handle, type.raw) else { throw ZMQError.last("zmq_socket") }
        handle = h
        self.context = context
    }

    deinit { close() }

    /// Closes the socket (pending messages wait for its linger).
    public func close() {
        guard !closed else { return }
        closed = true
        zmq_close(handle)
    }

    /// Binds `endpoint`, with libzmq's IPv6 option where it names an IPv6 address (`IPv6Option`).
    public func bind(_ endpoint: String) throws {
        try set(ZMQ_IPV6, IPv6Option.wanted(for: endpoint, connecting: false) ? 1 : 0, "ZMQ_IPV6")
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError.last("bind \(endpoint)") }
    }

    /// Connects `endpoint`, with libzmq's IPv6 option where it names an IPv6 address or a host
    /// with IPv6 addresses only (`IPv6Option`: a name is looked up, within 0.5 s).
    public func connect(_ endpoint: String) throws {
        try set(ZMQ_IPV6, IPv6Option.wanted(for: endpoint, connecting: true) ? 1 : 0, "ZMQ_IPV6")
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError.last("connect \(endpoint)") }
    }

    public func disconnect(_ endpoint: String) throws {
        guard zmq_disconnect(handle, endpoint) == 0 else { throw ZMQError.last("disconnect \(endpoint)") }
    }

    /// The endpoint last bound, with a wildcard port resolved (`tcp://127.0.0.1:*` -> the port).
    public func lastEndpoint() throws -> String {
        var buf = [CChar](repeating: 0, count: 256)
        var size = buf.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buf, &size) == 0 else { throw ZMQError.last("ZMQ_LAST_ENDPOINT") }
        return cText(buf)
    }

    // MARK: options

    private func set(_ option: Int32, _ value: Int32, _ name: String) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) == 0 else { throw ZMQError.last(name) }
    }

    private func set(_ option: Int32, bytes: [UInt8], _ name: String) throws {
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, bytes.count) }
        guard rc == 0 else { throw ZMQError.last(name) }
    }

    /// ZMTP heartbeats on every connection of this socket, for a process whose own heartbeat is
    /// `heartbeatMs`: a PING every 10 of those, and the connection closed when no message comes
    /// within 30 of a PING (a connecting socket then makes a fresh one). A peer whose host died,
    /// or a middlebox that dropped an idle flow, leaves a connection neither end would close:
    /// its file descriptor and queued messages held for good and, where this end connects, no
    /// new connection made. Ten heartbeats apart the pings cost next to nothing and come well
    /// inside the shortest idle timeout of a cloud load balancer (4 minutes). libzmq counts a
    /// message when its last byte is in, so one frame may take up to 30 heartbeats to arrive
    /// (30 s by default: a 1 GiB frame at 290 Mbit/s, a 90 MB video frame at 24 Mbit/s).
    public func closeDeadConnections(heartbeatMs: Int) throws {
        try set(ZMQ_HEARTBEAT_IVL, Int32(clamping: 10 * heartbeatMs), "ZMQ_HEARTBEAT_IVL")
        try set(ZMQ_HEARTBEAT_TIMEOUT, Int32(clamping: 30 * heartbeatMs), "ZMQ_HEARTBEAT_TIMEOUT")
    }

    /// How long close waits to deliver pending messages.
    public func setLinger(milliseconds: Int) throws { try set(ZMQ_LINGER, Int32(milliseconds), "ZMQ_LINGER") }
    /// ROUTER: sending to an unknown peer fails with EHOSTUNREACH instead of a silent drop.
    public func setRouterMandatory(_ on: Bool) throws { try set(ZMQ_ROUTER_MANDATORY, on ? 1 : 0, "ZMQ_ROUTER_MANDATORY") }
    /// Queue messages only to completed connections.
    public func setImmediate(_ on: Bool) throws { try set(ZMQ_IMMEDIATE, on ? 1 : 0, "ZMQ_IMMEDIATE") }
    /// Largest inbound message; a larger one disconnects its sender (-1: no limit).
    public func setMaxMessageSize(_ bytes: Int64) throws {
        var v = bytes
        guard zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &v, MemoryLayout<Int64>.size) == 0 else { throw ZMQError.last("ZMQ_MAXMSGSIZE") }
    }
    public func setSendHighWaterMark(_ n: Int) throws { try set(ZMQ_SNDHWM, Int32(n), "ZMQ_SNDHWM") }
    public func setReceiveHighWaterMark(_ n: Int) throws { try set(ZMQ_RCVHWM, Int32(n), "ZMQ_RCVHWM") }
    public func setReconnectInterval(milliseconds: Int) throws { try set(ZMQ_RECONNECT_IVL, Int32(milliseconds), "ZMQ_RECONNECT_IVL") }
    public func setReconnectIntervalMax(milliseconds: Int) throws { try set(ZMQ_RECONNECT_IVL_MAX, Int32(milliseconds), "ZMQ_RECONNECT_IVL_MAX") }
    public func setRoutingID(_ id: [UInt8]) throws { try set(ZMQ_ROUTING_ID, bytes: id, "ZMQ_ROUTING_ID") }
    public func setSendTimeout(milliseconds: Int) throws { try set(ZMQ_SNDTIMEO, Int32(milliseconds), "ZMQ_SNDTIMEO") }
    /// The ZAP domain its connections are authenticated under (before `bind`).
    public func setZAPDomain(_ domain: String) throws { try set(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8), "ZMQ_ZAP_DOMAIN") }
    /// The security mechanism in use: `null`, `plain`, `curve` or `gssapi`.
    public func securityMechanism() throws -> String {
        var v: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, ZMQ_MECHANISM, &v, &size) == 0 else { throw ZMQError.last("ZMQ_MECHANISM") }
        switch v {
        case ZMQ_NULL: return "null"
        case ZMQ_PLAIN: return "plain"
        case ZMQ_CURVE: return "curve"
        default: return "gssapi"
        }
    }
    /// CurveZMQ server side: this socket holds `secretKey` (Z85) and accepts clients that know its public key.
    public func setCurveServer(secretKey: String) throws {
        try set(ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER")
        try set(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8), "ZMQ_CURVE_SECRETKEY")
    }
    /// CurveZMQ client side: its own key pair and the server's public key (Z85).
    public func setCurveClient(publicKey: String, secretKey: String, serverKey: String) throws {
        try set(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8), "ZMQ_CURVE_SERVERKEY")
        try set(ZMQ_CURVE_PUBLICKEY, bytes: Array(publicKey.utf8), "ZMQ_CURVE_PUBLICKEY")
        try set(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8), "ZMQ_CURVE_SECRETKEY")
    }

    // MARK: messages

    /// Frames at least this large are lent to ZeroMQ instead of copied.
    static let lendThreshold = 1 << 16

    /// Sends a multipart message; every frame's send is checked.
    public func send(_ frames: [[UInt8]]) throws {
        _ = try send(frames.map(Frame.init), dontWait: false)
    }

    /// Sends a multipart message; with `dontWait`, returns false instead of blocking when the
    /// message cannot be queued now.
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool) throws -> Bool {
        try send(frames.map(Frame.init), dontWait: dontWait)
    }

    /// Sends a multipart message of frames; large ones are lent to ZeroMQ, not copied.
    public func send(_ frames: [Frame]) throws {
        _ = try send(frames, dontWait: false)
    }

    @discardableResult
    public func send(_ frames: [Frame], dontWait: Bool) throws -> Bool {
        let parts = frames.isEmpty ? [Frame([])] : frames
        for (i, frame) in parts.enumerated() {
            var flags: Int32 = i < parts.count - 1 ? ZMQ_SNDMORE : 0
            if dontWait { flags |= ZMQ_DONTWAIT }
            var msg = zmq_msg_t()
            if frame.count >= Self.lendThreshold, let owner = frame.owner {
                // ZeroMQ releases the owner from its I/O thread once the bytes are written; it
                // only reads them.
                let hint = Unmanaged.passRetained(Loan(owner)).toOpaque()
                let base = UnsafeMutableRawPointer(mutating: owner.base + frame.offset)
                guard zmq_msg_init_data(&msg, base, frame.count, { _, hint in
                    Unmanaged<Loan>.fromOpaque(hint!).release()
                }, hint) == 0 else {
                    Unmanaged<Loan>.fromOpaque(hint).release()
                    throw ZMQError.last("zmq_msg_init_data")
                }
            } else {
                guard zmq_msg_init_size(&msg, frame.count) == 0 else { throw ZMQError.last("zmq_msg_init_size") }
                if !frame.isEmpty {
                    frame.withUnsafeBytes { src in _ = memcpy(zmq_msg_data(&msg), src.baseAddress!, frame.count) }
                }
            }
            while true {
                if zmq_msg_send(&msg, handle, flags) >= 0 { break }
                let e = zmq_errno()
                if e == EINTR { continue }
                zmq_msg_close(&msg)
                if e == EAGAIN && dontWait && i == 0 { return false }
                throw ZMQError(code: e, operation: "send")
            }
        }
        return true
    }

    /// Receives a whole multipart message, waiting as long as it takes.
    public func receive() throws -> [[UInt8]] {
        try receive(timeoutMilliseconds: -1)!
    }

    /// Receives a whole multipart message, or nil when none comes within the timeout
    /// (0: only what is already there; negative: wait forever). The bytes are copied out.
    public func receive(timeoutMilliseconds timeout: Int) throws -> [[UInt8]]? {
        try receiveFrames(timeoutMilliseconds: timeout)?.map(\.bytes)
    }

    /// As `receive`, with each frame left in ZeroMQ's buffer (no copy).
    public func receiveFrames(timeoutMilliseconds timeout: Int) throws -> [Frame]? {
        if timeout != 0 {
            var item = zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
            while true {
                let rc = zmq_poll(&item, 1, timeout)
                if rc >= 0 { if rc == 0 { return nil }; break }
                if zmq_errno() != EINTR { throw ZMQError.last("zmq_poll") }
            }
        }
        var frames: [Frame] = []
        while true {
            let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
            message.initialize(to: zmq_msg_t())
            zmq_msg_init(message)
            while zmq_msg_recv(message, handle, frames.isEmpty ? ZMQ_DONTWAIT : 0) < 0 {
                let e = zmq_errno()
                if e == EINTR { continue }
                zmq_msg_close(message)
                message.deallocate()
                if e == EAGAIN && frames.isEmpty { return nil }
                throw ZMQError(code: e, operation: "receive")
            }
            let size = zmq_msg_size(message)
            let more = zmq_msg_more(message) != 0
            if size == 0 {
                zmq_msg_close(message)
                message.deallocate()
                frames.append(Frame(owner: nil, offset: 0, count: 0))
            } else {
                frames.append(Frame(owner: FrameStorage(taking: message), offset: 0, count: size))
            }
            if !more { return frames }
        }
    }
}

/// What a lent frame's ZeroMQ message holds on to until it is written.
private final class Loan {
    let owner: FrameStorage
    init(_ owner: FrameStorage) { self.owner = owner }
}
