#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CPlatform
import Synchronization

/// Helper threads that run the chunks of parallel loops alongside the threads that start them.
///
/// A loop is a `TeamJob`: its chunks are claimed with one atomic counter, by the caller and by
/// at most the helpers its pool allows. A loop started from inside a chunk (a shard's products
/// inside the loop over shards) is open to idle helpers too, innermost first, so nested work
/// spreads over the team. Only as many sleeping helpers are woken as the loop has chunks for;
/// idle helpers spin briefly with the CPU's pause hint, then sleep. A helper that has not
/// started on a loop when its chunks are all taken is simply not waited for, so a process that
/// shares its cores (workers beside a coordinator) is never held up by a helper the OS has not
/// scheduled yet.
final class ThreadTeam: Sendable {
    private struct State {
        /// Open loops, innermost last.
        var jobs: [TeamJob] = []
        /// Helpers asleep, by index.
        var sleeping: [Int] = []
        var helpers = 0
    }

    private let state = Mutex(State())
    /// Bumped whenever a loop opens: idle helpers spin on it.
    private let epoch = Atomic<UInt64>(0)
    /// Helpers awake with nothing to do.
    private let idle = Atomic<Int>(0)
    private let parking = Mutex<[Parking]>([])
    /// How long an idle helper spins before it sleeps, in nanoseconds.
    private let spinNanoseconds: Int64

    private static let teams = Mutex<[Int64: ThreadTeam]>([:])

    /// The team of this process for helpers that spin `spin` when idle.
    static func shared(spin: Duration) -> ThreadTeam {
        let ns = spin.components.seconds * 1_000_000_000 + spin.components.attoseconds / 1_000_000_000
        return teams.withLock { teams in
            if let t = teams[ns] { return t }
            let t = ThreadTeam(spinNanoseconds: ns)
            teams[ns] = t
            return t
        }
    }

    private init(spinNanoseconds: Int64) {
        self.spinNanoseconds = max(0, spinNanoseconds)
    }

    /// Runs `body(i)` for every `i` in `0..<count` on the calling thread and up to `helpers`
    /// helper threads; returns when every chunk has run.
    func run(_ count: Int, helpers: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let job = TeamJob(count: count, helpers: helpers, body: body)
        startHelpers(min(helpers, count - 1))
        let toWake: [Parking] = state.withLock { s in
            s.jobs.append(job)
            epoch.add(1, ordering: .sequentiallyConsistent)
            let wanted = max(0, min(helpers, count - 1) - idle.load(ordering: .relaxed))
            let woken = s.sleeping.suffix(wanted)
            s.sleeping.removeLast(woken.count)
            return parking.withLock { p in woken.map { p[$0] } }
        }
        for p in toWake { p.unpark() }
        job.work()
        job.waitUntilFinished()
        state.withLock { s in s.jobs.removeAll { $0 === job } }
    }

    /// Starts helper threads until there are `count` (they live as long as the process).
    private func startHelpers(_ count: Int) {
        let new: [Int] = state.withLock { s in
            guard s.helpers < count else { return [] }
            defer { s.helpers = count }
            return Array(s.helpers..<count)
        }
        for index in new {
            let p = Parking()
            parking.withLock { $0.append(p) }
            idle.add(1, ordering: .relaxed)
            let context = Unmanaged.passRetained(HelperStart(team: self, index: index, parking: p)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { arg in
                let start = Unmanaged<HelperStart>.fromOpaque(arg!).takeRetainedValue()
                start.team.serve(index: start.index, parking: start.parking)
                return nil
            }, context)
            precondition(rc == 0, "pthread_create failed (\(rc)): cannot start a compute thread")
            pthread_detach(thread)
        }
    }

    /// The innermost open loop with chunks left that admits one more helper.
    private func joinableJob() -> TeamJob? {
        state.withLock { s in
            for job in s.jobs.reversed() where job.join() { return job }
            return nil
        }
    }

    private func serve(index: Int, parking: Parking) {
        while true {
            let seen = epoch.load(ordering: .sequentiallyConsistent)
            if let job = joinableJob() {
                idle.subtract(1, ordering: .relaxed)
                job.work()
                idle.add(1, ordering: .relaxed)
                continue
            }
            if spinWhile(seen) { continue }
            // Sleep unless a loop opened meanwhile (checked under the lock that run() wakes under).
            let sleeps = state.withLock { s -> Bool in
                guard epoch.load(ordering: .sequentiallyConsistent) == seen else { return false }
                s.sleeping.append(index)
                idle.subtract(1, ordering: .relaxed)
                return true
            }
            if sleeps {
                parking.park()
                idle.add(1, ordering: .relaxed)
            }
        }
    }

    /// Spins (with the pause hint) until the epoch moves past `seen` (true) or the idle spin
    /// is over (false).
    private func spinWhile(_ seen: UInt64) -> Bool {
        guard spinNanoseconds > 0 else { return epoch.load(ordering: .sequentiallyConsistent) != seen }
        let until = Self.nanoseconds() + spinNanoseconds
        while true {
            for _ in 0..<64 {
                if epoch.load(ordering: .relaxed) != seen { return true }
                script_cpu_relax()
            }
            if Self.nanoseconds() >= until { return epoch.load(ordering: .sequentiallyConsistent) != seen }
        }
    }

    static func nanoseconds() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }
}

/// One parallel loop: chunks claimed by an atomic counter, finished chunks counted.
final class TeamJob: Sendable {
    let count: Int
    private let body: @Sendable (Int) -> Void
    private let next = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    /// Helpers admitted so far (at most `helpers`).
    private let joined = Atomic<Int>(0)
    private let helpers: Int

    init(count: Int, helpers: Int, body: @escaping @Sendable (Int) -> Void) {
        self.count = count
        self.helpers = helpers
        self.body = body
    }

    /// Admits one more helper if the loop has chunks left and room for it.
    func join() -> Bool {
        guard next.load(ordering: .relaxed) < count else { return false }
        if joined.wrappingAdd(1, ordering: .relaxed).oldValue < helpers { return true }
        joined.subtract(1, ordering: .relaxed)
        return false
    }

    /// Runs chunks until none is left to claim.
    func work() {
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(i)
            done.add(1, ordering: .releasing)
        }
    }

    /// Waits (spinning politely, then yielding the CPU) for chunks other threads still run.
    func waitUntilFinished() {
        var spins = 0
        while done.load(ordering: .acquiring) < count {
            if spins < 4096 { script_cpu_relax(); spins += 1 } else { sched_yield() }
        }
    }
}

/// What a new helper thread is handed.
private final class HelperStart: Sendable {
    let team: ThreadTeam
    let index: Int
    let parking: Parking
    init(team: ThreadTeam, index: Int, parking: Parking) {
        self.team = team
        self.index = index
        self.parking = parking
    }
}

/// Where one helper sleeps: a permit under a mutex, and a condition to wait on it.
final class Parking: @unchecked Sendable {
    // Sendable by its lock: `permit` is read and written only with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var permit = false

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    /// Sleeps until `unpark` (returns at once if it came first).
    func park() {
        pthread_mutex_lock(mutex)
        while !permit { pthread_cond_wait(condition, mutex) }
        permit = false
        pthread_mutex_unlock(mutex)
    }

    func unpark() {
        pthread_mutex_lock(mutex)
        permit = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }
}
