import Logging
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport

/// The worker's logic with no sockets and no threads: links to its coordinators (connect,
/// register, beat, back off, rejoin), the jobs they send, the shard bytes it holds, and which
/// job its compute thread runs next. It takes events and returns actions for its shell
/// (`Worker`) to carry out; tests drive it directly with time passed by hand.
public final class WorkerState {
    /// What the shell must do.
    public enum Action {
        /// Replace link `link`'s socket with a fresh one, connected to its endpoint.
        case open(link: Int)
        /// Close link `link`'s socket.
        case close(link: Int)
        case send(link: Int, frames: [Frame])
        /// Answer the client at `route` on the data socket (`frames` after the delimiter).
        case answer(route: [UInt8], frames: [Frame])
        /// Start `task` on the compute thread (never while another runs).
        case run(WorkerTask)
        case log(level: Logger.Level, message: String)
        /// A job is over, answered or failed (its metrics).
        case jobFinished(WorkerJobReport)
        /// Shard bytes read in place from a client's shared memory (its metric).
        case readShared(bytes: Int)
        /// Drained: the shell closes everything and exits.
        case exit
    }


    /// Work for the compute thread.
    public struct WorkerTask: Sendable {
        public let number: Int
        public let work: Work
        /// Where it runs: the compute thread, or beside it (reading a shard's bytes).
        public let lane: Lane
        /// The last steps of a reduce, once every proposal is in: its request waits on them
        /// alone, so they may use every CPU the worker may run on, not only its `threads`.
        public let wide: Bool
    }

    /// The worker's two lanes of work. Reading a shard and scoring it against the query is
    /// short, and every shard of its request waits for those scores (the weights need all of
    /// them), so it runs beside the compute thread instead of queueing behind a graph pruning.
    public enum Lane: Sendable, Equatable {
        case compute, reading
    }

    /// A task's arithmetic and its inputs.
    public enum Work: Sendable {
        /// Read and check a shard's bytes; its query scores.
        case prepare(ShardTask, ShardData)
        /// Graph pruning (no weights needed).
        case graph(ShardTask, WorkerCompute.PreparedShard)
        /// The local greedy, once the weights are known.
        case propose(ShardTask, WorkerCompute.PreparedShard, WorkerCompute.Graph, ShardData, weights: [Float], relevance: [Float]?)
        /// Take proposals into a request's global selection, and compute the cosines between
        /// proposals not yet known: a block a thread while other proposals are still to come
        /// (so the last one waits for one block's time at most), all of them once it is in.
        case absorb(GlobalSelection, [ReduceTask.Group], all: Bool, similarity: SimilarityPrecision)
        /// Select, once every proposal is in.
        case select(GlobalSelection, ReduceTask)
        case merge(MergeTask, ShardData)
    }

    /// What a task produced.
    public enum Outcome: Sendable {
        case prepared(WorkerCompute.PreparedShard, scores: [Float]?)
        case graphed(WorkerCompute.Graph)
        case absorbed(GlobalSelection)
        case proposed(ProposalMessage)
        case reduced(ReducedMessage)
        case merged(MergedMessage)
        case failed(ProtocolError)
    }

    struct JobKey: Hashable {
        let link: Int
        let epoch: Int
        let job: Int
    }

    enum Step: Equatable {
        /// Its next step waits for the coordinator (a shard's weights, a reduce's next proposals).
        case awaitingData, waiting, ready, running, done
    }

    enum Kind {
        case shard(ShardTask)
        case reduce(ReduceTask)
        case merge(MergeTask)

    }

    final class HeldJob {
        let key: JobKey
        let kind: Kind
        let ticket: Ticket?
        let deadline: ContinuousClock.Instant
        let order: Int
        var step: Step
        var prepared: WorkerCompute.PreparedShard?
        var graph: WorkerCompute.Graph?
        var weights: [Float]?
        var relevance: [Float]?
        /// A reduce: proposals taken in so far, those still to take in, and whether all came.
        var selection: GlobalSelection?
        var pendingGroups: [ReduceTask.Group] = []
        var final = false
        /// Tokens it reads (a reduce: the candidates taken in so far), and what its steps cost.
        var tokens = 0
        var cost = TaskCost()
        /// Its request ended while a step of it ran: that step is its last.
        var released = false

