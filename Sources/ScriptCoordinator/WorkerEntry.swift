import ScriptProtocol
import ScriptTransport

/// A registered worker, as the coordinator tracks it.
struct WorkerEntry {
    let identity: [UInt8]
    var name: String
    /// Jobs it takes at once that wait for its first step.
    var credit: Int
    /// Where clients send it shard bytes; nil: inline transfers only.
    var dataEndpoint: String?
    /// The data socket's CURVE public key, told to clients with their placements.
    var dataKey: CurveKey?
    /// Its BLAS build and kernels, as it said (nil: it did not).
    var blas: String?
    var jobs: Set<Int> = []
    var lastHeard: ContinuousClock.Instant
    var lastSent: ContinuousClock.Instant
    /// Order of the last assignment (ties go to the worker idle longest).
    var lastAssigned: UInt64 = 0
    /// Its shard jobs' compute time a token (as it reports them), and when it last reported one.
    var pace = TokenPace()
    var pacedAt: ContinuousClock.Instant?
}
