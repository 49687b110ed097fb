import ScriptTransport
import ScriptWire

/// `shard_error`: a job the worker refused or could not do (worker to coordinator), with the
/// protocol's error code; the request it belongs to fails with it.
public struct ShardErrorMessage: BackendMessage {
    public static let type = "shard_error"
    public static let fields: Set<String> = ["v", "type", "job", "code", "message"]

    public var job: Int
    public var error: ProtocolError

    public init(job: Int, error: ProtocolError) {
        self.job = job; self.error = error
    }

    public func frames() -> [Frame] {
        Self.message([("job", .int(Int64(job))), ("code", .string(error.code.rawValue)), ("message", .string(error.message))])
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ShardErrorMessage {
        try e.only(fields)
        let name = try e.string("code")
        return ShardErrorMessage(job: try e.int("job"),
                                 error: ProtocolError(ErrorCode(rawValue: name) ?? .internal, try e.string("message")))
    }
}
