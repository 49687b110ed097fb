/// A probe that got no HTTP answer.
public enum HTTPProbeError: Error, Equatable, CustomStringConvertible, Sendable {
    case badURL(String)
    case unreachable(String, reason: String)

    public var description: String {
        switch self {
        case .badURL(let url): return "'\(url)' is not an http://HOST:PORT/PATH URL"
        case .unreachable(let url, let reason): return "no answer from \(url): \(reason)"
        }
    }
}
