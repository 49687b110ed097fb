import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGTERM, SIGINT and SIGHUP into a flag an event loop polls, so a process can drain
/// before it exits. SIGHUP (a closed terminal or SSH session) only where the process did not
/// start with it ignored: `nohup` ignores it, and such a process serves on. A child of `up`
/// (started with `SCRIPT_CLUSTER_PARENT_PID`) raises the flag too once `up` is gone (killed with
/// SIGKILL, or crashed), so no orphan goes on holding its ports.
public final class SignalTrap: @unchecked Sendable {
    // Sendable: `raised` and `orphanSaid` are only touched under `lock`; the rest is set in `init`.
    /// The variable `up` starts its children with: its process id.
    public static let parentVariable = "SCRIPT_CLUSTER_PARENT_PID"

    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var raised = false
    private var orphanSaid = false
    private let parent: pid_t?

    public init(signals: [Int32] = [SIGTERM, SIGINT, SIGHUP]) {
        parent = ProcessInfo.processInfo.environment[Self.parentVariable].flatMap { pid_t($0) }
        for s in signals {
            let previous = signal(s, SIG_IGN)
            if s == SIGHUP && unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
            let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
            src.setEventHandler { [weak self] in self?.raise() }
            src.resume()
            sources.append(src)
        }
    }

    private func raise() {
        lock.lock(); raised = true; lock.unlock()
    }

    /// Whether a signal came, or the parent this process was started by is gone.
    public var isRaised: Bool {
        lock.lock(); defer { lock.unlock() }
        if raised { return true }
        guard let parent, getppid() != parent else { return false }
        if !orphanSaid {
            orphanSaid = true
            StandardStream.error.write("warning: the process that started this one (script-cluster up, pid \(parent)) is gone: stopping\n")
        }
        return true
    }
}
