/// How many tokens to keep: a count, or a share of the request's tokens.
public enum Budget: Sendable, Equatable, Codable, CustomStringConvertible {
    case count(Int)
    case ratio(Double)

    /// Parses "64" as a count and "0.1" (anything with a '.' or an exponent) as a ratio.
    public init(parsing text: String) throws {
        let t = String(text.filter { !$0.isWhitespace })
        if t.contains(".") || t.lowercased().contains("e") {
            guard let r = Double(t) else { throw PruneError.invalidOption(name: "budget", value: text, expected: "a count or a ratio in (0, 1]") }
            self = .ratio(r)
        } else {
            guard let k = Int(t) else { throw PruneError.invalidOption(name: "budget", value: text, expected: "a count or a ratio in (0, 1]") }
            self = .count(k)
        }
    }

    /// The token count for a request of `tokens` tokens (may exceed `tokens`: keep all).
    public func resolve(tokens: Int) throws -> Int {
        switch self {
        case .count(let k):
            guard k >= 1 else { throw PruneError.budgetNotPositive(k) }
            return k
        case .ratio(let r):
            guard r.isFinite, r > 0, r <= 1 else { throw PruneError.budgetRatioOutOfRange(r) }
            return max(1, Int((r * Double(tokens) + 0.5).rounded(.down)))
        }
    }

    public var description: String {
        switch self {
        case .count(let k): return "\(k)"
        case .ratio(let r): return "\(r)"
        }
    }
}
