import Foundation
import Synchronization
@testable import ScriptTransport

/// A TCP listener on loopback that answers its `n`th connection (from 0) as `answer(n)` says.
final class FakePeer: Sendable {
    /// What a connection gets.
    enum Reply {
        /// These bytes, and the connection stays open.
        case bytes([UInt8])
        /// Nothing: closed with a reset once the peer's first bytes (a ZMTP signature) arrived.
        case reset
        /// Nothing, and the connection stays open.
        case silence
        /// These bytes, then a reset once the peer's answer arrived (a CURVE server that cannot
        /// read the hello sealed for another key closes the connection there).
        case bytesThenReset([UInt8])
    }

    let endpoint: String
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    init(answer: @escaping @Sendable (Int) -> Reply) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        fd = listener
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, size) == 0 && listen(listener, 16) == 0 && getsockname(listener, $0, &size) == 0
            }
        }
        guard ok else { throw ZMQError(code: errno, operation: "fake peer: bind") }
        endpoint = "tcp://127.0.0.1:\(UInt16(bigEndian: a.sin_port))"
        Thread.detachNewThread { self.serve(answer) }
    }

    private func serve(_ answer: (Int) -> Reply) {
        var open: [Int32] = []
        var n = 0
        while !stopped.load(ordering: .acquiring) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 20) > 0 else { continue }
            let c = accept(fd, nil, nil)
            guard c >= 0 else { continue }
            switch answer(n) {
            case .bytes(let bytes):
                _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                open.append(c)
            case .reset:
                Self.reset(c, afterReading: 10)
            case .bytesThenReset(let bytes):
                _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                Self.reset(c, afterReading: 64)
            case .silence:
                open.append(c)
            }
            n += 1
        }
        open.forEach { close($0) }
        done.signal()
    }

    /// Closes `c` with a reset once `count` bytes came (or 2 s passed).
    private static func reset(_ c: Int32, afterReading count: Int) {
        var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
        var bytes = [UInt8](repeating: 0, count: count)
        if poll(&p, 1, 2000) > 0 { _ = recv(c, &bytes, count, Int32(MSG_WAITALL)) }
        var reset = linger(l_onoff: 1, l_linger: 0)
        setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
        close(c)
    }

    /// Stops listening and closes every connection (once).
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        done.wait()
        close(fd)
    }

    /// A ZMTP 3.`minor` greeting naming `mechanism`.
    static func greeting(_ mechanism: String, minor: UInt8 = 0) -> [UInt8] {
        var g = [UInt8](repeating: 0, count: 64)
        g[0] = 0xFF
        g[9] = 0x7F
        g[10] = 3
        g[11] = minor
        for (i, c) in mechanism.utf8.enumerated() { g[12 + i] = c }
        return g
    }

    /// A ZMTP 3.1 greeting (NULL) and the READY command of a `socketType` peer: all a ZeroMQ
    /// socket needs to count the connection made.
    static func handshake(as socketType: String) -> [UInt8] {
        let name = Array("Socket-Type".utf8), value = Array(socketType.utf8)
        let body = [5] + Array("READY".utf8) + [UInt8(name.count)] + name + [0, 0, 0, UInt8(value.count)] + value
        return greeting("NULL", minor: 1) + [0x04, UInt8(body.count)] + body
    }
}
