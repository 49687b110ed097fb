import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGTERM and SIGINT into a flag an event loop polls, so a process can drain before exit.
public final class SignalTrap: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var raised = false

    public init(signals: [Int32] = [SIGTERM, SIGINT]) {
        for s in signals {
            signal(s, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
            src.setEventHandler { [weak self] in self?.raise() }
            src.resume()
            sources.append(src)
        }
    }

    private func raise() {
        lock.lock(); raised = true; lock.unlock()
    }

    /// Whether a signal came.
    public var isRaised: Bool {
        lock.lock(); defer { lock.unlock() }
        return raised
    }
}

import Foundation
