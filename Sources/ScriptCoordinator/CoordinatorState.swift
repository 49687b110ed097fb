import Logging
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport
import ScriptWire

/// The coordinator's logic with no sockets and no threads: it takes events (messages, the
/// passing of time) and returns actions for its shell to carry out. Tests drive it directly;
/// `Coordinator` runs it over ZeroMQ.
///
/// The coordinator routes and schedules; workers do the arithmetic. A request becomes one job
/// per shard (scores, then graph pruning and a local proposal), one `reduce` job (the global
/// selection), and for return mode `merged` one merge job per shard. The only arithmetic here
/// is turning every shard's query scores into the request's weights (a few operations a score).
public final class CoordinatorState {
    /// What the shell must do.
    public enum Action {
        /// Send frames (after the empty delimiter) to a client.
        case toClient(route: [UInt8], frames: [Frame])
        /// Send frames to a worker.
        case toWorker(identity: [UInt8], frames: [Frame])
        /// A request is over (answered or failed): for the access log and the metrics.
        case finished(AccessRecord)
        /// A worker answered a job `roundTrip` after it was sent (the job latency metric).
        case jobAnswered(ClusterMetrics.JobKind, roundTrip: Duration)
        /// A worker left the pool: why, and how many of the jobs it held went back to the queue.
        case workerLeft(ClusterMetrics.DepartureReason, requeued: Int)
        /// Jobs went back to the queue from workers that stay (a client cannot reach their data sockets).
        case jobsMoved(ClusterMetrics.RequeueReason, count: Int)
        /// A copy of a straggling shard job was sent, or one of the two let go.
        case hedged(ClusterMetrics.HedgeOutcome)
        /// Something worth a log line.
        case log(level: Logger.Level, message: String)
    }


    public let config: CoordinatorConfiguration
    var workers: [[UInt8]: WorkerEntry] = [:]
    var requests: [Int: CoordinatorRequest] = [:]
    var keyOfID: [String: Int] = [:]
    var jobs: [Int: CoordinatorJob] = [:]
    var queue = JobQueue()
    private var nextKey = 0
    private var nextJob = 0
    var assignments: UInt64 = 0
    /// When the drain began.
    var drainStarted: ContinuousClock.Instant?
    private var inFlightBytes = 0
    private var cache: ResultCache
    public internal(set) var draining = false
    public private(set) var served = 0
    public private(set) var failed = 0
    /// Jobs moved to another worker after theirs died.
    public internal(set) var requeues = 0
    /// What requests answered lately took from start to answer, by kind.
    var startToAnswer: [WorkKind: TokenPace] = [:]
    /// When a request waiting for a worker was last ended as too late to start (`shedLate`):
    /// for a second after it, requests not started yet start most time left first (`dispatchOrder`).
    var lastShed: ContinuousClock.Instant?
    /// What reduces took lately from their last proposal to their answer, a candidate token, by kind.
    var reduceTail: [WorkKind: TokenPace] = [:]
    /// Worker processes a restart of theirs replaced.
    var replaced = ReplacedProcesses()
    /// Gaps of the loop said lately.
    var gaps = WarningThrottle(interval: .seconds(60))
    /// Data endpoints of workers that left lately.
    var departed: DepartedEndpoints

    /// A coordinator started at `now`.
    public init(config: CoordinatorConfiguration, now: ContinuousClock.Instant) {
        self.config = config
        departed = DepartedEndpoints(started: now, joining: .milliseconds(config.heartbeatMs) * config.liveness)
        cache = ResultCache(maxEntries: config.resultCache, maxBytes: config.resultCacheBytes)
    }

