import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport

extension CoordinatorState {
    // MARK: worker messages

    /// A worker's message as arrays (tests, tools).
    public func workerMessage(identity: [UInt8], frames: [[UInt8]], now: ContinuousClock.Instant) -> [Action] {
        workerMessage(identity: identity, frames: frames.map(Frame.init), now: now)
    }

    public func workerMessage(identity: [UInt8], frames: [Frame], now: ContinuousClock.Instant) -> [Action] {
        heardAgain(identity, now: now) + message(identity: identity, frames: frames, now: now)
    }

    /// A suspect worker speaks: it was late, not dead; the moves its silence counted are taken back.
    private func heardAgain(_ identity: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        guard isSuspect(identity, now: now), let w = workers[identity], let incarnation = w.incarnation else { return [] }
        return pardon(incarnation, name: w.name)
    }

    private func message(identity: [UInt8], frames: [Frame], now: ContinuousClock.Instant) -> [Action] {
        let e: Envelope, type: String
        do { (e, type) = try BackendEnvelope.open(frames) } catch {
            if frames.count >= 2, frames[0].isEmpty { return clientOnBackend(identity, frames) }
            if (error as? ProtocolError)?.code == .unsupportedVersion { return otherVersion(identity, frames) }
            return [.log(level: .warning, message: "unreadable message from worker \(hex(identity)): \(error)")]
        }
        let known = workers[identity] != nil
        if known { workers[identity]!.lastHeard = now }
        do {
            switch type {
            case ReadyMessage.type: return register(identity, try ReadyMessage.parse(e, frames: frames, limits: config.limits), now: now)
            case "heartbeat": return known ? [] : [farewell(identity)]
            case "disconnect": return dropWorker(identity, reason: "left", departure: .disconnected, died: false, now: now) + dispatch(now: now)
            default: break
            }
            guard known else { return [farewell(identity), .log(level: .debug, message: "\(type) from unknown worker \(hex(identity)) ignored")] }
            let limits = config.limits
            let actions: [Action]
            if type != ShardErrorMessage.type { workers[identity]!.roomRefusedAt = nil }
            switch type {
            case ScoresMessage.type: actions = scores(try ScoresMessage.parse(e, frames: frames, limits: limits), from: identity, now: now)
            case ProposalMessage.type: actions = proposal(try ProposalMessage.parse(e, frames: frames, limits: limits), from: identity, now: now)
            case ReducedMessage.type: actions = reduced(try ReducedMessage.parse(e, frames: frames, limits: limits), from: identity, now: now)
            case MergedMessage.type: actions = merged(try MergedMessage.parse(e, frames: frames, limits: limits), from: identity, now: now)
            case ShardErrorMessage.type: actions = shardError(try ShardErrorMessage.parse(e, frames: frames, limits: limits), from: identity, now: now)
            default: return [.log(level: .warning, message: "worker \(name(identity)) sent unknown type '\(type)'")]
            }
            return actions + dispatch(now: now)
        } catch {
            let line = "bad \(type) from worker \(name(identity)): \(error)"
            // A worker whose `ready` is refused is told why (it logs it), not left to try forever.
            let told: [Action] = type == ReadyMessage.type ? [.toWorker(identity: identity, frames: BackendEnvelope.refusal(line))] : []
            return [.log(level: .warning, message: line)] + told
        }
    }

    private func name(_ identity: [UInt8]) -> String { workers[identity]?.name ?? hex(identity) }

    /// A client's request on the backend (it was given the workers' endpoint): answered at once
    /// with an error saying so, where the client would otherwise wait out its tries.
    private func clientOnBackend(_ identity: [UInt8], _ frames: [Frame]) -> [Action] {
        let id = (try? Envelope.decode(frames[1]).string("id")) ?? ""
        let e = ProtocolError(.badRequest, "this is a coordinator's backend, where workers connect: clients connect to its frontend (--frontend)")
        return [.log(level: .warning, message: "a client's message reached the backend: clients connect to the frontend; told it so"),
                .toWorker(identity: identity, frames: [Frame([])] + ClusterReply.error(id: id, e).frames())]
    }

    /// A worker advertising the data endpoint of another that is alive: refused, since clients
    /// could not tell the two apart (a Service's or a load balancer's address given to every
    /// worker sends each client's bytes to one of them), and the same worker reaching this
    /// coordinator twice must not count twice.
    private func sharedEndpoint(_ identity: [UInt8], _ m: ReadyMessage, with other: WorkerEntry) -> [Action] {
        let line = other.name == m.worker
            ? "it is registered here already, by another connection (its --connect names this coordinator twice, by two addresses?)"
            : "its data endpoint \(m.dataEndpoint ?? "") is also advertised by worker \(other.name), which is alive: clients could not tell the two apart; give each worker an address of its own (--data-advertise; in Kubernetes the pod's IP, not a Service)"
        return [.log(level: .warning, message: "worker \(m.worker) refused: \(line)"),
                .toWorker(identity: identity, frames: BackendEnvelope.refusal(line))]
    }

    /// A worker process that a later process of its name and data endpoint replaced, speaking
    /// again: both run. Refused, so that they do not replace each other in turn.
    private func twoProcesses(_ identity: [UInt8], _ m: ReadyMessage) -> [Action] {
        let line = "another process of worker \(m.worker) with its data endpoint \(m.dataEndpoint ?? "") took its place, and this one is alive: two processes run as one worker; give each worker a name and address of its own (--name, --data-advertise)"
        return [.log(level: .warning, message: "worker \(m.worker) refused: \(line)"),
                .toWorker(identity: identity, frames: BackendEnvelope.refusal(line))]
    }

    /// A worker of another release (its backend protocol version is not this one's): refused,
    /// in a message whose version tells it what this coordinator speaks.
    private func otherVersion(_ identity: [UInt8], _ frames: [Frame]) -> [Action] {
        let theirs = BackendEnvelope.version(frames).map(String.init) ?? "?"
        let line = "worker \(hex(identity)) speaks backend protocol version \(theirs), this coordinator \(ProtocolVersion.backend): refused (run one release of script-cluster on both)"
        return [.log(level: .warning, message: line), .toWorker(identity: identity, frames: BackendEnvelope.refusal(line))]
    }

