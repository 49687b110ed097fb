import ScriptProtocol
import ScriptTransport

/// A registered worker, as the coordinator tracks it.
struct WorkerEntry {
    let identity: [UInt8]
    var name: String
    /// Jobs it takes at once that wait for its first step.
    var credit: Int
    /// Its compute threads, as it said.
    var threads = 1
    /// Where clients send it shard bytes; nil: inline transfers only.
    var dataEndpoint: String?
    /// The data socket's CURVE public key, told to clients with their placements.
    var dataKey: CurveKey?
    /// Whose shared memory it reads in place, told to clients with their placements.
    var sharedMemory: SharedMemoryScope?
    /// Clients (by route) whose shared memory it could not read all the same (the kernel
    /// refused it: a security module, a worker without the rights): their placements to it name
    /// no scope, so they send it the bytes.
    var unreadableFrom: Set<[UInt8]> = []
    /// Its BLAS build and kernels, as it said (nil: it did not).
    var blas: String?
    /// The number its process drew at its start (nil: it did not say).
    var incarnation: Int?
    /// Which of that process's coordinator endpoints this connection serves (`ReadyMessage.link`).
    var link: Int?
    /// Its heartbeat interval, as it said (nil: it did not).
    var beat: Duration?
    /// Bytes it may hold, as it said (nil: it did not): it takes no shard that needs more.
    var memoryBytes: Int?
    /// Its bfloat16 products' library and kernel, as it said (nil: it has none, or did not say):
    /// only then does it take the jobs of a request in similarity bf16.
    var bf16: String?
    /// When it last refused a shard for want of room beside its other shards (`busy`: it
    /// serves other coordinators too): it gets no shard until it answers a job, or for a second.
    var roomRefusedAt: ContinuousClock.Instant?
    var jobs: Set<Int> = []
    var lastHeard: ContinuousClock.Instant
    var lastSent: ContinuousClock.Instant
    /// Order of the last assignment (ties go to the worker idle longest).
    var lastAssigned: UInt64 = 0
    /// Its shard jobs' compute time a token (as it reports them), and when it last reported one.
    var pace = TokenPace()
    var pacedAt: ContinuousClock.Instant?
    /// When a shard job of its was last copied to another worker as a straggler (nil once it
    /// beat that copy); how many of its jobs in a row lost to their copies, each within a minute
    /// of the one before, and when the last did.
    var stragglingSince: ContinuousClock.Instant?
    var lostToCopies = 0
    var lastLostToCopy: ContinuousClock.Instant?

    /// The scope to tell a client whose request has `routes` with a placement on it: none where
    /// it could not read one of theirs before.
    func sharedMemory(for routes: [[UInt8]]) -> SharedMemoryScope? {
        routes.contains(where: unreadableFrom.contains) ? nil : sharedMemory
    }

    /// Whether it straggles now: after a job of its was copied it takes no copies, and counts as
    /// four times slower than its pace, until it beats the copy, or for 1 s (2 s, 4 s, up to 32 s
    /// after each further job in a row that lost to its copy), as a load balancer ejects an
    /// outlier for a while (but under load it still takes work); after that it is tried again.
    func straggles(now: ContinuousClock.Instant) -> Bool {
        guard let since = stragglingSince else { return false }
        return now - since < .seconds(1 << min(5, max(0, lostToCopies - 1)))
    }

    /// A job of its lost to its copy.
    mutating func lostToCopy(now: ContinuousClock.Instant) {
        lostToCopies = lastLostToCopy.map { now - $0 < .seconds(60) } == true ? lostToCopies + 1 : 1
        lastLostToCopy = now
    }
}