    var heartbeat: Duration { .milliseconds(config.heartbeatMs) }
    public var workerCount: Int { workers.count }
    /// Workers suspect at `now` (`isSuspect`).
    public func silentWorkerCount(now: ContinuousClock.Instant) -> Int { workers.keys.filter { isSuspect($0, now: now) }.count }
    public var requestsInFlight: Int { requests.count }
    public var queuedJobs: Int { queue.count }
    /// Answers kept for retried ids, and their bytes.
    public var cacheStatistics: (entries: Int, bytes: Int) { (cache.count, cache.bytes) }
    /// Draining and nothing left to do.
    public var isDrained: Bool { draining && requests.isEmpty }

    // MARK: clients

    /// A client's message as arrays (tests, tools).
    public func clientMessage(route: [UInt8], frames: [[UInt8]], now: ContinuousClock.Instant) -> [Action] {
        clientMessage(route: route, frames: frames.map(Frame.init), now: now)
    }

    public func clientMessage(route: [UInt8], frames: [Frame], now: ContinuousClock.Instant) -> [Action] {
        if frames.first?.isEmpty == false, let (_, type) = try? BackendEnvelope.open(frames) { return workerOnFrontend(route: route, type: type) }
        guard frames.count >= 2, frames[0].isEmpty else {
            return reject(route: route, id: "", ProtocolError(.badMessage, "expected an empty delimiter frame, then the envelope"))
        }
        let payload = Array(frames.dropFirst())
        let total = payload.reduce(0) { $0 + $1.count }
        let envelope: Envelope
        do { envelope = try Envelope.decode(payload[0]) } catch {
            return reject(route: route, id: "", error as? ProtocolError ?? ProtocolError(.badMessage, "\(error)"))
        }
        let id = (try? envelope.string("id")) ?? ""
        let type: String
        do { type = try ProtocolVersion.check(envelope) } catch {
            return reject(route: route, id: id, error as? ProtocolError ?? ProtocolError(.badMessage, "\(error)"))
        }
        guard envelope.has("id"), !id.isEmpty, id.utf8.count <= 128 else {
            return reject(route: route, id: id, ProtocolError(.badRequest, "field 'id' must be a string of 1 to 128 bytes"))
        }
        switch type {
        case "status":
            return [.toClient(route: route, frames: ClusterReply.status(status(id: id)).frames())]
        case CancelMessage.type:
            do { return cancel(try CancelMessage.parse(envelope), route: route, now: now) } catch {
                return reject(route: route, id: id, error as? ProtocolError ?? ProtocolError(.badRequest, "\(error)"))
            }
        case "prune":
            guard total <= config.maxMessageBytes else {
                return reject(route: route, id: id, ProtocolError(.tooLarge, "the message holds \(Units.bytes(total)), the limit is \(Units.bytes(config.maxMessageBytes))"))
            }
            return prune(route: route, id: id, envelope: envelope, frames: payload, now: now)
        default:
            return reject(route: route, id: id, ProtocolError(.unknownType, "unknown message type '\(type)'; clients send prune, status or cancel"))
        }
    }

    /// The counters a `status` message answers.
    public func status(id: String) -> ClusterStatus {
        ClusterStatus(id: id, workers: workers.count, queuedShards: queue.count, requestsInFlight: requests.count,
                      served: served, failed: failed, maxMessageBytes: config.maxMessageBytes, draining: draining)
    }

