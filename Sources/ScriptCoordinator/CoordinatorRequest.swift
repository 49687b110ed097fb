import ScriptCore
import ScriptProtocol
import ScriptTransport

/// A request in flight at the coordinator: what came in, and how far each of its jobs is.
final class CoordinatorRequest {
    let key: Int
    let submission: ReceivedSubmission
    var routes: [[UInt8]]
    let received: ContinuousClock.Instant
    let deadline: ContinuousClock.Instant
    /// Bytes the coordinator holds for it (inline transfers).
    let bytes: Int
    /// What it asks: a message with its id and another fingerprint is another request.
    let fingerprint: RequestFingerprint

    /// Job number of each shard, of the reduce, of each shard's merge.
    var shardJobs: [Int] = []
    var reduceJob: Int?
    var mergeJobs: [Int] = []
    /// Copies of straggling shard jobs, by shard: the first of the two to answer stays
    /// (`shardJobs` then names it), the other is let go.
    var hedges: [Int: Int] = [:]
    /// Shards one of whose two copies failed on its worker: the other goes on alone, and none is
    /// copied again (a worker that fails each copy would be given copies on and on).
    var copyFailed: Set<Int> = []
    /// Tickets whose placements named their worker's shared-memory scope (the client may name
    /// its memory to it rather than send the bytes).
    var sharedTickets: Set<Ticket> = []

    /// Every shard's scores (rows x query tokens), relevance and weights of every token.
    var scores: [[Float]?]
    var scoresIn = 0
    var relevance: [Float]?
    var weights: [Float]?

    var proposals: [ProposalMessage?]
    var proposalsIn = 0
    /// Shards whose proposals the reduce job's current worker has.
    var reduceSent: Set<Int> = []
    var kept: [Int]?
    var keptRows: WireTensor?
    var merged: [WireTensor?] = []
    var mergedIn = 0

    var workers: Set<String> = []
    /// Workers' data endpoints its clients cannot reach (direct transfers): none of its shards go there.
    var avoid: Set<String>
    var firstDispatch: ContinuousClock.Instant?
    /// Time this coordinator did not run since then (`CoordinatorState.resumed`): not its workers'
    /// time, so left out of what requests take from start to answer.
    var paused: Duration = .zero
    var shardsDone: ContinuousClock.Instant?
    var reduceDone: ContinuousClock.Instant?

    init(key: Int, submission: ReceivedSubmission, route: [UInt8], received: ContinuousClock.Instant,
         deadline: ContinuousClock.Instant, bytes: Int, fingerprint: RequestFingerprint) {
        self.key = key
        self.submission = submission
        routes = [route]
        self.received = received
        self.deadline = deadline
        self.bytes = bytes
        self.fingerprint = fingerprint
        avoid = submission.avoid
        scores = Array(repeating: nil, count: submission.shards.count)
        proposals = Array(repeating: nil, count: submission.shards.count)
    }

    var id: String { submission.id }
    var shards: [Range<Int>] { submission.shards }
    var keepsAll: Bool { submission.budget >= submission.tokenCount }
    var allProposed: Bool { proposalsIn == shards.count }
    /// The tokens the shards proposed so far: what the reduce selects among.
    var candidates: Set<Int> { Set(proposals.flatMap { $0?.indices ?? [] }) }

    /// Waiting for a worker (it was not started when it came) with less time left than twice
    /// `startToAnswer`, what a request of its size takes here from start to answer: started
    /// now, it would most likely be answered after its client gave up.
    func tooLateToStart(now: ContinuousClock.Instant, startToAnswer: Duration) -> Bool {
        firstDispatch == nil && now > received && deadline - now < startToAnswer * 2
    }

    /// Whether a job of this request that needs its bytes may go to `worker`: a direct transfer's
    /// only to a worker with a data socket its clients can reach.
    func canSendData(to worker: WorkerEntry) -> Bool {
        guard submission.transfer == .direct else { return true }
        guard let endpoint = worker.dataEndpoint else { return false }
        return canSendData(to: endpoint)
    }

    /// Whether its cosines are computed from bfloat16 products (only workers that have them may
    /// take its jobs).
    var needsBFloat16: Bool { submission.options.similarity == .bf16 }

    /// Whether a direct transfer's bytes may go to the data socket at `endpoint`.
    func canSendData(to endpoint: String) -> Bool {
        submission.transfer != .direct || !avoid.contains(endpoint)
    }

    /// What its times are kept apart by (`WorkKind`).
    var workKind: WorkKind { WorkKind(submission.options) }

    /// Bytes shard `s` holds at the least while a worker prunes it (`ShardMemory`: what the
    /// worker checks against its memory limit).
    func leastBytes(shard s: Int) -> Int {
        let p = memoryParts(shard: s)
        return p.features + p.graph
    }

    /// `leastBytes(shard:)` in its parts: the features, and the graph's block (`ShardMemory.parts`).
    func memoryParts(shard s: Int) -> (features: Int, graph: Int) {
        // As the worker decodes it before its weights are known: the relevance reads the
        // features' float32 values where there is a query and no separate embeddings.
        ShardMemory.parts(tokens: shards[s].count, width: submission.features.cols, options: submission.options,
                          unitTokens: submission.unitTokens, float32Read: submission.query != nil && submission.embeddings == nil)
    }

    /// The reduce's view of shard `s`'s proposal.
    func reduceGroup(_ s: Int) -> ReduceTask.Group {
        let p = proposals[s]!
        return ReduceTask.Group(proposal: p, weights: p.indices.map { weights![$0] })
    }

    /// The shard's weights and relevance, once known.
    func weights(of shard: Int) -> (weights: [Float], relevance: [Float]?)? {
        guard let weights else { return nil }
        let r = shards[shard]
        return (Array(weights[r]), relevance.map { Array($0[r]) })
    }
}
