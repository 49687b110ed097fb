import FlyingSocks
import Logging

/// FlyingFox's log lines through swift-log: its per-connection chatter at debug; a connection's
/// error (FlyingFox writes `<PEER> error: ...`: the peer reset or closed it, timed out a scrape,
/// or sent what is not HTTP) at debug too, since it is the peer's doing and a load balancer's
/// TCP checks would write one warning each; a handler's error (ours) as a warning; and its server
/// errors at debug, since `OpsServer` reports those itself (at start, as its error; later, as
/// one line).
struct FlyingFoxLogger: FlyingSocks.Logging {
    let logger: Logger

    func logDebug(_ debug: @autoclosure () -> String) { logger.trace("\(debug())") }
    func logInfo(_ info: @autoclosure () -> String) { logger.debug("\(info())") }
    func logWarning(_ warning: @autoclosure () -> String) { logger.warning("\(warning())") }
    func logError(_ error: @autoclosure () -> String) {
        let text = error()
        if text.hasPrefix("<") { logger.debug("\(text)") } else { logger.warning("\(text)") }
    }
    func logCritical(_ critical: @autoclosure () -> String) { logger.debug("\(critical())") }
}
