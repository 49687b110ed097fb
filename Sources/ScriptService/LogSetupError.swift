/// A log setting with a value that is not one of the accepted ones.
public struct LogSetupError: Error, Equatable, CustomStringConvertible, Sendable {
    /// `log level` or `log format`.
    public let setting: String
    public let value: String
    public let accepted: [String]

    public var description: String {
        "unknown \(setting) '\(value)' (accepted: \(accepted.joined(separator: ", ")))"
    }
}