    /// Whether `m` comes from a new process of worker `other`: its name, another incarnation.
    private func restarted(_ other: WorkerEntry, as m: ReadyMessage) -> Bool {
        guard other.name == m.worker, let was = other.incarnation, let current = m.incarnation else { return false }
        return was != current
    }

    /// Whether `m` comes from the process and link of worker `other` by another connection: the
    /// old one is gone (a link has one connection at a time), though it may not have been missed
    /// yet, and its jobs with it (the worker forgot them when told `disconnect`).
    private func reconnected(_ other: WorkerEntry, as m: ReadyMessage) -> Bool {
        guard other.name == m.worker, let was = other.incarnation, let link = other.link else { return false }
        return was == m.incarnation && link == m.link
    }

    private func farewell(_ identity: [UInt8]) -> Action {
        .toWorker(identity: identity, frames: BackendEnvelope.bare("disconnect"))
    }

    private func register(_ identity: [UInt8], _ m: ReadyMessage, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        if var w = workers[identity] {
            if w.credit != m.credit { actions.append(.log(level: .info, message: "worker \(m.worker) credit \(w.credit) -> \(m.credit)")) }
            w.credit = m.credit
            w.name = m.worker
            w.dataEndpoint = m.dataEndpoint
            w.dataKey = m.dataKey
            w.sharedMemory = m.sharedMemory
            w.beat = m.beatMs.map { .milliseconds($0) }
            w.memoryBytes = m.memoryBytes
            w.threads = m.threads
            w.bf16 = m.bf16
            workers[identity] = w
        } else {
            if let endpoint = m.dataEndpoint, let other = workers.values.first(where: { $0.dataEndpoint == endpoint }) {
                // Its name and another process, or gone quiet: an earlier connection of this
                // worker (restarted, or its link made afresh), whose jobs are lost anyway. Alive
                // and not restarted: another worker at that address, or this one twice.
                if let incarnation = m.incarnation, replaced.contains(incarnation) {
                    return twoProcesses(identity, m)
                } else if restarted(other, as: m) {
                    replaced.insert(other.incarnation!)
                    actions += dropWorker(other.identity, reason: "restarted (a new process advertising its data endpoint \(endpoint))",
                                          departure: .restarted, now: now)
                } else if reconnected(other, as: m) {
                    actions += dropWorker(other.identity, reason: "connected again (its connection was reset, or made afresh)",
                                          departure: .disconnected, died: false, now: now)
                } else {
                    guard now - other.lastHeard > beat(of: other) * 2 else { return sharedEndpoint(identity, m, with: other) }
                    actions += dropWorker(other.identity, reason: "replaced by a new connection advertising its data endpoint \(endpoint)",
                                          departure: .silent, now: now)
                }
            }
            actions += otherKernels(m)
            if let incarnation = m.incarnation { actions += pardon(incarnation, name: m.worker) }
            workers[identity] = WorkerEntry(identity: identity, name: m.worker, credit: m.credit, threads: m.threads, dataEndpoint: m.dataEndpoint,
                                            dataKey: m.dataKey, sharedMemory: m.sharedMemory, blas: m.blas, incarnation: m.incarnation, link: m.link,
                                            beat: m.beatMs.map { .milliseconds($0) }, memoryBytes: m.memoryBytes, bf16: m.bf16,
                                            lastHeard: now, lastSent: now)
            // Answer at once, so the worker knows it is registered without waiting for a beat.
            actions.append(.toWorker(identity: identity, frames: BackendEnvelope.bare("heartbeat")))
            actions.append(.log(level: .info, message: "worker \(m.worker) registered (credit \(m.credit), \(m.threads) thread\(m.threads == 1 ? "" : "s")\(m.dataEndpoint.map { ", data \($0)" } ?? "")\(m.memoryBytes.map { ", memory limit \(Units.bytes($0))" } ?? "")\(m.bf16 == nil ? "" : ", bfloat16 products"))"))
            if m.dataEndpoint == nil || m.memoryBytes != nil || m.bf16 == nil { actions += failUnplaceable(now: now) }
        }
        return actions + dispatch(now: now)
    }

    /// A warning when a worker registers whose BLAS (or bfloat16 library) runs other kernels
    /// than a worker registered already: their products differ in the last bits, so a request's
    /// kept tokens could depend on which worker computed each shard.
    private func otherKernels(_ m: ReadyMessage) -> [Action] {
        var warnings: [Action] = []
        if let mine = m.blas, let other = workers.values.first(where: { $0.blas != nil && $0.blas != mine }) {
            warnings.append(.log(level: .warning, message: "worker \(m.worker) computes with \(mine), worker \(other.name) with \(other.blas!): their products differ in the last bits, so a request's kept tokens can depend on which worker computes each shard; run one BLAS build and kernel on every worker (SCRIPT_CLUSTER_BLAS, OPENBLAS_CORETYPE; `script-cluster bench` prints the kernel)"))
        }
        if let mine = m.bf16, let other = workers.values.first(where: { $0.bf16 != nil && $0.bf16 != mine }) {
            warnings.append(.log(level: .warning, message: "worker \(m.worker) computes bfloat16 products with \(mine), worker \(other.name) with \(other.bf16!): their products differ in the last bits, so the kept tokens of a request in similarity bf16 can depend on which worker computes each shard; run one oneDNN build on CPUs of one kind (`script-cluster bench --similarity bf16` prints the kernel)"))
        }
        return warnings
    }

    /// The job `number` if `identity` holds it and it is of the kind wanted.
    private func held(_ number: Int, by identity: [UInt8]) -> (CoordinatorJob, CoordinatorRequest)? {
        guard let job = jobs[number], job.holder == identity, !job.done, let r = requests[job.key] else { return nil }
        return (job, r)
    }

    private func scores(_ m: ScoresMessage, from identity: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        guard let (job, r) = held(m.job, by: identity), case .shard(let s) = job.kind, !job.scored else { return [] }
        guard let q = r.submission.query, m.rows == r.shards[s].count, m.queryTokens == q.rows else {
            return fail(r, ProtocolError(.internal, "worker \(name(identity)) sent scores of shape \(m.rows) x \(m.queryTokens) for shard \(s)"), now: now)
        }
        jobs[m.job]!.scored = true
        if r.scores[s] == nil {
            r.scores[s] = m.scores
            r.scoresIn += 1
        }
        let log = Action.log(level: .debug, message: "request \(r.id): shard \(s) scored by \(name(identity)) \(Units.duration(now - (job.dispatchedAt ?? now))) after dispatch")
        return [log] + (r.weights == nil && r.scoresIn == r.shards.count ? weigh(r, now: now) : [])
    }

