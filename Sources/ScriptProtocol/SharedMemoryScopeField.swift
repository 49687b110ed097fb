import ScriptTransport
import ScriptWire

/// A worker's shared-memory scope as `ready` and `placement` carry it: `[pid_namespace, uid]`.
extension SharedMemoryScope {
    /// The field's value.
    public var value: MessagePackValue { .array([.int(Int64(pidNamespace)), .int(Int64(uid))]) }

    /// Reads field `key` of `e`: two non-negative integers.
    public init(_ e: Envelope, _ key: String) throws {
        let v = try e.intArray(key)
        guard v.count == 2, v.allSatisfy({ $0 >= 0 }) else {
            throw ProtocolError(.badRequest, "\(key) \(v) is not [PID namespace, user], two numbers not below 0")
        }
        self.init(pidNamespace: v[0], uid: v[1])
    }
}
