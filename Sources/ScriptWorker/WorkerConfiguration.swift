import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport

/// Everything a worker is told at start.
public struct WorkerConfiguration: Sendable {
    /// The coordinators' backends (several coordinators may share one pool of workers).
    public var endpoints = ["tcp://127.0.0.1:5556"]
    /// A name for logs and replies.
    public var name = "worker"
    /// Jobs taken at once that wait for their first step (one computing, the next arriving).
    public var credit = 2
    public var heartbeatMs = 1000
    public var liveness = 3
    /// Back-off between attempts to reach a coordinator: from the first, doubling to the last
    /// (each with up to a quarter of jitter).
    public var reconnectMinMs = 1000
    public var reconnectMaxMs = 32_000
    /// Threads of the worker's compute (one worker a core: 1).
    public var threads = 1
    /// Its BLAS build and kernels, told to coordinators when it registers (`BLAS.kernel`; the
    /// `Worker` process fills it in): workers with other kernels compute other last bits.
    public var blas: String?
    /// Its bfloat16 products' library and kernel (`BFloat16Products.description`), told to
    /// coordinators when it registers; nil where it has none (the `Worker` process fills it in):
    /// only workers that say they have them get the jobs of requests in similarity bf16.
    public var bf16: String?
    /// Threads a reduce's last steps may use (the remaining cosines and the selection, which
    /// its request waits on alone) where the process may run on that many CPUs: on an idle
    /// machine they take cores other workers leave free (2 cores, AnyRes: 6.3-6.6 ms from the last
    /// proposal to the answer instead of 8.9-9.4), and a worker pinned to one core, or limited to
    /// one by its cgroup, keeps to one. A few, not all: on a busy host more would only contend.
    public static let wideThreads = 4
    /// ZeroMQ I/O threads (a worker taking direct transfers receives every byte of its shards).
    public var ioThreads = 1
    /// Where the worker takes shard bytes straight from clients (a ZeroMQ endpoint to bind;
    /// nil: inline transfers only), and the endpoint clients are told (default: the bound one).
    public var dataBind: String? = "tcp://127.0.0.1:*"
    public var dataAdvertise: String?
    /// Bytes of shard data held for jobs not yet known (direct transfers that overtook their
    /// job); beyond it the oldest are dropped.
    public var maxUnclaimedBytes = 2 << 30
    /// Longest a draining worker finishes the job in hand before it leaves anyway.
    public var drainTimeoutMs = 1500
    public var limits = RequestLimits()
    /// CurveZMQ on the links to coordinators: this worker's key pair and the coordinators'
    /// public key (nil: no encryption).
    public var curve: CurveClientSettings?
    /// With `curve` and a data socket: the client keys the data socket lets in (it speaks CURVE
    /// as a server, with the worker's key pair, which coordinators tell the clients they place).
    public var curveClients: Set<CurveKey>?
    public init() {}

    /// The memory this worker may use (its container's, or the machine's memory; nil: not
    /// known): a shard whose features and graph alone would not fit in it is refused `too_large`
    /// at once, rather than killing this worker and every worker given it after.
    public var memoryLimit: MemoryLimit?

    /// Keeps within `limit`: the bytes of direct transfers that overtook their jobs to a quarter
    /// of it, and no shard that cannot fit (`memoryLimit`). Returns a line saying so when the
    /// quarter is less than the setting, nil when it fits already.
    public mutating func fit(_ limit: MemoryLimit) -> String? {
        memoryLimit = limit
        guard maxUnclaimedBytes > limit.bytes / 4 else { return nil }
        maxUnclaimedBytes = limit.bytes / 4
        return "memory limit \(Units.bytes(limit.bytes)) (\(limit.source)): holding at most \(Units.bytes(maxUnclaimedBytes)) of shard bytes that came before their jobs"
    }
}