    private func prune(route: [UInt8], id: String, envelope: Envelope, frames: [Frame], now: ContinuousClock.Instant) -> [Action] {
        let fingerprint = RequestFingerprint(envelope: envelope, frames: frames)
        if let cached = cache[id] {
            return cached.fingerprint == fingerprint ? [.toClient(route: route, frames: cached.frames)] : reused(id, route: route)
        }
        if let key = keyOfID[id], let r = requests[key] {
            return r.fingerprint == fingerprint ? retried(r, route: route, envelope: envelope, now: now) : reused(id, route: route)
        }
        if draining { return reject(route: route, id: id, ProtocolError(.shuttingDown, "the coordinator is draining; retry on another")) }
        let submission: ReceivedSubmission
        do { submission = try ReceivedSubmission.parse(envelope, frames: frames, limits: config.limits) } catch {
            return reject(route: route, id: id, error as? ProtocolError ?? ProtocolError(.internal, "\(error)"))
        }
        let bytes = frames.reduce(0) { $0 + $1.count }
        guard bytes <= config.maxInFlightBytes else {
            return reject(route: route, id: id, ProtocolError(.tooLarge, "the request's \(Units.bytes(bytes)) are more than this coordinator holds at once (\(Units.bytes(config.maxInFlightBytes))): send it direct"))
        }
        guard requests.count < config.maxRequests, inFlightBytes + bytes <= config.maxInFlightBytes else {
            return reject(route: route, id: id, ProtocolError(.busy, "\(requests.count) requests (\(Units.bytes(inFlightBytes))) in flight; retry later"))
        }
        let deadline = now + .milliseconds(submission.deadlineMs ?? config.defaultDeadlineMs)
        let r = CoordinatorRequest(key: nextKey, submission: submission, route: route, received: now, deadline: deadline, bytes: bytes,
                                   fingerprint: fingerprint)
        nextKey += 1
        requests[r.key] = r
        keyOfID[id] = r.key
        inFlightBytes += bytes
        if r.keepsAll {
            r.kept = Array(0..<submission.tokenCount)
            if submission.returnMode == .indices { return complete(r, now: now) }
            startMerges(r)
        } else {
            if submission.query == nil {
                // No query: every weight is 1, known before any shard runs.
                r.weights = [Float](repeating: 1, count: submission.tokenCount)
            }
            for s in submission.shards.indices { r.shardJobs.append(addJob(CoordinatorJob(key: r.key, kind: .shard(s)))) }
        }
        if let e = unplaceable(r, now: now) { return fail(r, e, now: now) }
        return dispatch(now: now)
    }

    /// An id in flight or answered, sent for another request (other fields, shapes or inline
    /// bytes): refused, where it was answered with the other request's answer.
    private func reused(_ id: String, route: [UInt8]) -> [Action] {
        reject(route: route, id: id, ProtocolError(.badRequest, "request id '\(id)' names another request, sent before with other fields or other bytes: give each request an id of its own (a try of the same request sends it unchanged)"))
    }

    /// The same id again while it is in flight: a client that joins it, one that lost its
    /// placements (a direct transfer's are sent again), or one that names data endpoints it
    /// cannot reach (`avoid`: the shards waiting there for their bytes move).
    private func retried(_ r: CoordinatorRequest, route: [UInt8], envelope: Envelope, now: ContinuousClock.Instant) -> [Action] {
        if !r.routes.contains(route) { r.routes.append(route) }
        let avoid: Set<String>
        do { avoid = try ReceivedSubmission.readAvoid(envelope, transfer: r.submission.transfer) } catch {
            return reject(route: route, id: r.id, error as? ProtocolError ?? ProtocolError(.internal, "\(error)"))
        }
        guard avoid.isSubset(of: r.avoid) else { return move(r, off: avoid.subtracting(r.avoid), now: now) }
        return [.log(level: .debug, message: "request \(r.id) retried while in flight")] + replacements(r)
    }