        init(key: JobKey, kind: Kind, ticket: Ticket?, deadline: ContinuousClock.Instant, order: Int, step: Step) {
            self.key = key; self.kind = kind; self.ticket = ticket; self.deadline = deadline; self.order = order; self.step = step
        }

        var isReduce: Bool {
            if case .reduce = kind { return true }
            return false
        }

        /// Its kind, as the metrics name it.
        var metricKind: ClusterMetrics.JobKind {
            switch kind {
            case .shard: return .shard
            case .reduce: return .reduce
            case .merge: return .merge
            }
        }

        /// Its metrics, now that it is over.
        func report(code: ErrorCode?) -> WorkerJobReport {
            WorkerJobReport(kind: metricKind, code: code?.rawValue, tokens: tokens, wall: cost.wall, cpu: cost.cpu)
        }

        /// A shard read and scored whose weights have not come: it waits on its request's other
        /// shards, wherever they are.
        var parked: Bool {
            guard case .shard(let t) = kind, prepared != nil else { return false }
            return t.query != nil && t.weights == nil && weights == nil
        }

        /// A shard not yet read whose reading is all its first step (it has a query and no
        /// weights yet): it may run on the reading lane.
        var readsOnly: Bool {
            guard case .shard(let t) = kind, prepared == nil else { return false }
            return t.query != nil && t.weights == nil
        }

        /// Which ready job runs first (lowest): a reduce's selection (its request waits on it
        /// alone), reading a shard (cheap; its request's weights wait for the scores), a
        /// shard's proposal or a merge (their requests wait on them), graph pruning, and last,
        /// taking proposals into a reduce while other shards still run (it only fills time the
        /// worker would otherwise be idle; whatever is left is taken in before the selection).
        var priority: Int {
            switch kind {
            case .reduce: return final ? 0 : 4
            case .merge: return 2
            case .shard: return prepared == nil ? 1 : graph == nil ? 3 : 2
            }
        }
    }

    struct Stored {
        var data: ShardData
        var expires: ContinuousClock.Instant
        /// The link whose job names it, if one does (unclaimed bytes are bounded in total): a
        /// coordinator that forgets its jobs takes the bytes they named with them, those of jobs
        /// done too (a shard's bytes stay for its merge).
        var link: Int?
        var claimed: Bool { link != nil }
    }

    public let config: WorkerConfiguration
    /// The endpoint clients send shard bytes to (told to coordinators).
    public let dataEndpoint: String?
    /// Drawn once for this process's life and sent in every `ready`: a coordinator that still
    /// counts an earlier process of this worker (its name and data endpoint) sees another
    /// number and lets this one take its place at once.
    public let incarnation = Int.random(in: 1...Int.max)
    let backoff: Backoff
    let random: () -> Double
    var links: [WorkerLink]
    private var held: [JobKey: HeldJob] = [:]
    private var stored: [Ticket: Stored] = [:]
    private var unclaimedBytes = 0
    /// Tickets released in the last minute, and until when they are remembered: bytes that
    /// arrive for one after its release (a request given up while its client's bytes were on the
    /// way) are dropped, not kept for a job that will never come.
    private var released: [Ticket: ContinuousClock.Instant] = [:]
    /// Tickets whose bytes came in a data message this worker could not take (a bad tensor, shared
    /// memory it cannot read), the error, and until when they are remembered: a job arriving
    /// after them fails at once.
    private var unreadable: [Ticket: (error: ProtocolError, until: ContinuousClock.Instant)] = [:]
    private var tasks: [Int: JobKey] = [:]
    private var running: Int?
    /// The task on the reading lane, if one runs.
    private var reading: Int?
    private var nextTask = 0
    private var nextOrder = 0
    public private(set) var draining = false
    private var drainDeadline: ContinuousClock.Instant?
    public private(set) var done = false
    /// Jobs answered, and refused with an error.
    public private(set) var completed = 0
    public private(set) var refused = 0
    /// Gaps of the loop said lately.
    var gaps = WarningThrottle(interval: .seconds(60))

