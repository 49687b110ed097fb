import CZeroMQ

/// A failed libzmq call: the operation and errno, described by `zmq_strerror`.
public struct ZMQError: Error, CustomStringConvertible, Equatable, Sendable {
    public let code: Int32
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    static func last(_ operation: String) -> ZMQError { ZMQError(code: zmq_errno(), operation: operation) }

    /// Whether the peer of a ROUTER_MANDATORY send is unknown.
    public var isUnroutable: Bool { code == EHOSTUNREACH }

    /// What went wrong, in libzmq's words.
    public var reason: String { String(cString: zmq_strerror(code)) }

    public var description: String { "\(operation): \(reason) (errno \(code))" }
}

#if canImport(Glibc)
import Glibc
#endif

/// A NUL-terminated C buffer as a String.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
