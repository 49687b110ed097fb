import Logging
import Synchronization

/// The logger every process role writes with, in the format the process was started with.
public enum LogSetup {
    private static let chosen = Mutex(LogFormat.text)

    /// The format of this process's logs (set by `make`; text until then).
    public static var format: LogFormat { chosen.withLock { $0 } }

    /// A logger labelled `label` writing to standard error at `level` and above, in `format`
    /// (which becomes the process's format).
    public static func make(_ label: String, level: Logger.Level, format: LogFormat = .text) -> Logger {
        chosen.withLock { $0 = format }
        var l: Logger
        switch format {
        case .text: l = Logger(label: label) { TextLogHandler(label: $0) }
        case .json: l = Logger(label: label) { JSONLogHandler(label: $0) }
        }
        l.logLevel = level
        return l
    }

    /// The level called `name` (`trace`, `debug`, `info`, `notice`, `warning`, `error`,
    /// `critical`); an unknown name is an error naming the accepted ones.
    public static func level(named name: String) throws(LogSetupError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            throw LogSetupError(setting: "log level", value: name, accepted: Logger.Level.allCases.map(\.rawValue))
        }
        return level
    }
}