    /// - Parameter random: values in [0, 1) for the back-off's jitter.
    public init(config: WorkerConfiguration, dataEndpoint: String?, now: ContinuousClock.Instant,
                random: @escaping () -> Double = { Double.random(in: 0..<1) }) {
        self.config = config
        self.dataEndpoint = dataEndpoint
        self.random = random
        backoff = Backoff(minMs: config.reconnectMinMs, maxMs: config.reconnectMaxMs)
        links = config.endpoints.map { WorkerLink(endpoint: $0, now: now, backoffMs: config.reconnectMinMs) }
    }

    var beat: Duration { .milliseconds(config.heartbeatMs) }
    /// The data socket's CURVE public key, when it speaks CURVE.
    var dataKey: CurveKey? { config.curveClients == nil ? nil : config.curve?.keyPair.publicKey }
    var silence: Duration { beat * config.liveness }
    /// Whether some coordinator has this worker registered.
    public var isRegistered: Bool { links.contains { $0.isConnected } }
    public var heldJobs: Int { held.values.filter { $0.step != .done }.count }
    /// Shard bytes held in this worker's own memory: not those mapped in place from a client's
    /// shared memory, whose pages are the client's (and count against its memory limit).
    public var heldBytes: Int { stored.values.reduce(0) { $0 + $1.data.byteCount - $1.data.mappedByteCount } }

    /// Opens every link.
    public func start(now: ContinuousClock.Instant) -> [Action] {
        links.indices.flatMap { i -> [Action] in
            [.open(link: i), .log(level: .info, message: "connecting to coordinator \(links[i].endpoint)")] + ready(i, now: now)
        }
    }

    func ready(_ i: Int, now: ContinuousClock.Instant) -> [Action] {
        links[i].lastSent = now
        let m = ReadyMessage(worker: config.name, credit: draining ? 0 : config.credit, dataEndpoint: dataEndpoint,
                             dataKey: dataEndpoint == nil ? nil : dataKey, threads: config.threads, blas: config.blas,
                             incarnation: incarnation, link: i, beatMs: config.heartbeatMs, memoryBytes: config.memoryLimit?.bytes,
                             bf16: config.bf16, sharedMemory: sharedBytes == nil ? nil : SharedMemoryScope.current)
        return [.send(link: i, frames: m.frames())]
    }

    // MARK: messages from coordinators

    public func linkMessage(_ i: Int, frames: [Frame], now: ContinuousClock.Instant) -> [Action] {
        guard links.indices.contains(i) else { return [] }
        let e: Envelope, type: String
        do { (e, type) = try BackendEnvelope.open(frames) } catch {
            if frames.count >= 2, frames[0].isEmpty, (try? ClusterReply.parse(Array(frames.dropFirst()))) != nil {
                return refused(i, .frontend, now: now)
            }
            if (error as? ProtocolError)?.code == .unsupportedVersion, let v = BackendEnvelope.version(frames) {
                return refused(i, .version(v), now: now)
            }
            return [.log(level: .warning, message: "unreadable message from coordinator \(links[i].endpoint): \(error)")]
        }
        // A refusal that says why is no registration; any other message of this version is.
        if type == "refused" { return refused(i, .told((try? e.string("message")) ?? "no reason given"), now: now) }
        var actions = heard(i, now: now)
        let epoch = links[i].epoch
        switch type {
        case "heartbeat":
            break
        case "disconnect":
            // The coordinator does not know us (it restarted, or took us for dead): its jobs are
            // gone; register again.
            forget(link: i, now: now)
            if !draining { actions += ready(i, now: now) }
        case ReleaseMessage.type:
            if let m = try? ReleaseMessage.parse(e, frames: frames, limits: config.limits) { release(m, link: i, now: now) }
        case WeightsMessage.type:
            actions += weights(e, frames: frames, link: i, epoch: epoch)
        case ShardTask.type, ReduceTask.type, MergeTask.type:
            actions += job(type, e, frames: frames, link: i, epoch: epoch, now: now)
        default:
            actions.append(.log(level: .warning, message: "unknown message type '\(type)' from coordinator \(links[i].endpoint)"))
        }
        return actions + schedule()
    }