    /// A client cannot reach the data sockets at `endpoints`: the request's jobs waiting there
    /// for their bytes are let go (`release`) and go back to the head of the queue, for others.
    private func move(_ r: CoordinatorRequest, off endpoints: Set<String>, now: ContinuousClock.Instant) -> [Action] {
        r.avoid.formUnion(endpoints)
        var actions: [Action] = []
        var moved: [Int] = []
        for number in r.shardJobs + r.hedges.values.sorted() + r.mergeJobs {
            guard var job = jobs[number], !job.done, !job.scored, job.pinned == nil, let holder = job.holder,
                  let worker = workers[holder], !r.canSendData(to: worker) else { continue }
            actions.append(.toWorker(identity: holder, frames: ReleaseMessage(tickets: [job.ticket], jobs: [number]).frames()))
            workers[holder]!.jobs.remove(number)
            if hedgeOutlives(number, of: r) { continue }
            job.holder = nil
            job.ticket = Ticket.random()
            jobs[number] = job
            moved.append(number)
        }
        queue.requeue(moved)
        actions.insert(.log(level: .info, message: "request \(r.id): its client cannot reach \(endpoints.sorted().joined(separator: ", ")); \(moved.count) jobs moved"), at: 0)
        if !moved.isEmpty { actions.append(.jobsMoved(.dataUnreachable, count: moved.count)) }
        if let e = unplaceable(r, now: now) { return actions + fail(r, e, now: now) }
        return actions + dispatch(now: now)
    }

    /// Fails the requests that waited for a worker and now cannot be served (the first workers to
    /// join take no direct transfers, compute no bfloat16 products, or are all too small for a shard).
    func failUnplaceable(now: ContinuousClock.Instant) -> [Action] {
        requests.values.sorted { $0.key < $1.key }.flatMap { r in unplaceable(r, now: now).map { fail(r, $0, now: now) } ?? [] }
    }

    /// Fails the direct requests that waited for a worker their clients reach, once none has
    /// joined or come back in time (`departed`).
    func failUnreachable(now: ContinuousClock.Instant) -> [Action] {
        let waiting = requests.values.filter { $0.submission.transfer == .direct && !$0.avoid.isEmpty }.sorted { $0.key < $1.key }
        return waiting.flatMap { r in unsendable(r, now: now).map { fail(r, $0, now: now) } ?? [] }
    }

    /// Why a request cannot be served by the workers there, if so.
    private func unplaceable(_ r: CoordinatorRequest, now: ContinuousClock.Instant) -> ProtocolError? {
        noBFloat16Worker(r, now: now) ?? tooLargeForEveryWorker(r) ?? unsendable(r, now: now)
    }

    /// Fails the requests in similarity bf16 that waited for a worker with bfloat16 products, once
    /// none has joined or come back in time (`departed`).
    func failWithoutBFloat16(now: ContinuousClock.Instant) -> [Action] {
        let waiting = requests.values.filter(\.needsBFloat16).sorted { $0.key < $1.key }
        return waiting.flatMap { r in noBFloat16Worker(r, now: now).map { fail(r, $0, now: now) } ?? [] }
    }

    /// Why a request in similarity bf16 cannot be served, if so: workers are there, none of
    /// them said it computes bfloat16 products, and none that did may be about to join (the
    /// coordinator has heard from every worker since it started, and none with them left
    /// lately: a restarted one registers again in a beat or two). With no worker, it waits for
    /// one to join.
    private func noBFloat16Worker(_ r: CoordinatorRequest, now: ContinuousClock.Instant) -> ProtocolError? {
        guard r.needsBFloat16, !workers.isEmpty, !workers.values.contains(where: { $0.bf16 != nil }),
              !departed.bfloat16WorkerMayJoin(now: now) else { return nil }
        let none = workers.count == 1 ? "the only worker does not compute them" : "none of the \(workers.count) workers computes them"
        return ProtocolError(.badOption, "options.similarity 'bf16' asks for bfloat16 products, and \(none) (a worker needs a CPU with AVX512-BF16 or AMX and libdnnl2; `script-cluster bench --similarity bf16` on its host says why not): send the request in f32")
    }