    /// Relevance and weights of every token from every shard's scores; each held shard job (and
    /// its copy, if it has one) gets its own, and waits on its worker again.
    private func weigh(_ r: CoordinatorRequest, now: ContinuousClock.Instant) -> [Action] {
        let all = r.scores.flatMap { $0! }
        let n = r.submission.tokenCount, m = r.submission.query!.rows
        let relevance = QueryRelevance.relevance(scores: all, tokens: n, queryTokens: m, options: r.submission.options)
        r.relevance = relevance
        r.weights = QueryRelevance.weights(relevance: relevance, tokens: n, options: r.submission.options)
        return r.shards.indices.flatMap { s in
            ([r.shardJobs[s]] + (r.hedges[s].map { [$0] } ?? [])).compactMap { number -> Action? in
                guard let job = jobs[number], let holder = job.holder, !job.done, let (w, rel) = r.weights(of: s) else { return nil }
                weightsKnown(number, now: now)
                return .toWorker(identity: holder, frames: WeightsMessage(job: number, weights: w, relevance: rel).frames())
            }
        }
    }

    private func proposal(_ m: ProposalMessage, from identity: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        guard let (job, r) = held(m.job, by: identity), case .shard(let s) = job.kind else { return [] }
        do {
            _ = try m.proposal(for: r.shards[s])
            guard m.rows.cols == r.submission.features.cols, m.rows.dtype == r.submission.features.dtype else {
                throw ProtocolError(.badShape, "rows are \(m.rows.cols) wide in \(m.rows.dtype.rawValue)")
            }
        } catch {
            return fail(r, ProtocolError(.internal, "worker \(name(identity)) returned an invalid proposal for shard \(s): \(error)"), now: now)
        }
        jobs[m.job]!.done = true
        workers[identity]!.jobs.remove(m.job)
        workers[identity]!.pace.add(seconds: m.computeMs / 1000, tokens: r.shards[s].count)
        workers[identity]!.pacedAt = now
        r.workers.insert(name(identity))
        let log = Action.log(level: .debug, message: "request \(r.id): shard \(s) proposed by \(name(identity)) in \(Units.duration(milliseconds: m.computeMs)), \(Units.duration(now - (job.dispatchedAt ?? now))) after dispatch")
        let answered = answer(job, now: now)
        let settled = settleHedge(r, shard: s, answeredBy: m.job, now: now)
        guard r.proposals[s] == nil else { return [log, answered] + settled }
        r.proposals[s] = m
        r.proposalsIn += 1
        if r.allProposed {
            r.shardsDone = now
            if let number = r.reduceJob, jobs[number]?.holder != nil { jobs[number]!.waitingSince = now }
        }
        // The reduce starts with the first proposal and takes in the others as they come.
        guard let number = r.reduceJob else {
            r.reduceJob = addJob(CoordinatorJob(key: r.key, kind: .reduce), urgent: true)
            return [log, answered] + settled
        }
        guard let holder = jobs[number]?.holder else { return [log, answered] + settled }
        r.reduceSent.insert(s)
        let more = ReduceTask(job: number, request: r.id, budget: r.submission.budget, returnRows: r.submission.returnMode == .features,
                              final: r.allProposed, candidateBound: candidateBound(r), groups: [r.reduceGroup(s)],
                              similarity: r.submission.options.similarity)
        return [log, answered] + settled + [.toWorker(identity: holder, frames: more.frames())]
    }

    /// The job latency of `job`, answered now.
    private func answer(_ job: CoordinatorJob, now: ContinuousClock.Instant) -> Action {
        let kind: ClusterMetrics.JobKind
        switch job.kind {
        case .shard: kind = .shard
        case .reduce: kind = .reduce
        case .merge: kind = .merge
        }
        return .jobAnswered(kind, roundTrip: now - (job.dispatchedAt ?? now))
    }

    private func reduced(_ m: ReducedMessage, from identity: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        guard let (job, r) = held(m.job, by: identity), job.kind == .reduce, r.allProposed else { return [] }
        let candidates = r.candidates
        let k = min(r.submission.budget, candidates.count)
        let ascending = zip(m.indices, m.indices.dropFirst()).allSatisfy { $0 < $1 }
        guard m.indices.count == k, ascending, m.indices.allSatisfy(candidates.contains),
              r.submission.returnMode != .features || m.features?.rows == k && m.features?.cols == r.submission.features.cols else {
            return fail(r, ProtocolError(.internal, "worker \(name(identity)) returned an invalid selection (\(m.indices.count) of \(k) tokens)"), now: now)
        }
        jobs[m.job]!.done = true
        workers[identity]!.jobs.remove(m.job)
        if let since = job.waitingSince {
            reduceTail[r.workKind, default: TokenPace()].add(seconds: (now - since).milliseconds / 1000, tokens: candidates.count)
        }
        r.kept = m.indices
        r.keptRows = m.features
        r.reduceDone = now
        let log = Action.log(level: .debug, message: "request \(r.id): reduce took \(Units.duration(milliseconds: m.computeMs)) on \(name(identity)), \(Units.duration(now - (r.shardsDone ?? now))) in all")
        guard r.submission.returnMode == .merged else { return [log, answer(job, now: now)] + complete(r, now: now) }
        startMerges(r)
        return [answer(job, now: now)]
    }

    private func merged(_ m: MergedMessage, from identity: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        guard let (job, r) = held(m.job, by: identity), case .merge(let s) = job.kind, let kept = r.kept else { return [] }
        let count = kept.filter { r.shards[s].contains($0) }.count
        guard m.features.rows == count, m.features.cols == r.submission.features.cols, m.features.dtype == .f32 else {
            return fail(r, ProtocolError(.internal, "worker \(name(identity)) returned \(m.features.rows) merged rows for \(count) kept tokens"), now: now)
        }
        jobs[m.job]!.done = true
        workers[identity]!.jobs.remove(m.job)
        r.workers.insert(name(identity))
        if r.merged[s] == nil {
            r.merged[s] = m.features
            r.mergedIn += 1
        }
        return [answer(job, now: now)] + (r.mergedIn == r.shards.count ? complete(r, now: now) : [])
    }