    private func job(_ type: String, _ e: Envelope, frames: [Frame], link i: Int, epoch: Int, now: ContinuousClock.Instant) -> [Action] {
        guard let number = try? e.int("job") else {
            return [.log(level: .warning, message: "\(type) without a job number from \(links[i].endpoint) ignored")]
        }
        let key = JobKey(link: i, epoch: epoch, job: number)
        guard !draining else { return [] }
        if type == ReduceTask.type, let job = held[key] { return more(job, e, frames: frames) }
        let task: ParsedTask
        do {
            task = try parse(type, e, frames: frames)
            if let t = task.ticket, let bad = unreadable[t] { throw bad.error }
        } catch {
            refused += 1
            let pe = error as? ProtocolError ?? ProtocolError(.internal, "\(error)")
            let kind: ClusterMetrics.JobKind = type == ShardTask.type ? .shard : type == ReduceTask.type ? .reduce : .merge
            return [.send(link: i, frames: ShardErrorMessage(job: number, error: pe).frames()),
                    .jobFinished(WorkerJobReport(kind: kind, code: pe.code.rawValue, tokens: 0))]
        }
        hold(key, task, now: now)
        return []
    }

    /// A job message's task: its kind, the ticket its bytes come under (none for a reduce), its
    /// deadline, and its bytes when they came inline.
    private struct ParsedTask {
        let kind: Kind
        let ticket: Ticket?
        let deadlineMs: Int
        let inline: ShardData?
    }

    private func parse(_ type: String, _ e: Envelope, frames: [Frame]) throws -> ParsedTask {
        switch type {
        case ShardTask.type:
            let t = try ShardTask.parse(e, frames: frames, limits: config.limits)
            try checkMemory(t)
            return ParsedTask(kind: .shard(t), ticket: t.ticket, deadlineMs: t.deadlineMs, inline: t.data)
        case ReduceTask.type:
            let t = try ReduceTask.parse(e, frames: frames, limits: config.limits)
            return ParsedTask(kind: .reduce(t), ticket: nil, deadlineMs: config.limits.maxDeadlineMs, inline: nil)
        default:
            let t = try MergeTask.parse(e, frames: frames, limits: config.limits)
            return ParsedTask(kind: .merge(t), ticket: t.ticket, deadlineMs: t.deadlineMs, inline: t.data)
        }
    }

    /// Refuses a shard whose features and graph alone need more than this worker's memory
    /// (`too_large`), or that would not fit beside the shards it works on (`busy`: their
    /// features and the largest graph block; a coordinator sends it elsewhere, or here later).
    /// Each coordinator sends a worker only what fits beside its own jobs there; a worker that
    /// serves several coordinators is the one that sees them all. Parked shards (waiting for
    /// weights) are not counted: they wait on shards that may have to come here.
    private func checkMemory(_ t: ShardTask) throws {
        guard let limit = config.memoryLimit else { return }
        let own = Self.memoryParts(t)
        guard own.features + own.graph <= limit.bytes else {
            throw ProtocolError(.tooLarge, "a shard of \(t.rows) tokens of width \(t.cols) needs \(Units.bytes(own.features + own.graph)) at the least (its features and graph), "
                                + "more than this worker's memory limit of \(Units.bytes(limit.bytes)) (\(limit.source)): split it into smaller shards")
        }
        let beside = held.values.compactMap { job -> ShardTask? in
            guard case .shard(let h) = job.kind, !job.parked, job.step != .done else { return nil }
            return h
        }
        let need = ShardMemory.together([own] + beside.map(Self.memoryParts))
        guard need > limit.bytes else { return }
        throw ProtocolError(.busy, "no room for a shard of \(t.rows) tokens of width \(t.cols) beside the \(beside.count) this worker works on: "
                            + "\(Units.bytes(need)) at the least, more than its memory limit of \(Units.bytes(limit.bytes)) (\(limit.source))")
    }

    private static func memoryParts(_ t: ShardTask) -> (features: Int, graph: Int) {
        ShardMemory.parts(tokens: t.rows, width: t.cols, options: t.options, unitTokens: t.unitTokens,
                          float32Read: WorkerCompute.scoredByFeatures(t))
    }

