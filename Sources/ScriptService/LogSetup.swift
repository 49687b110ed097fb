import Logging

/// The logger every process role writes with.
public enum LogSetup {
    public static func make(_ label: String, level: String) -> Logger {
        var l = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        l.logLevel = Logger.Level(rawValue: level) ?? .info
        return l
    }
}
