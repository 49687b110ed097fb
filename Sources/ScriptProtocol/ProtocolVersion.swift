import ScriptWire

/// Versions and message headers of the wire protocol (Cluster/PROTOCOL.md): clients speak
/// version 1 with coordinators (and with workers, for direct transfers); coordinators and
/// workers speak version 2 with each other, so a worker of another release is refused at once
/// instead of misreading shards.
public enum ProtocolVersion {
    /// Client messages and their replies.
    public static let client = 1
    /// Coordinator-worker messages.
    public static let backend = 2
    /// The client version (what clients and their tests call `current`).
    public static let current = client

    /// Checks `v` against `version` and returns the message type.
    public static func check(_ e: Envelope, version: Int = client) throws -> String {
        let v = try e.int("v")
        guard v == version else {
            throw ProtocolError(.unsupportedVersion, "protocol version \(v) is not spoken here; versions spoken: [\(version)]")
        }
        return try e.string("type")
    }

    /// The fields every envelope starts with.
    public static func header(_ type: String, id: String? = nil, version: Int = client) -> [(String, MessagePackValue)] {
        var f: [(String, MessagePackValue)] = [("v", .int(Int64(version))), ("type", .string(type))]
        if let id { f.append(("id", .string(id))) }
        return f
    }
}
