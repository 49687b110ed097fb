/// Why a pruning request was refused. Each case carries the offending value.
public enum PruneError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyInput(what: String)
    case widthMismatch(what: String, expected: Int, actual: Int)
    case rowCountMismatch(what: String, expected: Int, actual: Int)
    case nonFinite(what: String, row: Int, column: Int)
    /// Finite values whose squares sum past Float's range in one row: its dot products overflow.
    case overflow(what: String, row: Int)
    case budgetNotPositive(Int)
    case budgetRatioOutOfRange(Double)
    case emptyShard(index: Int, range: Range<Int>)
    case shardsOverlap(Range<Int>, Range<Int>)
    case shardsLeaveGap(from: Int, to: Int)
    case shardPastEnd(Range<Int>, tokens: Int)
    case invalidOption(name: String, value: String, expected: String)
    case tooLarge(what: String, value: Int, limit: Int)
    /// An option this machine cannot honour (`value` of option `name`), and why.
    case unavailable(name: String, value: String, reason: String)

    public var description: String {
        switch self {
        case .emptyInput(let what): return "\(what) is empty"
        case let .widthMismatch(what, expected, actual):
            return "\(what) has width \(actual), expected \(expected)"
        case let .rowCountMismatch(what, expected, actual):
            return "\(what) has \(actual) rows, expected \(expected)"
        case let .nonFinite(what, row, column):
            return "\(what) holds a NaN or infinite value at row \(row), column \(column)"
        case let .overflow(what, row):
            return "\(what) row \(row) is too large: the squares of its values sum past float32's range (3.4e38); scale the values down"
        case .budgetNotPositive(let k): return "budget must be at least 1 token, got \(k)"
        case .budgetRatioOutOfRange(let r): return "budget ratio must be in (0, 1], got \(r)"
        case let .emptyShard(index, range): return "shard \(index) (\(range.lowerBound):\(range.upperBound)) is empty"
        case let .shardsOverlap(a, b):
            return "shards \(a.lowerBound):\(a.upperBound) and \(b.lowerBound):\(b.upperBound) overlap or are out of order"
        case let .shardsLeaveGap(from, to): return "shards leave tokens \(from)..<\(to) uncovered"
        case let .shardPastEnd(r, n): return "shard \(r.lowerBound):\(r.upperBound) runs past the \(n) tokens"
        case let .invalidOption(name, value, expected): return "option \(name) = \(value) is invalid: expected \(expected)"
        case let .tooLarge(what, value, limit): return "\(what) = \(value) exceeds the limit \(limit)"
        case let .unavailable(name, value, reason): return "option \(name) = \(value) is unavailable here: \(reason)"
        }
    }
}
