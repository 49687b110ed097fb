/// Error codes of the wire protocol (Cluster/PROTOCOL.md), stable across versions.
public enum ErrorCode: String, Sendable, CaseIterable {
    case badMessage = "bad_message"
    case unsupportedVersion = "unsupported_version"
    case unknownType = "unknown_type"
    case badRequest = "bad_request"
    case badTensor = "bad_tensor"
    case badShape = "bad_shape"
    case nonFinite = "non_finite"
    case badBudget = "bad_budget"
    case badShards = "bad_shards"
    case badOption = "bad_option"
    case tooLarge = "too_large"
    case busy
    case timeout
    case shuttingDown = "shutting_down"
    /// A shard kept failing: the workers computing it died (or the client never sent its bytes)
    /// more times than the coordinator retries.
    case shardFailed = "shard_failed"
    /// A worker could not read the client's shared memory in place (the kernel refused it, or it
    /// is not a sealed memfd of the worker's user): where the placement named the worker's scope,
    /// the coordinator has the client send the bytes instead; a client sees it only where it
    /// named memory to a worker whose placement named none.
    case unreadableSharedMemory = "unreadable_shared_memory"
    case `internal`
}

/// A request or message the protocol refuses, with the code the reply carries.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

import ScriptCore

extension ProtocolError {
    /// The protocol code for a core validation error.
    public init(_ e: PruneError) {
        switch e {
        case .emptyInput, .widthMismatch, .rowCountMismatch: self.init(.badShape, e.description)
        case .nonFinite, .overflow: self.init(.nonFinite, e.description)
        case .budgetNotPositive, .budgetRatioOutOfRange: self.init(.badBudget, e.description)
        case .emptyShard, .shardsOverlap, .shardsLeaveGap, .shardPastEnd: self.init(.badShards, e.description)
        case .invalidOption, .unavailable: self.init(.badOption, e.description)
        case .tooLarge: self.init(.tooLarge, e.description)
        }
    }
}