    /// A worker could not compute a job: its request fails, unless the job is one of a shard's
    /// two copies (a straggler's), whose other goes on alone (it fails the same way if the
    /// shard is at fault, and answers if the worker was: one of an earlier release, too small
    /// for it without saying so).
    private func shardError(_ m: ShardErrorMessage, from identity: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        guard let (job, r) = held(m.job, by: identity) else { return [] }
        workers[identity]!.jobs.remove(m.job)
        let unread = m.error.code == .unreadableSharedMemory && readsNoMore(from: r, on: identity, job.ticket)
        if case .shard(let s) = job.kind, hedgeOutlives(m.job, of: r) {
            r.copyFailed.insert(s)
            return [.log(level: .warning, message: "request \(r.id): a copy of shard \(s) failed on \(name(identity)) (\(m.error.code.rawValue): \(m.error.message)); its other copy goes on")]
        }
        if unread, let s = job.shardIndex { return sendBytes(m.job, shard: s, of: r, to: identity, m.error) }
        if case .shard(let s) = job.kind, m.error.code == .busy { return noRoom(m.job, shard: s, of: r, on: identity, m.error, now: now) }
        return fail(r, ProtocolError(m.error.code, "\(name(identity)): \(m.error.message)"), now: now)
    }

    /// Whether `ticket`'s placement named worker `identity`'s scope (its client could name its
    /// memory; otherwise it was to send the bytes, and the request fails); if so, `r`'s clients
    /// are marked as ones whose memory it cannot read. A worker that could read none of 64
    /// clients' memory reads none: its scope is told no more.
    private func readsNoMore(from r: CoordinatorRequest, on identity: [UInt8], _ ticket: Ticket) -> Bool {
        guard r.sharedTickets.contains(ticket) else { return false }
        guard workers[identity]!.sharedMemory(for: r.routes) != nil else { return true }
        if workers[identity]!.unreadableFrom.count >= 64 {
            workers[identity]!.sharedMemory = nil
            workers[identity]!.unreadableFrom = []
        } else {
            workers[identity]!.unreadableFrom.formUnion(r.routes)
        }
        return true
    }

    /// Worker `identity` could not read the shared memory in which `r`'s client named the bytes
    /// of job `number` (a shard, or its merge): the job goes back to the head of the queue under a new ticket, and its
    /// next placement on that worker names no scope, so the client sends the bytes.
    private func sendBytes(_ number: Int, shard s: Int, of r: CoordinatorRequest, to identity: [UInt8], _ e: ProtocolError) -> [Action] {
        [sentBack(number, by: identity), .jobsMoved(.unreadableSharedMemory, count: 1),
         .log(level: .warning, message: "request \(r.id): \(name(identity)) could not read shard \(s) in its client's shared memory (\(e.message)); that client sends it the bytes")]
    }

    /// Worker `identity` had no room for shard job `number` beside the shards it works on (for
    /// other coordinators too, which this one does not see): the job goes back to the head of
    /// the queue, under a new ticket (bytes sent for the old one are let go there), and that
    /// worker gets no shard until it answers a job, or for a second.
    private func noRoom(_ number: Int, shard s: Int, of r: CoordinatorRequest, on identity: [UInt8], _ e: ProtocolError,
                        now: ContinuousClock.Instant) -> [Action] {
        workers[identity]!.roomRefusedAt = now
        return [sentBack(number, by: identity), .jobsMoved(.noRoom, count: 1),
                .log(level: .info, message: "request \(r.id): shard \(s) sent back by \(name(identity)) (\(e.message)); it goes to another worker, or there later")]
    }

    /// Job `number`, sent back by worker `identity`, goes to the head of the queue under a new
    /// ticket: the message that lets the old ticket go there.
    private func sentBack(_ number: Int, by identity: [UInt8]) -> Action {
        let old = jobs[number]!.ticket
        jobs[number]!.holder = nil
        jobs[number]!.ticket = Ticket.random()
        queue.requeue([number])
        return .toWorker(identity: identity, frames: ReleaseMessage(tickets: [old], jobs: []).frames())
    }

    /// The workers registered, by name, as `/workers` serves them.
    public func roster(now: ContinuousClock.Instant) -> [WorkerRoster.Entry] {
        workers.values.sorted { $0.name != $1.name ? $0.name < $1.name : $0.identity.lexicographicallyPrecedes($1.identity) }.map { w in
            WorkerRoster.Entry(name: w.name, credit: w.credit, threads: w.threads, jobs: busy(w), memoryBytes: w.memoryBytes,
                               bytesHeld: memoryHeld(w.jobs),
                               data: w.dataEndpoint, blas: w.blas, bf16: w.bf16, sharedMemory: w.sharedMemory,
                               silent: isSuspect(w.identity, now: now), straggling: w.straggles(now: now))
        }
    }

    // MARK: scheduling

    /// Jobs a worker holds that wait on it: not a shard parked until its request's weights are
    /// known, nor a reduce still waiting for proposals.
    func busy(_ w: WorkerEntry) -> Int {
        w.jobs.filter(waitsOnWorker).count
    }

    /// Whether job `number` waits on its worker (it is not parked).
    func waitsOnWorker(_ number: Int) -> Bool {
        guard let job = jobs[number], let r = requests[job.key] else { return false }
        return !(job.kind == .reduce ? !r.allProposed : job.scored && r.weights == nil)
    }

    private func candidateBound(_ r: CoordinatorRequest) -> Int {
        let sub = r.submission
        if sub.options.method == .scriptPlus {
            return ScriptPlus.candidateBound(shards: r.shards, tokens: sub.tokenCount, budget: sub.budget, relevance: r.relevance,
                                             options: sub.options)
        }
        return GlobalSelection.candidateBound(shards: r.shards, tokens: sub.tokenCount, budget: sub.budget, options: sub.options)
    }

