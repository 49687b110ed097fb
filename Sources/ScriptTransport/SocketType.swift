import CZeroMQ

/// ZeroMQ socket types used by the cluster (and a few for tests).
public enum SocketType: Sendable {
    case pair, router, dealer, req, rep, pub, sub, push, pull

    var raw: Int32 {
        switch self {
        case .pair: return ZMQ_PAIR
        case .router: return ZMQ_ROUTER
        case .dealer: return ZMQ_DEALER
        case .req: return ZMQ_REQ
        case .rep: return ZMQ_REP
        case .pub: return ZMQ_PUB
        case .sub: return ZMQ_SUB
        case .push: return ZMQ_PUSH
        case .pull: return ZMQ_PULL
        }
    }
}