    /// Holds a new job: its bytes filed (or awaited), its first step ready, waiting or awaiting data.
    private func hold(_ key: JobKey, _ task: ParsedTask, now: ContinuousClock.Instant) {
        let deadline = now + .milliseconds(task.deadlineMs)
        if let ticket = task.ticket, let inline = task.inline { store(inline, under: ticket, link: key.link, expires: deadline) }
        let hasData = task.ticket.map { stored[$0] != nil } ?? true
        if let ticket = task.ticket, hasData { stored[ticket]!.claim(by: key.link, until: deadline, unclaimedBytes: &unclaimedBytes) }
        nextOrder += 1
        let job = HeldJob(key: key, kind: task.kind, ticket: task.ticket, deadline: deadline, order: nextOrder,
                          step: hasData ? .ready : .awaitingData)
        held[key] = job
        switch task.kind {
        case .shard(let t):
            job.tokens = t.rows
            if let w = t.weights {
                job.weights = w
                job.relevance = t.relevance
            }
        case .merge(let t):
            job.tokens = t.rows
        case .reduce(let t):
            job.selection = GlobalSelection(candidateBound: t.candidateBound)
            job.pendingGroups = t.groups
            job.tokens = Self.candidates(t.groups)
            job.final = t.final
            if t.groups.isEmpty && !t.final { job.step = .waiting }
        }
    }

    /// More proposals for a reduce in hand.
    private func more(_ job: HeldJob, _ e: Envelope, frames: [Frame]) -> [Action] {
        guard job.step != .done, let t = try? ReduceTask.parse(e, frames: frames, limits: config.limits) else { return [] }
        job.pendingGroups += t.groups
        job.tokens += Self.candidates(t.groups)
        job.final = job.final || t.final
        if job.step == .waiting { job.step = .ready }
        return []
    }

    private static func candidates(_ groups: [ReduceTask.Group]) -> Int {
        groups.reduce(0) { $0 + $1.proposal.indices.count }
    }

    private func weights(_ e: Envelope, frames: [Frame], link i: Int, epoch: Int) -> [Action] {
        guard let m = try? WeightsMessage.parse(e, frames: frames, limits: config.limits),
              let job = held[JobKey(link: i, epoch: epoch, job: m.job)], case .shard(let t) = job.kind else { return [] }
        guard m.weights.count == t.rows else {
            job.step = .done
            return [.send(link: i, frames: ShardErrorMessage(job: m.job, error: ProtocolError(.badShape, "\(m.weights.count) weights for \(t.rows) tokens")).frames()),
                    .jobFinished(job.report(code: .badShape))]
        }
        job.weights = m.weights
        job.relevance = m.relevance
        if job.step == .waiting { job.step = .ready }
        return []
    }

    private func release(_ m: ReleaseMessage, link i: Int, now: ContinuousClock.Instant) {
        for t in m.tickets { letGo(t, now: now) }
        let gone = Set(m.tickets), numbers = Set(m.jobs)
        // The request is over: its jobs go, not at their deadline with their rows held and steps
        // still to compute (one running ends with the step it runs; its answer is not sent).
        for job in held.values where job.key.link == i && job.key.epoch == links[i].epoch
            && (numbers.contains(job.key.job) || job.ticket.map(gone.contains) == true) {
            if job.step == .running { job.released = true } else { job.step = .done }
        }
    }

    /// Bytes under ticket `t` go, and those that arrive for it in the next minute are dropped.
    private func letGo(_ t: Ticket, now: ContinuousClock.Instant) {
        released[t] = now + .seconds(60)
        if let s = stored.removeValue(forKey: t), !s.claimed { unclaimedBytes -= s.data.byteCount }
    }

    /// Jobs of link `i` are forgotten (their coordinator forgot them: it gave this worker up
    /// and moved them, under new tickets, or it restarted), and the bytes they named with them,
    /// those of jobs done too: no job names those tickets again. (They were kept until the
    /// jobs' deadlines: a worker given up after a pause, or whose coordinator restarted, held
    /// every shard it had for up to the requests' whole deadlines.)
    func forget(link i: Int, now: ContinuousClock.Instant) {
        links[i].epoch += 1
        for (t, s) in stored where s.link == i { letGo(t, now: now) }
        for (key, job) in held where key.link == i {
            if let t = job.ticket { letGo(t, now: now) }  // bytes still on their way
            if job.step != .running { held[key] = nil }
        }
    }

    // MARK: bytes from clients

