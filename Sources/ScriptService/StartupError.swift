/// Why a process cannot start serving (an endpoint it cannot bind or reach, a bad key, an
/// unreadable file): one line for the operator, and the process exits non-zero.
public struct StartupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
