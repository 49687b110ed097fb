#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Synchronization

/// Runs independent chunks of work on up to `width` threads.
///
/// Callers split work into a fixed number of chunks that depends only on the problem size,
/// never on `width`, so every result is the same whether one thread or many ran it. The threads
/// are kept (one team per width), since the chunks are often a millisecond or less; a `forEach`
/// issued while the team is busy (nested work) runs on the calling thread.
public struct ComputePool: Sendable {
    /// Threads to use at most; 1 runs everything on the calling thread.
    public let width: Int
    /// How long an idle helper keeps spinning before it sleeps. Work comes in bursts of calls
    /// a fraction of a millisecond apart, and waking a sleeping thread can cost more than that;
    /// but a process that shares its cores with others (a coordinator beside its workers)
    /// should spin briefly, or it takes their time.
    public let idleSpin: Duration

    public init(width: Int, idleSpin: Duration = .milliseconds(20)) {
        self.width = max(1, width)
        self.idleSpin = idleSpin
    }

    /// All cores of this machine.
    public static let machine = ComputePool(width: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    /// The calling thread only (a worker process: one worker a core).
    public static let serial = ComputePool(width: 1)

    /// Calls `body(i)` for every `i` in `0..<count`, possibly concurrently.
    public func forEach(_ count: Int, _ body: (Int) -> Void) {
        if width == 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        let team = ThreadTeam.shared(helpers: width - 1, spin: idleSpin)
        withoutActuallyEscaping(body) { team.run(count, $0) }
    }

    /// `body(i)` for every `i` in `0..<count`, possibly concurrently, in order of `i`.
    public func map<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
        let slots = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        slots.initialize(repeating: nil)
        defer { slots.deinitialize(); slots.deallocate() }
        let shared = UncheckedBox(slots)
        forEach(count) { shared.value[$0] = body($0) }
        return slots.map { $0! }
    }
}

/// A fixed split of `0..<total` into chunks of about `chunk` items.
@inline(__always)
public func chunks(of total: Int, size chunk: Int) -> [Range<Int>] {
    guard total > 0 else { return [] }
    let n = (total + chunk - 1) / chunk
    return (0..<n).map { i in (i * chunk)..<min(total, (i + 1) * chunk) }
}

final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Persistent helper threads that pull chunk numbers alongside the caller.
final class ThreadTeam: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var job: ((Int) -> Void)?
    private var count = 0
    private var next = 0
    private var pending = 0
    private var generation: UInt64 = 0
    /// `generation`, readable without the lock, so idle helpers can spin on it.
    private let published = Atomic<UInt64>(0)
    private var busy = false
    /// How long an idle helper keeps spinning before it sleeps.
    private let spin: Duration

    nonisolated(unsafe) private static let registryLock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()
    nonisolated(unsafe) private static var teams: [TeamKey: ThreadTeam] = [:]

    private struct TeamKey: Hashable {
        let helpers: Int
        let spin: Duration
    }

    static func shared(helpers: Int, spin: Duration) -> ThreadTeam {
        pthread_mutex_lock(registryLock)
        defer { pthread_mutex_unlock(registryLock) }
        let key = TeamKey(helpers: helpers, spin: spin)
        if let t = teams[key] { return t }
        let t = ThreadTeam(helpers: helpers, spin: spin)
        teams[key] = t
        return t
    }

    private init(helpers: Int, spin: Duration) {
        self.spin = spin
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        for _ in 0..<helpers {
            let box = Unmanaged.passRetained(self)
            var thread = pthread_t()
            pthread_create(&thread, nil, { arg in
                let team = Unmanaged<ThreadTeam>.fromOpaque(arg!).takeRetainedValue()
                team.serve()
                return nil
            }, box.toOpaque())
            pthread_detach(thread)
        }
    }

    private func claim() -> Int? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard job != nil, next < count else { return nil }
        next += 1
        return next - 1
    }

    /// Runs chunk `i`; every reference to the job is gone when this returns, before `finish`
    /// tells the caller (whose closure must not outlive its call).
    @inline(never)
    private func invoke(_ i: Int) {
        pthread_mutex_lock(mutex)
        let body = job!
        pthread_mutex_unlock(mutex)
        body(i)
    }

    private func finish() {
        pthread_mutex_lock(mutex)
        pending -= 1
        if pending == 0 { pthread_cond_signal(done) }
        pthread_mutex_unlock(mutex)
    }

    private func serve() {
        var seen: UInt64 = 0
        let clock = ContinuousClock()
        while true {
            let until = clock.now + spin
            while published.load(ordering: .acquiring) == seen && clock.now < until { sched_yield() }
            pthread_mutex_lock(mutex)
            while generation == seen { pthread_cond_wait(wake, mutex) }
            seen = generation
            pthread_mutex_unlock(mutex)
            while let i = claim() {
                invoke(i)
                finish()
            }
        }
    }

    func run(_ n: Int, _ body: @escaping (Int) -> Void) {
        pthread_mutex_lock(mutex)
        if busy {
            // Nested work: run it here.
            pthread_mutex_unlock(mutex)
            for i in 0..<n { body(i) }
            return
        }
        busy = true
        job = body
        count = n
        next = 0
        pending = n
        generation &+= 1
        published.store(generation, ordering: .releasing)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        while let i = claim() {
            invoke(i)
            finish()
        }
        pthread_mutex_lock(mutex)
        while pending > 0 { pthread_cond_wait(done, mutex) }
        job = nil
        busy = false
        pthread_mutex_unlock(mutex)
    }
}