    /// Why a direct request's bytes can go to no worker, if so: some of its jobs wait for a
    /// worker, and no worker has a data socket (workers are there, all without one), or its
    /// clients can reach the data socket of none of those that have one, nor of one that left
    /// lately (it may be back), nor has the coordinator just started (they may not all have
    /// joined yet). With no worker at all it waits, as any request does, for one to join.
    private func unsendable(_ r: CoordinatorRequest, now: ContinuousClock.Instant) -> ProtocolError? {
        guard r.submission.transfer == .direct else { return nil }
        let waiting = (r.shardJobs + r.mergeJobs).contains { jobs[$0].map { !$0.done && $0.holder == nil && $0.pinned == nil } ?? false }
        let data = workers.values.filter { $0.dataEndpoint != nil }
        guard waiting, !workers.isEmpty else { return nil }
        if data.isEmpty {
            let none = workers.count == 1 ? "the only worker takes no direct transfers (it was started with --data-bind none)"
                : "none of the \(workers.count) workers takes direct transfers (each was started with --data-bind none)"
            return ProtocolError(.shardFailed, none + ": send inline instead (without --direct; the clients' transfer \"inline\")")
        }
        guard !r.avoid.isEmpty, !data.contains(where: r.canSendData),
              !departed.contains(now: now, where: r.canSendData(to:)) else { return nil }
        return ProtocolError(.shardFailed, "the client cannot reach the data socket of any worker (\(r.avoid.sorted().joined(separator: ", "))): the request's bytes cannot be sent direct; are the workers' --data-advertise addresses reachable from the client? (or send inline)")
    }

    /// Why `r` cannot be served by the workers there, if so: a shard of it that waits for a
    /// worker needs more memory than any of them has (each said its limit). Refused by each
    /// worker in turn, it would fail as `too_large` anyway; said now, it names what would serve
    /// it. With no worker, or one that did not say, it waits.
    private func tooLargeForEveryWorker(_ r: CoordinatorRequest) -> ProtocolError? {
        let limits = workers.values.compactMap(\.memoryBytes)
        guard !workers.isEmpty, limits.count == workers.count, let largest = limits.max() else { return nil }
        let waiting = r.shardJobs.indices.filter { r.proposals[$0] == nil && jobs[r.shardJobs[$0]]?.holder == nil }
        guard let s = waiting.first(where: { r.leastBytes(shard: $0) > largest }) else { return nil }
        let n = r.shards[s].count, d = r.submission.features.cols
        let of = workers.count == 1 ? "the only worker's" : "the largest of \(workers.count) workers'"
        return ProtocolError(.tooLarge, "shard \(s) (\(n) tokens of width \(d)) needs \(Units.bytes(r.leastBytes(shard: s))) at the least (its features and graph), more than any worker may hold (\(of) memory limit: \(Units.bytes(largest))): split it into smaller shards, or give a worker more memory")
    }

    /// A client gives a request up: it is no longer answered there, and once no client waits
    /// for it, it ends now (its workers let go of its jobs and bytes) rather than at its deadline.
    private func cancel(_ m: CancelMessage, route: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        guard let key = keyOfID[m.id], let r = requests[key], r.routes.contains(route) else { return [] }
        r.routes.removeAll { $0 == route }
        guard r.routes.isEmpty else { return [.log(level: .debug, message: "request \(m.id) given up by one of its clients")] }
        let record = AccessRecord(id: r.id, tokens: r.submission.tokenCount, kept: 0, shards: r.shards.count, workers: r.workers.sorted(),
                                  milliseconds: ms(now - r.received), outcome: RequestOutcome.cancelled.rawValue,
                                  transfer: r.submission.transfer.rawValue)
        return [.log(level: .info, message: "request \(m.id) cancelled by its client")] + release(r) + [.finished(record)]
    }

    func addJob(_ job: CoordinatorJob, urgent: Bool = false) -> Int {
        let number = file(job)
        if urgent { queue.appendUrgent(number) } else { queue.append(number) }
        return number
    }

    /// Files `job` under a number of its own, without queueing it.
    func file(_ job: CoordinatorJob) -> Int {
        let number = nextJob
        nextJob += 1
        jobs[number] = job
        return number
    }