    /// A message on the data socket from the client at `route` (frames after the delimiter):
    /// shard bytes, or a request meant for a coordinator (answered with where to send it).
    public func dataMessage(route: [UInt8] = [], frames: [Frame], now: ContinuousClock.Instant) -> [Action] {
        let m: DataMessage
        var ticket: Ticket?
        do {
            guard let first = frames.first else { throw ProtocolError(.badMessage, "empty message") }
            let e = try Envelope.decode(first)
            let type = try ProtocolVersion.check(e)
            if Self.requestTypes.contains(type) { return coordinatorsRequest(route: route, e) }
            guard type == "data" else { throw ProtocolError(.unknownType, "the data socket takes data messages only") }
            ticket = try? e.ticket("ticket")
            m = try DataMessage.parse(e, frames: frames, limits: config.limits, shared: sharedBytes)
        } catch {
            refused += 1
            // Bytes named by their ticket but unreadable: their job fails saying why, not at its deadline.
            guard let ticket, let reason = Self.unreadable(error) else {
                return [.log(level: .warning, message: "bad data message refused: \(error)")]
            }
            return unreadable(ticket, reason, now: now)
        }
        let shared = m.data.mappedByteCount
        return (shared > 0 ? [.readShared(bytes: shared)] : []) + file(m, now: now)
    }

    /// Files the bytes of `m` for the jobs waiting for them, or for one to come.
    private func file(_ m: DataMessage, now: ContinuousClock.Instant) -> [Action] {
        let waiting = held.values.filter { $0.ticket == m.ticket && $0.step == .awaitingData }
        if let job = waiting.first {
            do { try Self.check(m.data, for: job.kind) } catch {
                return failed([job], error as? ProtocolError ?? ProtocolError(.badShape, "\(error)"))
            }
            store(m.data, under: m.ticket, link: job.key.link, expires: job.deadline)
            for j in waiting { j.step = .ready }
            return schedule()
        }
        if released[m.ticket] != nil { return [.log(level: .debug, message: "bytes for a released ticket dropped")] }
        store(m.data, under: m.ticket, link: nil, expires: now + .seconds(30))
        return []
    }

    /// Reads tensors named in a client's shared memory, in place, where this worker's data socket
    /// is a Unix socket (its clients run on this host); elsewhere they are refused.
    private var sharedBytes: TensorCodec.SharedBytes? {
        guard config.dataBind?.hasPrefix("ipc://") == true else { return nil }
        return { @Sendable reference, count in try Frame.mapping(reference, count: count) }
    }

    /// Why a data message's bytes could not be taken, as the error their job fails with (nil for
    /// what is not about the bytes).
    private static func unreadable(_ error: Error) -> ProtocolError? {
        if let e = error as? SharedMemoryError { return ProtocolError(.unreadableSharedMemory, "the client's shared memory could not be read: \(e)") }
        return error as? ProtocolError
    }

    /// Bytes for `ticket` that could not be read: the jobs waiting for them fail with `error`, and
    /// a job that comes for them later fails at once (unless good bytes for it came first).
    private func unreadable(_ ticket: Ticket, _ error: ProtocolError, now: ContinuousClock.Instant) -> [Action] {
        let waiting = held.values.filter { $0.ticket == ticket && $0.step == .awaitingData }
        guard waiting.isEmpty else { return failed(waiting, error) }
        guard stored[ticket] == nil else { return [.log(level: .warning, message: "bad data message refused: \(error.message)")] }
        // Bounded: a client that sends bad bytes for tickets no job names fills it no further.
        if unreadable.count < Self.maxUnreadable { unreadable[ticket] = (error, now + .seconds(30)) }
        return [.log(level: .warning, message: "bytes for a job to come refused: \(error.message)")]
    }

    /// Tickets of unreadable bytes remembered at once, at most.
    static let maxUnreadable = 4096

    /// Ends `jobs` (waiting for the same bytes) with `error`, told to their coordinators.
    private func failed(_ jobs: [HeldJob], _ error: ProtocolError) -> [Action] {
        jobs.flatMap { job -> [Action] in
            job.step = .done
            return [.send(link: job.key.link, frames: ShardErrorMessage(job: job.key.job, error: error).frames()),
                    .jobFinished(job.report(code: error.code))]
        }
    }

    /// Checks that bytes sent for a job are the shape the job expects.
    static func check(_ data: ShardData, for kind: Kind) throws {
        switch kind {
        case .shard(let t): try t.check(data)
        case .merge(let t):
            let f = data.features
            guard f.rows == t.rows, f.cols == t.cols, f.dtype == t.dtype else {
                throw ProtocolError(.badShape, "merge data is \(f.rows) x \(f.cols) \(f.dtype.rawValue), expected \(t.rows) x \(t.cols) \(t.dtype.rawValue)")
            }
        case .reduce: break
        }
    }

