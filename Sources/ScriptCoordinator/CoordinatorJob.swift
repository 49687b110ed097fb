import ScriptProtocol

/// One unit of a request's work on a worker.
struct CoordinatorJob {
    enum Kind: Equatable {
        /// Scores (when the request has a query), then graph pruning and the local proposal of shard `i`.
        case shard(Int)
        /// The global selection over every proposal.
        case reduce
        /// The merged kept rows of shard `i`.
        case merge(Int)
    }

    let key: Int
    let kind: Kind
    /// Where the job's bytes are filed on its worker (a fresh one each time the job moves).
    var ticket = Ticket.random()
    /// The worker holding the job.
    var holder: [UInt8]?
    /// A worker the job must go to (a merge goes where its shard's bytes are): sent there at
    /// once, whatever its credit, so it is always held; if that worker leaves, the job goes
    /// anywhere, with the bytes sent again.
    var pinned: [UInt8]?
    /// Times the job was moved after its worker died (not after one drained and left).
    var requeues = 0
    /// The processes (incarnations) lost holding it: gone silent (suspect, so it was copied, or
    /// given up) or whose connection closed. Each counted a death, taken back when that process
    /// speaks again (it was stopped, slow or cut off, or its connection was reset: not killed).
    var lostWith: [Int] = []
    /// Lost once too often: held out of the queue until `until`, a liveness after the last
    /// loss, in case that process speaks again (a pardon requeues it); then failed with `error`.
    var held: (until: ContinuousClock.Instant, error: ProtocolError)?
    /// The shard's scores arrived (it waits for weights without taking its worker's credit).
    var scored = false
    /// Its answer arrived (the job stays known until the request ends: a merge needs its holder).
    var done = false
    var dispatchedAt: ContinuousClock.Instant?
    /// When it last began to wait on its worker (sent there, or its weights known), and when
    /// that worker should have finished it by its pace, after the jobs it holds ahead of it
    /// (nil: its pace is not known).
    var waitingSince: ContinuousClock.Instant?
    var due: ContinuousClock.Instant?

    /// Whether the job needs a shard's bytes.
    var needsData: Bool { kind != .reduce }
}