    /// Ends with `timeout`, at once, the requests waiting for a worker that have too little
    /// time left to be answered in it (`tooLateToStart`): the cluster is overloaded. Served in
    /// order, an overloaded queue starts only requests about to expire, and answers come after
    /// their clients have given up (AnyRes at twice what 2 workers answer, 1 s deadlines: 3 a
    /// second in time, of 19 possible). Ended early, they leave the workers to requests that can
    /// be answered in time, and their clients the rest of their time. Not `busy`: a client would
    /// send each again, and under overload the tries' bytes alone crowd out the work (AnyRes
    /// inline, measured: 4.5 a second in time when retried, 13.6 when ended). A request of a
    /// kind none of which has been answered lately waits: its time is not known. A shedding
    /// turns the queue most time left first for a second (`dispatchOrder`).
    private func shedLate(now: ContinuousClock.Instant) -> [Action] {
        guard !workers.isEmpty, !startToAnswer.isEmpty else { return [] }
        let need = { (r: CoordinatorRequest) in
            self.startToAnswer[r.workKind]?.perToken.map { Duration.seconds($0 * Double(r.submission.tokenCount)) }
        }
        let late = requests.values.filter { r in need(r).map { r.tooLateToStart(now: now, startToAnswer: $0) } ?? false }
            .sorted { $0.key < $1.key }
        guard !late.isEmpty else { return [] }
        lastShed = now
        let started = requests.values.filter { $0.firstDispatch != nil }.count
        let load = "\(started) request\(started == 1 ? "" : "s") in progress on \(workers.count) worker\(workers.count == 1 ? "" : "s")"
        return late.flatMap { r in
            let text = "not started in time: \(Units.duration(r.deadline - now)) of its \(Units.duration(r.deadline - r.received)) deadline left, where requests of its size take about \(Units.duration(need(r)!)) from start to answer: the cluster is overloaded (\(load)); ended now rather than answered late: add workers, or send fewer requests"
            return fail(r, ProtocolError(.timeout, text), now: now, shed: true)
        }
    }

    /// Sends queued jobs to workers with free credit (a pinned job to its worker); with nothing
    /// left waiting, copies straggling shard jobs to idle workers.
    func dispatch(now: ContinuousClock.Instant) -> [Action] {
        let paces = recentPaces(now: now)
        guard !queue.isEmpty else { return hedgeStragglers(now: now, paces: paces) }
        var actions = shedLate(now: now)
        var sent = Set<Int>()
        var free = workers.mapValues { $0.credit - busy($0) }
        var waiting = 0
        let ids = workerIDs
        for number in dispatchOrder(now: now) {
            guard let job = jobs[number], let r = requests[job.key] else { sent.insert(number); continue }
            let target: [UInt8]?
            if let pinned = job.pinned {
                target = workers[pinned] != nil ? pinned : nil
            } else {
                let eligible = soundFirst(ids.filter { w in
                    (!job.needsData || workers[w].map(r.canSendData) == true) && computes(r, on: w) && fits(job, of: r, on: w, now: now)
                        && !holdsOtherCopy(of: job, number, w, in: r)
                }, now: now)
                target = choose(job, of: r, eligible: steadyFirst(job, eligible, now: now), free: free, paces: paces, waitingAhead: waiting)
            }
            guard let target else {
                waiting += 1
                continue
            }
            sent.insert(number)
            free[target, default: 0] -= 1
            actions += assign(number, of: r, to: target, now: now, paces: paces)
        }
        queue.remove { sent.contains($0) }
        return actions + hedgeStragglers(now: now, paces: paces)
    }

    /// The queue's jobs in the order they are tried: in the order they came, unless a request
    /// was shed in the last second (`shedLate`: the cluster is overloaded). Then the requests not
    /// started yet go most time left first (newest first where deadlines are alike), behind the
    /// jobs of those started. Served in arrival order, an overloaded queue starts each request
    /// just before it would be shed, so it is answered at the end of its time, late for a client
    /// whose bytes took a while to arrive (AnyRes at twice what 2 workers answer: p50 0.8 s of a
    /// 1 s timeout; most time left first, 0.2 s). A request with little time left now waits
    /// until it is shed; one with much (a long deadline among short ones) is not passed over.
    /// Without shedding, nothing is reordered.
    func dispatchOrder(now: ContinuousClock.Instant) -> [Int] {
        let ordered = queue.ordered
        guard let lastShed, now - lastShed < .seconds(1) else { return ordered }
        // By request (a few dozen), not by job (up to thousands a request): each request's jobs
        // keep their order.
        var started: [Int] = [], waiting: [CoordinatorRequest] = [], jobsOf: [Int: [Int]] = [:]
        for n in ordered {
            guard let r = jobs[n].flatMap({ requests[$0.key] }), r.firstDispatch == nil else { started.append(n); continue }
            if jobsOf[r.key] == nil { waiting.append(r) }
            jobsOf[r.key, default: []].append(n)
        }
        let mostTimeFirst = waiting.sorted { $0.deadline != $1.deadline ? $0.deadline > $1.deadline : $0.key < $1.key }
        return started + mostTimeFirst.flatMap { jobsOf[$0.key] ?? [] }
    }

    /// The workers' identities in one order (their bytes'), so that what the coordinator does
    /// follows from what it was told, not from how its dictionary hashed them this run: a
    /// schedule of faults played again plays out the same (`FaultSimulationTests`).
    var workerIDs: [[UInt8]] { workers.keys.sorted { $0.lexicographicallyPrecedes($1) } }

    /// Each worker's pace (seconds a token), where it reported one in the last 10 s; a worker
    /// that straggles counts as four times slower (jobs go to it when the others are that far
    /// behind: under load, not beside idle workers).
    func recentPaces(now: ContinuousClock.Instant) -> [[UInt8]: Double] {
        workers.compactMapValues { w in
            w.pacedAt.flatMap { now - $0 < .seconds(10) ? w.pace.perToken.map { w.straggles(now: now) ? 4 * $0 : $0 } : nil }
        }
    }