    /// What clients send a coordinator's frontend.
    private static let requestTypes: Set<String> = ["prune", "status", CancelMessage.type]

    /// A request meant for a coordinator (the client was given this data socket's endpoint):
    /// answered at once with an error saying so, where the client would wait out its tries.
    private func coordinatorsRequest(route: [UInt8], _ e: Envelope) -> [Action] {
        let id = (try? e.string("id")) ?? ""
        let error = ProtocolError(.badRequest, "this is a worker's data socket, where clients send shard bytes: requests go to a coordinator's frontend (--frontend)")
        return [.log(level: .warning, message: "a client's request reached the data socket: requests go to a coordinator; told it so"),
                .answer(route: route, frames: ClusterReply.error(id: id, error).frames())]
    }

    private func store(_ data: ShardData, under ticket: Ticket, link: Int?, expires: ContinuousClock.Instant) {
        if let old = stored[ticket], !old.claimed { unclaimedBytes -= old.data.byteCount }
        stored[ticket] = Stored(data: data, expires: expires, link: link)
        guard link == nil else { return }
        unclaimedBytes += data.byteCount
        while unclaimedBytes > config.maxUnclaimedBytes,
              let oldest = stored.filter({ !$0.value.claimed }).min(by: { $0.value.expires < $1.value.expires })?.key {
            unclaimedBytes -= stored.removeValue(forKey: oldest)!.data.byteCount
        }
    }

    // MARK: compute

    /// Starts the next ready jobs: a shard to read on the reading lane when it is free, and the
    /// next job by priority on the compute thread when it is free.
    private func schedule() -> [Action] {
        guard !draining else { return [] }
        var actions: [Action] = []
        if reading == nil, let job = held.values.filter({ $0.step == .ready && $0.readsOnly }).min(by: { $0.order < $1.order }) {
            actions += start(job, lane: .reading)
        }
        if running == nil, let job = held.values.filter({ $0.step == .ready }).min(by: { ($0.priority, $0.order) < ($1.priority, $1.order) }) {
            actions += start(job, lane: .compute)
        }
        return actions
    }

    /// Hands `job`'s next step to `lane`.
    private func start(_ job: HeldJob, lane: Lane) -> [Action] {
        let work: Work
        switch job.kind {
        case .reduce(let t):
            guard let selection = job.selection else { return [] }
            if !job.pendingGroups.isEmpty || (!job.final && selection.pendingBlocks > 0) {
                work = .absorb(selection, job.pendingGroups, all: job.final, similarity: t.similarity)
                job.pendingGroups = []
            } else {
                var last = t
                last.groups = []
                work = .select(selection, last)
            }
        case .merge(let t):
            guard let data = job.ticket.flatMap({ stored[$0]?.data }) else { return lost(job) }
            work = .merge(t, data)
        case .shard(let t):
            guard let data = job.ticket.flatMap({ stored[$0]?.data }) else { return lost(job) }
            if let p = job.prepared, let g = job.graph, let w = job.weights {
                work = .propose(t, p, g, data, weights: w, relevance: job.relevance)
            } else if let p = job.prepared {
                work = .graph(t, p)
            } else {
                work = .prepare(t, data)
            }
        }
        nextTask += 1
        tasks[nextTask] = job.key
        if lane == .compute { running = nextTask } else { reading = nextTask }
        job.step = .running
        return [.run(WorkerTask(number: nextTask, work: work, lane: lane, wide: job.isReduce && job.final))]
    }

    /// A job whose bytes expired before it ran.
    private func lost(_ job: HeldJob) -> [Action] {
        job.step = .done
        let e = ProtocolError(.timeout, "the shard's bytes expired before job \(job.key.job) ran")
        return [.send(link: job.key.link, frames: ShardErrorMessage(job: job.key.job, error: e).frames()),
                .jobFinished(job.report(code: .timeout))] + schedule()
    }

