import ArgumentParser
import Logging
import ScriptService

/// `--log-level` and `--log-format`, shared by the long-running commands.
struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-level"),
            help: "Lowest level logged: trace, debug, info, notice, warning, error or critical.")
    var level = "info"

    @Option(name: .customLong("log-format"),
            help: "text (for people) or json (one object a line, for log collectors).")
    var format = "text"

    func validate() throws {
        do {
            _ = try LogSetup.level(named: level)
            _ = try LogFormat(named: format)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// A logger labelled `label` with these settings (validated before `run`).
    func logger(_ label: String) throws -> Logger {
        LogSetup.make(label, level: try LogSetup.level(named: level), format: try LogFormat(named: format))
    }

    /// The same flags for a child process.
    var arguments: [String] { ["--log-level", level, "--log-format", format] }
}