    /// Gives job `number` to `target`, and sends it.
    func assign(_ number: Int, of r: CoordinatorRequest, to target: [UInt8], now: ContinuousClock.Instant,
                paces: [[UInt8]: Double]) -> [Action] {
        assignments += 1
        jobs[number]!.holder = target
        // Scored by the worker it goes to, not by one it moved off: until then its bytes may be
        // on their way there (or lost), and it moves, or is placed again, as an unscored one.
        jobs[number]!.scored = false
        jobs[number]!.dispatchedAt = now
        workers[target]!.jobs.insert(number)
        workers[target]!.lastAssigned = assignments
        workers[target]!.lastSent = now
        if r.firstDispatch == nil { r.firstDispatch = now }
        startWaiting(number, now: now, paces: paces)
        return send(number, of: r, to: target, now: now)
    }

    /// The workers a job may go to: none that is suspect (`isSuspect`) while another may take it.
    private func soundFirst(_ eligible: [[UInt8]], now: ContinuousClock.Instant) -> [[UInt8]] {
        let sound = eligible.filter { !isSuspect($0, now: now) }
        return sound.isEmpty ? eligible : sound
    }

    /// Whether `worker` computes what `r` asks: the bfloat16 products of a request in similarity
    /// bf16 only where it said it has them (a merge computes no product, but goes where its
    /// request's shards could).
    func computes(_ r: CoordinatorRequest, on worker: [UInt8]) -> Bool {
        !r.needsBFloat16 || workers[worker]?.bf16 != nil
    }

    /// Whether `job` fits in `worker`'s memory (as it said) beside the jobs it holds: their
    /// features, and the largest graph block among its shards (it runs one graph stage at a
    /// time). A worker with credit for two shards that each fit alone was sent both, and a limit
    /// that holds one killed it for memory; now the second waits for the first, or goes where it
    /// fits. Not counted: shards parked (scored, waiting for their request's weights) of this
    /// request or a later one. Those wait on this request's or an earlier one's shards, so
    /// counting them could leave every request waiting on another; this way the earliest
    /// request always goes on (its shards wait only on jobs that end by themselves), and a
    /// worker that holds nothing else takes any shard that fits alone (`unplaceable` refuses the
    /// others). A reduce holds little.
    func fits(_ job: CoordinatorJob, of r: CoordinatorRequest, on worker: [UInt8], now: ContinuousClock.Instant) -> Bool {
        guard let w = workers[worker], let limit = w.memoryBytes, let own = memoryParts(job, of: r) else { return true }
        if case .shard = job.kind, let refused = w.roomRefusedAt, now - refused < .seconds(1) { return false }
        let counted = w.jobs.filter { n in jobs[n].map { $0.key < r.key } == true || waitsOnWorker(n) }
        return memoryHeld(counted, beside: [own]) <= limit
    }

    /// What `numbers`' jobs hold at the least, beside `own` (`ShardMemory.together`).
    private func memoryHeld(_ numbers: some Sequence<Int>, beside own: [(features: Int, graph: Int)] = []) -> Int {
        ShardMemory.together(own + numbers.compactMap { n in jobs[n].flatMap { job in requests[job.key].flatMap { memoryParts(job, of: $0) } } })
    }

    /// What `job` holds on its worker at the least: a shard's features and graph block, a merge's
    /// features (the shard's rows, to merge the kept ones); nil for a reduce.
    private func memoryParts(_ job: CoordinatorJob, of r: CoordinatorRequest) -> (features: Int, graph: Int)? {
        switch job.kind {
        case .shard(let s): return r.memoryParts(shard: s)
        case .merge(let s): return (r.memoryParts(shard: s).features, 0)
        case .reduce: return nil
        }
    }

    /// Whether `worker` holds the other of the two copies of shard job `number`.
    private func holdsOtherCopy(of job: CoordinatorJob, _ number: Int, _ worker: [UInt8], in r: CoordinatorRequest) -> Bool {
        guard case .shard(let s) = job.kind, let copy = r.hedges[s] else { return false }
        let other = number == copy ? r.shardJobs[s] : copy
        return jobs[other]?.holder == worker
    }

    /// The workers a job may go to: a reduce (short, and every shard's proposals wait on it) to
    /// none that straggles while one that does not has credit.
    private func steadyFirst(_ job: CoordinatorJob, _ eligible: [[UInt8]], now: ContinuousClock.Instant) -> [[UInt8]] {
        guard job.kind == .reduce else { return eligible }
        let steady = eligible.filter { !workers[$0]!.straggles(now: now) }
        return steady.contains { workers[$0]!.credit > 0 } ? steady : eligible
    }

    /// Where a job goes among the `eligible` workers (those that may take its bytes), given each
    /// one's `free` credit; nil: it waits. By free credit (ties to the worker idle longest), except that a shard job skips a
    /// worker that would finish it later than faster workers, busy now, would finish it and every
    /// job waiting ahead of it (`waitingAhead`): a slow worker beside fast ones (a throttled
    /// container, a noisy neighbour) otherwise holds a request's tiles while the fast ones idle
    /// (AnyRes, one of 2 workers at a quarter speed: 121-129 ms, now 108).
    /// Each worker's finish is its jobs held plus this one, at its pace (`paces`: seconds a token;
    /// a worker without one, none reported in the last 10 s, makes it the plain choice, so that it
    /// is tried and timed again).
    private func choose(_ job: CoordinatorJob, of r: CoordinatorRequest, eligible: [[UInt8]], free: [[UInt8]: Int],
                        paces: [[UInt8]: Double], waitingAhead: Int) -> [UInt8]? {
        let candidates = eligible.filter { free[$0, default: 0] > 0 }
        let first = candidates.max { a, b in
            free[a]! != free[b]! ? free[a]! < free[b]! : workers[a]!.lastAssigned > workers[b]!.lastAssigned
        }
        guard case .shard(let s) = job.kind, let first, eligible.allSatisfy({ paces[$0] != nil }) else { return first }
        let tokens = Double(r.shards[s].count)
        let held = { (w: [UInt8]) in self.workers[w]!.credit - free[w, default: 0] }
        let finish = { (w: [UInt8]) in Double(held(w) + 1) * paces[w]! * tokens }
        let best = candidates.reduce(first) { finish($1) < finish($0) ? $1 : $0 }
        // Jobs the others that take jobs (not draining) would finish before `best` finished this
        // one (with a fifth to spare).
        let sooner = eligible.filter { $0 != best && workers[$0]!.credit > 0 }.reduce(0) { n, w in
            n + max(0, Int(min(1e15, finish(best) / (1.2 * paces[w]! * tokens)).rounded(.up)) - 1 - held(w))
        }
        return waitingAhead < sooner ? nil : best
    }

