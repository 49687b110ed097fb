import FlyingSocks
import Foundation
import Logging

/// One connection to the operations port: requests answered in turn (HTTP/1.1 keep-alive,
/// pipelined ones included) until the client closes it, asks to, sends what the port does not
/// serve (answered with the reason, then closed), or sends nothing for the pool's idle time.
/// What ends it is the peer's doing, so it is logged at debug.
struct OpsConnection {
    let socket: AsyncSocket
    let routes: OpsRoutes
    let logger: Logger

    func serve() async {
        let peer = (try? socket.socket.remotePeer()).map(Self.describe) ?? "?"
        defer { try? socket.close() }
        var buffer: [UInt8] = []
        do {
            while let head = try await nextHead(&buffer) {
                let answer = routes.answer(head)
                try await socket.write(answer.encoded(head: head.method == "HEAD", closing: !head.keepAlive))
                guard head.keepAlive else { return }
            }
        } catch let refused as HTTPHeadError {
            logger.debug("metrics port connection from \(peer) error: \(refused)")
            try? await socket.write(HTTPAnswer.text(refused.status, "\(refused)\n").encoded(head: false, closing: true))
        } catch {
            logger.debug("metrics port connection from \(peer) error: \(Self.reason(error))")
        }
    }

    /// The next request's head, taken off the front of `buffer` (read into as needed); nil
    /// where the peer closed between requests.
    private func nextHead(_ buffer: inout [UInt8]) async throws -> HTTPRequestHead? {
        while true {
            if let end = HTTPRequestHead.end(in: buffer) {
                let head = try HTTPRequestHead.parse(buffer[..<end])
                buffer.removeFirst(end)
                return head
            }
            guard buffer.count <= HTTPRequestHead.limit else { throw HTTPHeadError.tooLarge(limit: HTTPRequestHead.limit) }
            do {
                buffer += try await socket.read(atMost: 4096)
            } catch SocketError.disconnected where buffer.isEmpty {
                return nil
            }
        }
    }

    static func describe(_ address: Socket.Address) -> String {
        switch address {
        case .ip4(let host, let port): return "\(host):\(port)"
        case .ip6(let host, let port): return "[\(host)]:\(port)"
        case .unix(let path): return path
        }
    }

    static func reason(_ error: any Error) -> String {
        switch error {
        case SocketError.disconnected: return "the peer closed or reset the connection"
        case SocketError.failed(_, _, let message): return message
        default: return "\(error)"
        }
    }
}
