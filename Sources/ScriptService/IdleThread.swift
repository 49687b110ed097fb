import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A thread that runs closures in order at the lowest CPU priority: work that may use a core
/// nobody else wants, and must never slow the work that is waiting for it.
///
/// The coordinator takes proposals into a request's global selection here while workers (on
/// the same machine, as with `up`) still compute other shards: on a busy machine this thread
/// yields to them, and whatever it has not done when the last shard lands, the request's finish
/// does itself.
public final class IdleThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopped = false

    public init(name: String) {
        // The thread holds this object until `stop` ends it.
        let t = Thread { self.serve() }
        t.name = name
        t.start()
    }

    public func async(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Stops after the jobs already queued.
    public func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func serve() {
        #if os(Linux)
        // Nice 19 for this thread alone: on Linux the nice value is per thread, and 0 is the caller.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        #endif
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped { condition.unlock(); return }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