    /// A worker's message on the frontend (it was given the clients' endpoint): no request, so
    /// nothing counted; the worker is told where it is, and says so in its own log.
    private func workerOnFrontend(route: [UInt8], type: String) -> [Action] {
        let e = ProtocolError(.badMessage, "this is a coordinator's frontend, where clients connect: workers connect to its backend (--backend)")
        return [.log(level: .warning, message: "a worker's '\(type)' message reached the frontend: workers connect to the backend; told it so"),
                .toClient(route: route, frames: ClusterReply.error(id: "", e).frames())]
    }

    private func reject(route: [UInt8], id: String, _ e: ProtocolError) -> [Action] {
        failed += 1
        return [.log(level: .info, message: "refused request '\(id)': \(e)"),
                .toClient(route: route, frames: ClusterReply.error(id: id, e).frames()),
                .finished(AccessRecord(id: id, tokens: 0, kept: 0, shards: 0, workers: [], milliseconds: 0, outcome: e.code.rawValue,
                                       transfer: ""))]
    }

    /// Placements of a direct request's jobs that wait for the client's bytes (sent again when
    /// the client retries the id), copies of straggling shards among them: a copy whose bytes
    /// were lost held its request until the deadline once its original's worker was given up.
    private func replacements(_ r: CoordinatorRequest) -> [Action] {
        guard r.submission.transfer == .direct else { return [] }
        var actions: [Action] = []
        for number in r.shardJobs + r.hedges.values.sorted() + r.mergeJobs {
            guard let job = jobs[number], !job.done, !job.scored, job.pinned == nil, let holder = job.holder,
                  let worker = workers[holder], worker.dataEndpoint != nil, let shard = job.shardIndex else { continue }
            actions += placement(r, shard: shard, worker: worker, ticket: job.ticket)
        }
        return actions
    }

    /// Tells the request's clients to send shard `shard` to `worker`'s data socket (which takes
    /// data for jobs it holds).
    func placement(_ r: CoordinatorRequest, shard: Int, worker: WorkerEntry, ticket: Ticket) -> [Action] {
        let scope = worker.sharedMemory(for: r.routes)
        if scope != nil { r.sharedTickets.insert(ticket) }
        let p = Placement(id: r.id, shard: shard, endpoint: worker.dataEndpoint!, ticket: ticket, serverKey: worker.dataKey,
                          sharedMemory: scope)
        let frames = ClusterReply.placement(p).frames()
        return r.routes.map { .toClient(route: $0, frames: frames) }
    }

    // MARK: finishing

    func complete(_ r: CoordinatorRequest, now: ContinuousClock.Instant) -> [Action] {
        guard let kept = r.kept else { return fail(r, ProtocolError(.internal, "completed without a kept set")) }
        var rows: WireTensor? = nil
        switch r.submission.returnMode {
        case .indices: break
        case .features where !r.keepsAll: rows = r.keptRows
        case .features, .merged: rows = concatenate(r.merged.compactMap { $0 }, cols: r.submission.features.cols)
        }
        let received = r.received
        let t0 = r.firstDispatch ?? now, t1 = r.shardsDone ?? t0, t2 = r.reduceDone ?? t1
        var timings = [("prepare", ms(t0 - received)), ("shards", ms(t1 - t0)), ("global", ms(t2 - t1))]
        if r.submission.returnMode == .merged || (r.keepsAll && r.submission.returnMode != .indices) { timings.append(("merge", ms(now - t2))) }
        timings.append(("total", ms(now - received)))
        let result = ClusterResult(id: r.id, indices: kept, budget: r.submission.budget, tokenCount: r.submission.tokenCount,
                                   shardCount: r.shards.count, workers: r.workers.sorted(), timings: timings, features: rows)
        let frames = ClusterReply.result(result).frames()
        cache.insert(frames, answering: r.fingerprint, for: r.id)
        served += 1
        if let start = r.firstDispatch {
            startToAnswer[r.workKind, default: TokenPace()].add(seconds: ms(now - start - r.paused) / 1000, tokens: r.submission.tokenCount)
        }
        let record = AccessRecord(id: r.id, tokens: r.submission.tokenCount, kept: kept.count, shards: r.shards.count,
                                  workers: r.workers.sorted(), milliseconds: ms(now - received), outcome: "ok",
                                  transfer: r.submission.transfer.rawValue)
        return release(r) + r.routes.map { .toClient(route: $0, frames: frames) } + [.finished(record)]
    }

