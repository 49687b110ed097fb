import FlyingSocks
import Logging

/// FlyingFox's log lines through swift-log: its per-connection chatter at debug, a failed
/// connection as a warning (a failed scrape never stops the process), and its server errors at
/// debug, since `OpsServer` reports those itself (at start, as its error; later, as one line).
struct FlyingFoxLogger: FlyingSocks.Logging {
    let logger: Logger

    func logDebug(_ debug: @autoclosure () -> String) { logger.trace("\(debug())") }
    func logInfo(_ info: @autoclosure () -> String) { logger.debug("\(info())") }
    func logWarning(_ warning: @autoclosure () -> String) { logger.warning("\(warning())") }
    func logError(_ error: @autoclosure () -> String) { logger.warning("\(error())") }
    func logCritical(_ critical: @autoclosure () -> String) { logger.debug("\(critical())") }
}
