import ScriptWire

/// Version and message types of the wire protocol (Cluster/PROTOCOL.md).
public enum ProtocolVersion {
    public static let current = 1

    /// Checks `v` and returns the message type.
    public static func check(_ e: Envelope) throws -> String {
        let v = try e.int("v")
        guard v == current else {
            throw ProtocolError(.unsupportedVersion, "protocol version \(v) is not spoken here; versions spoken: [\(current)]")
        }
        return try e.string("type")
    }

    /// The fields every envelope starts with.
    public static func header(_ type: String, id: String? = nil) -> [(String, MessagePackValue)] {
        var f: [(String, MessagePackValue)] = [("v", .int(Int64(current))), ("type", .string(type))]
        if let id { f.append(("id", .string(id))) }
        return f
    }
}