    private func send(_ number: Int, of r: CoordinatorRequest, to target: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        let job = jobs[number]!
        let left = max(1, Int(ms(r.deadline - now)))
        let sub = r.submission
        let frames: [Frame]
        var placements: [Action] = []
        switch job.kind {
        case .shard(let s):
            let range = r.shards[s]
            let known = r.weights(of: s)
            frames = ShardTask(job: number, ticket: job.ticket, request: r.id, offset: range.lowerBound, rows: range.count,
                               cols: sub.features.cols, dtype: sub.features.dtype, embeddingCols: sub.embeddings?.cols ?? 0,
                               total: sub.tokenCount, budget: sub.budget, options: sub.options, deadlineMs: left, query: sub.query,
                               weights: known?.weights, relevance: known?.relevance, data: sub.data(shard: s),
                               unitTokens: sub.unitTokens).frames()
            if sub.transfer == .direct { placements = placement(r, shard: s, worker: workers[target]!, ticket: job.ticket) }
        case .reduce:
            let ready = r.proposals.indices.filter { r.proposals[$0] != nil }
            r.reduceSent = Set(ready)
            frames = ReduceTask(job: number, request: r.id, budget: sub.budget, returnRows: sub.returnMode == .features,
                                final: r.allProposed, candidateBound: candidateBound(r), groups: ready.map(r.reduceGroup),
                                similarity: sub.options.similarity).frames()
        case .merge(let s):
            let range = r.shards[s]
            let kept = r.kept!.filter { range.contains($0) }.map { $0 - range.lowerBound }
            let data = job.pinned == nil ? sub.data(shard: s) : nil
            frames = MergeTask(job: number, ticket: job.ticket, request: r.id, rows: range.count, cols: sub.features.cols,
                               dtype: sub.features.dtype, kept: kept, deadlineMs: left, data: data).frames()
            if job.pinned == nil && sub.transfer == .direct {
                placements = placement(r, shard: s, worker: workers[target]!, ticket: job.ticket)
            }
        }
        return [.toWorker(identity: target, frames: frames)] + placements
    }

    /// Forgets a worker; the jobs it held that are not done go back to the queue (with new
    /// tickets: their bytes are gone with it), at its head. Where it `died` (it did not say
    /// goodbye), each counts a death against its job, which fails past `maxRequeues` (a shard
    /// that kills its workers) once a liveness has passed without a pardon; a worker that
    /// drained and left (a rolling update) is no death: a shard parked on a worker each time
    /// one drains moves as often as that happens. Nor is the jobs `spared`, which never reached
    /// it.
    func dropWorker(_ identity: [UInt8], reason: String, departure: ClusterMetrics.DepartureReason, died: Bool = true,
                    spared: Set<Int> = [], now: ContinuousClock.Instant) -> [Action] {
        guard let w = workers.removeValue(forKey: identity) else { return [] }
        if let endpoint = w.dataEndpoint { departed.insert(endpoint, now: now) }
        if w.bf16 != nil { departed.bfloat16WorkerLeft(now: now) }
        var actions: [Action] = []
        var moved: [Int] = [], count = 0, carried = 0
        for number in w.jobs.sorted() {
            guard var job = jobs[number], !job.done, let r = requests[job.key] else { continue }
            if hedgeOutlives(number, of: r) {
                carried += 1
                continue
            }
            job.holder = nil
            job.pinned = nil
            job.ticket = Ticket.random()
            let death = died && !spared.contains(number)
            if death { job.requeues += 1 }
            if death, let incarnation = w.incarnation { job.lostWith.append(incarnation) }
            jobs[number] = job
            requeues += 1
            if death && job.requeues > config.maxRequeues {
                let e = ProtocolError(.shardFailed, "the workers computing \(job.kind) of request \(r.id) died \(job.requeues == 1 ? "once" : "\(job.requeues) times") (last: \(w.name), \(reason))")
                guard w.incarnation != nil else {
                    actions += fail(r, e, now: now)
                    continue
                }
                jobs[number]!.held = (now + beat(of: w) * config.liveness, e)
                actions.append(.log(level: .info, message: "request \(r.id): \(job.kind) held for a liveness, in case \(w.name) or another worker lost with it speaks again"))
                continue
            }
            if job.kind == .reduce { queue.appendUrgent(number) } else { moved.append(number) }
            count += 1
        }
        queue.requeue(moved.sorted())
        forgetHolder(identity)
        let copies = carried == 0 ? "" : ", \(carried) carried on by \(carried == 1 ? "its copy" : "their copies") elsewhere"
        return [.log(level: .warning, message: "worker \(w.name) \(reason); \(count) jobs moved\(copies)"),
                .workerLeft(departure, requeued: count)] + actions
    }

    /// A process suspect for its silence (its shards copied), or given up for it or for its
    /// closed connection, speaks again, or registers again: it was stopped, slow, cut off or
    /// reset, not killed, so the deaths counted against the jobs it held then are taken back (a
    /// shard moved off workers that paused, four times, failed as one that kills its workers).
    private func pardon(_ incarnation: Int, name: String) -> [Action] {
        var count = 0
        for (number, job) in jobs where job.lostWith.contains(incarnation) {
            jobs[number]!.lostWith.removeAll { $0 == incarnation }
            jobs[number]!.requeues -= 1
            count += 1
            if job.held != nil && job.requeues - 1 <= config.maxRequeues { requeueHeld(number) }
        }
        guard count > 0 else { return [] }
        return [.log(level: .info, message: "worker \(name) speaks again, the same process: losing it no longer counts as a death against \(count) job\(count == 1 ? "" : "s")")]
    }

    /// A held job goes back to the queue (a reduce to its head).
    private func requeueHeld(_ number: Int) {
        jobs[number]!.held = nil
        if jobs[number]!.kind == .reduce { queue.appendUrgent(number) } else { queue.requeue([number]) }
    }

    /// Held jobs whose liveness passed: each fails its request if no pardon took it back under
    /// `maxRequeues` (else a pardon requeued it at once).
    private func failHeld(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for (number, job) in jobs.filter({ $0.value.held != nil }).sorted(by: { $0.key < $1.key }) {
            guard let held = job.held, now >= held.until, let r = requests[job.key] else { continue }
            jobs[number]!.held = nil
            actions += fail(r, held.error, now: now)
        }
        return actions
    }