    /// A task's outcome (from the compute thread, through the shell), and what it cost.
    public func taskFinished(_ number: Int, _ outcome: Outcome, cost: TaskCost = TaskCost(), now: ContinuousClock.Instant) -> [Action] {
        if running == number { running = nil }
        if reading == number { reading = nil }
        guard let key = tasks.removeValue(forKey: number), let job = held[key] else { return schedule() + drained(now: now) }
        job.cost.wall += cost.wall
        job.cost.cpu += cost.cpu
        guard key.epoch == links[key.link].epoch, !job.released else {
            // Its coordinator forgot the job, or its request ended, while it ran: the answer goes nowhere.
            held[key] = nil
            return schedule() + drained(now: now)
        }
        var actions: [Action] = []
        let i = key.link
        switch outcome {
        case .prepared(let shard, let scores):
            job.prepared = shard
            if let scores, case .shard(let t) = job.kind, let q = t.query {
                actions.append(.send(link: i, frames: ScoresMessage(job: key.job, scores: scores, rows: t.rows, queryTokens: q.rows).frames()))
            }
            job.step = .ready
        case .absorbed(let selection):
            job.selection = selection
            job.step = job.pendingGroups.isEmpty && !job.final && selection.pendingBlocks == 0 ? .waiting : .ready
        case .graphed(let g):
            job.graph = g
            job.step = job.weights == nil ? .waiting : .ready
        case .proposed(var m):
            // The whole job's compute (reading, graph, proposal), which the coordinator paces
            // this worker by, not only the last step's.
            m.computeMs = ms(job.cost.wall)
            actions += finish(job, m.frames())
        case .reduced(let m): actions += finish(job, m.frames())
        case .merged(let m): actions += finish(job, m.frames())
        case .failed(let e):
            refused += 1
            job.step = .done
            actions.append(.send(link: i, frames: ShardErrorMessage(job: key.job, error: e).frames()))
            actions.append(.jobFinished(job.report(code: e.code)))
        }
        if actions.contains(where: { if case .send = $0 { return true }; return false }) { links[i].lastSent = now }
        return actions + schedule() + drained(now: now)
    }

    private func finish(_ job: HeldJob, _ frames: [Frame]) -> [Action] {
        completed += 1
        job.step = .done
        job.prepared = nil
        job.graph = nil
        job.selection = nil
        return [.send(link: job.key.link, frames: frames), .jobFinished(job.report(code: nil))]
    }

    // MARK: time

    /// Beats, silences, back-offs, expiries, and the end of a drain.
    public func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for i in links.indices { actions += tickLink(i, now: now) }
        for (t, s) in stored where now > s.expires {
            stored[t] = nil
            if !s.claimed { unclaimedBytes -= s.data.byteCount }
        }
        released = released.filter { now <= $0.value }
        unreadable = unreadable.filter { now <= $0.value.until }
        for (key, job) in held where job.step == .done || (job.step != .running && now > job.deadline + .seconds(5)) {
            held[key] = nil
        }
        return actions + schedule() + drained(now: now)
    }

    /// Stop taking jobs: credit 0 to every coordinator, finish the job in hand (for at most the
    /// drain timeout), then say goodbye; coordinators move what is left to other workers.
    public func beginDrain(now: ContinuousClock.Instant) -> [Action] {
        guard !draining else { return [] }
        draining = true
        drainDeadline = now + .milliseconds(config.drainTimeoutMs)
        var actions: [Action] = [.log(level: .info, message: "draining: \(heldJobs) jobs held, \([running, reading].compactMap { $0 }.count) running")]
        for i in links.indices where links[i].isConnected { actions += ready(i, now: now) }
        return actions + drained(now: now)
    }

    private func drained(now: ContinuousClock.Instant) -> [Action] {
        guard draining, !done, (running == nil && reading == nil) || now >= drainDeadline! else { return [] }
        done = true
        var actions: [Action] = []
        for i in links.indices where links[i].isConnected { actions.append(.send(link: i, frames: BackendEnvelope.bare("disconnect"))) }
        return actions + [.log(level: .info, message: "worker \(config.name) leaving: \(completed) jobs done, \(refused) refused"), .exit]
    }
}

extension WorkerState.Stored {
    /// A job of `link` names these bytes: they now live until its deadline.
    mutating func claim(by link: Int, until deadline: ContinuousClock.Instant, unclaimedBytes: inout Int) {
        if !claimed { unclaimedBytes -= data.byteCount }
        self.link = link
        expires = max(expires, deadline)
    }
}