    func fail(_ r: CoordinatorRequest, _ e: ProtocolError, now: ContinuousClock.Instant? = nil, shed: Bool = false) -> [Action] {
        failed += 1
        let frames = ClusterReply.error(id: r.id, e).frames()
        var record = AccessRecord(id: r.id, tokens: r.submission.tokenCount, kept: 0, shards: r.shards.count, workers: r.workers.sorted(),
                                  milliseconds: now.map { ms($0 - r.received) } ?? 0, outcome: e.code.rawValue,
                                  transfer: r.submission.transfer.rawValue)
        record.shed = shed
        return [.log(level: e.code == .internal ? .error : .info, message: "request \(r.id) failed: \(e)")]
            + release(r) + r.routes.map { .toClient(route: $0, frames: frames) } + [.finished(record)]
    }

    /// Forgets a request: its queued jobs are dropped, its workers told to let go of its jobs and
    /// bytes.
    private func release(_ r: CoordinatorRequest) -> [Action] {
        requests[r.key] = nil
        if keyOfID[r.id] == r.key { keyOfID[r.id] = nil }
        inFlightBytes -= r.bytes
        var released: [[UInt8]: ReleaseMessage] = [:]
        for number in r.shardJobs + r.hedges.values.sorted() + r.mergeJobs + (r.reduceJob.map { [$0] } ?? []) {
            guard let job = jobs.removeValue(forKey: number) else { continue }
            if let holder = job.holder {
                workers[holder]?.jobs.remove(number)
                released[holder, default: ReleaseMessage(tickets: [])].jobs.append(number)
                if job.needsData { released[holder]!.tickets.append(job.ticket) }
            }
        }
        queue.remove { jobs[$0] == nil }
        return released.map { .toWorker(identity: $0.key, frames: $0.value.frames()) }
    }

    private func concatenate(_ parts: [WireTensor], cols: Int) -> WireTensor {
        let rows = parts.reduce(0) { $0 + $1.rows }
        let frame = Frame(count: rows * cols * 4) { dst in
            var at = 0
            for p in parts {
                p.bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: dst[at..<(at + $0.count)]).copyMemory(from: $0) }
                at += p.bytes.count
            }
        }
        return WireTensor(dtype: .f32, rows: rows, cols: cols, bytes: frame)
    }

    /// Merge jobs for every shard holding a kept token (pinned to the worker holding its bytes).
    func startMerges(_ r: CoordinatorRequest) {
        guard let kept = r.kept else { return }
        r.merged = Array(repeating: nil, count: r.shards.count)
        for (s, range) in r.shards.enumerated() {
            var job = CoordinatorJob(key: r.key, kind: .merge(s))
            if !r.shardJobs.isEmpty, let shardJob = jobs[r.shardJobs[s]], let holder = shardJob.holder, workers[holder] != nil {
                job.pinned = holder
                job.ticket = shardJob.ticket
            }
            if !kept.contains(where: { range.contains($0) }) {
                r.merged[s] = WireTensor(rows: 0, cols: r.submission.features.cols, floats: [])
                r.mergedIn += 1
                continue
            }
            r.mergeJobs.append(addJob(job, urgent: job.pinned != nil))
        }
    }
}

extension CoordinatorJob {
    /// The shard a job reads, if any.
    var shardIndex: Int? {
        switch kind {
        case .shard(let s), .merge(let s): return s
        case .reduce: return nil
        }
    }
}

/// Bytes as lowercase hex (worker identities in logs).
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}