    /// The jobs a worker given up had done no longer name it: it forgets them and their bytes
    /// when it learns it was given up (a `disconnect`), and may then register again under the
    /// same identity (its connection never closed: a pause), where a merge pinned to it would
    /// wait for bytes it let go. Their merges go anywhere, with the bytes sent again.
    private func forgetHolder(_ identity: [UInt8]) {
        for (number, job) in jobs where job.done && job.holder == identity { jobs[number]!.holder = nil }
    }

    /// A worker the shell could not send to is gone; `error` is what the send met, `unsent` the
    /// message that did not go. A job it delivered never reached the worker, nor did the jobs
    /// given to it in the same turn (their messages went out with it, or not at all), so none of
    /// them can have killed it: they move without counting a death (every worker's connection
    /// reset at once, a shard's sends failed in turn down the pool, and it failed as a shard
    /// that kills its workers).
    public func unreachable(worker identity: [UInt8], error: String, unsent: [Frame] = [], now: ContinuousClock.Instant) -> [Action] {
        var spared = Set<Int>()
        if let job = Self.job(deliveredBy: unsent) {
            let turn = jobs[job]?.dispatchedAt
            spared = Set(workers[identity]?.jobs.filter { turn != nil && jobs[$0]?.dispatchedAt == turn } ?? []).union([job])
        }
        return dropWorker(identity, reason: "is unreachable: \(error)", departure: .disconnected, spared: spared, now: now) + dispatch(now: now)
    }

    /// The job a task message delivers to its worker (`shard`, `reduce`, `merge`), if `frames`
    /// is one.
    static func job(deliveredBy frames: [Frame]) -> Int? {
        guard let (e, type) = try? BackendEnvelope.open(frames), [ShardTask.type, ReduceTask.type, MergeTask.type].contains(type) else { return nil }
        return try? e.int("job")
    }

    // MARK: time

    /// The loop did not turn for `gap` (this process stopped, frozen or starved of CPU, or work
    /// held the loop): the workers' silence is counted from now, since what they sent meanwhile
    /// may still be inside libzmq; it was counted from before the gap, and every worker was given
    /// up at once after a pause longer than their liveness. Nor is the gap the workers' time: the
    /// jobs in flight are due that much later (none is copied for it), and the requests started
    /// leave it out of what they took. Said at most once a minute.
    public func resumed(after gap: LoopGap.Gap, now: ContinuousClock.Instant) -> [Action] {
        for id in workers.keys { workers[id]!.lastHeard = min(now, workers[id]!.lastHeard + gap.wall) }
        for n in jobs.keys where !jobs[n]!.done {
            jobs[n]!.waitingSince = jobs[n]!.waitingSince.map { min(now, $0 + gap.wall) }
            jobs[n]!.due = jobs[n]!.due.map { $0 + gap.wall }
        }
        for r in requests.values where r.firstDispatch != nil { r.paused += gap.wall }
        guard let times = gaps.due(now) else { return [] }
        return [.log(level: .warning, message: "\(gap.said): the workers' silence is counted from now\(times)")]
    }

    /// Heartbeats, dead workers, expired deadlines, the end of a drain.
    public func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for id in workerIDs {
            guard let w = workers[id], now - w.lastHeard > beat(of: w) * config.liveness else { continue }
            actions += dropWorker(id, reason: "went silent for \(Units.duration(now - w.lastHeard))", departure: .silent, now: now)
        }
        for id in workerIDs where now - workers[id]!.lastSent >= heartbeat {
            workers[id]!.lastSent = now
            actions.append(.toWorker(identity: id, frames: BackendEnvelope.bare("heartbeat")))
        }
        for r in requests.values.sorted(by: { $0.key < $1.key }) where now >= r.deadline {
            actions += fail(r, deadlineError(r), now: now)
        }
        if let started = drainStarted, now - started >= .milliseconds(config.drainTimeoutMs) {
            for r in requests.values.sorted(by: { $0.key < $1.key }) {
                actions += fail(r, ProtocolError(.shuttingDown, "the coordinator stopped before the request was done; retry on another"), now: now)
            }
        }
        return actions + failHeld(now: now) + failUnreachable(now: now) + failWithoutBFloat16(now: now) + copyFromSuspects(now: now)
            + dispatch(now: now)
    }

    /// The error of a request whose deadline passed: how far it came, and where the bytes of
    /// shards sent direct never arrived (their workers never scored them), which points at a
    /// worker's data endpoint the client cannot reach (its `--data-advertise`).
    func deadlineError(_ r: CoordinatorRequest) -> ProtocolError {
        var text = "deadline of \(Units.duration(r.deadline - r.received)) passed (\(r.proposalsIn) of \(r.shards.count) shards proposed, \(workers.count) workers)"
        if !r.avoid.isEmpty, r.submission.transfer == .direct, !workers.values.contains(where: r.canSendData) {
            text += "; the client reaches the data socket of none of them (\(r.avoid.sorted().joined(separator: ", ")))"
        }
        if r.submission.transfer == .direct, r.submission.query != nil {
            let unread = r.shardJobs.compactMap { jobs[$0] }.filter { !$0.scored && !$0.done && $0.holder != nil }
            let endpoints = Set(unread.compactMap { $0.holder.flatMap { workers[$0]?.dataEndpoint } }).sorted()
            if !endpoints.isEmpty {
                text += "; the bytes of \(unread.count) shard\(unread.count == 1 ? "" : "s") sent direct never reached their workers: can the client reach \(endpoints.joined(separator: ", ")) (a worker's --data-advertise)?"
            }
        }
        return ProtocolError(.timeout, text)
    }

    /// Stop taking requests; finish those in flight (for at most the drain timeout).
    public func beginDrain(now: ContinuousClock.Instant) -> [Action] {
        guard !draining else { return [] }
        draining = true
        drainStarted = now
        return [.log(level: .info, message: "draining: \(requests.count) requests in flight")]
    }

    /// Workers to tell the coordinator is leaving.
    public func farewells() -> [Action] {
        workers.keys.map { farewell($0) }
    }
}
