import ScriptProtocol
import ScriptService

/// Straggling shard jobs, copied to idle workers ("hedged"). A request waits for every shard's
/// scores (the weights need them all) and then for every proposal, so one worker that stalls (a
/// container at its CPU quota, a noisy neighbour, a stopped process) holds the whole request
/// while the others have nothing to do. When nothing waits in the queue and a worker is idle, a
/// shard job its worker has not answered is sent to it as well if that worker is overdue with it
/// (more than twice what the idle worker would take for it past when its pace, after the jobs
/// it holds ahead, said it would finish, or past when its weights came), or, before any of it is
/// done, would finish it later than the idle worker could, with a fifth to spare. The first of the
/// two to propose stays; the other is let go (`release`); one that fails on its worker is
/// forgotten, and the shard not copied again. A shard's answer is the same bits on
/// any worker, so the request's answer does not change; only idle workers' time is spent. A
/// direct transfer's shard is copied only once scored: before, its bytes may not have reached
/// its worker, and the client, which finds a data socket it cannot reach and moves such shards
/// itself (`avoid`), would never learn of it if a copy answered first.
extension CoordinatorState {
    /// Copies straggling shard jobs to idle workers (fastest first, none that straggles itself),
    /// one each.
    func hedgeStragglers(now: ContinuousClock.Instant, paces: [[UInt8]: Double]) -> [Action] {
        guard queue.isEmpty else { return [] }
        var idle = workerIDs.compactMap { workers[$0] }
            .filter { $0.credit > 0 && !$0.straggles(now: now) && holdsNoWork($0, now: now) && paces[$0.identity] != nil }
        let order = { (w: WorkerEntry) in (paces[w.identity]!, w.lastAssigned) }
        idle.sort { order($0) != order($1) ? order($0) < order($1) : $0.identity.lexicographicallyPrecedes($1.identity) }
        guard !idle.isEmpty else { return [] }
        var actions = moveLateReduces(to: &idle, now: now, paces: paces)
        for r in requests.values.sorted(by: { $0.key < $1.key }) {
            for (s, number) in r.shardJobs.enumerated() where r.hedges[s] == nil && !r.copyFailed.contains(s) && !idle.isEmpty {
                guard let job = jobs[number], !job.done, job.pinned == nil, waitsOnWorker(number), let holder = job.holder,
                      job.scored || r.submission.transfer == .inline else { continue }
                let tokens = Double(r.shards[s].count)
                guard let i = idle.firstIndex(where: { w in
                    w.identity != holder && r.canSendData(to: w) && computes(r, on: w.identity) && fits(job, of: r, on: w.identity, now: now)
                        && straggles(job, tokens: tokens, spare: paces[w.identity]!, now: now)
                }) else { continue }
                actions += hedge(r, shard: s, on: idle.remove(at: i).identity, now: now, paces: paces)
            }
        }
        return actions
    }

    /// Reduces their workers have not answered in four times what reduces of their size and kind
    /// (`WorkKind`) took lately, from their last proposal (at least 20 ms), each moved to an idle worker (one
    /// each): a worker that stalls holding a request's reduce (stopped, frozen, starved of CPU)
    /// held the whole request until it was suspect (a beat and a half), where its shards were
    /// copied at once. A reduce takes its proposals again wherever it goes; its worker is let
    /// go of it, and counts as a straggler for a while.
    private func moveLateReduces(to idle: inout [WorkerEntry], now: ContinuousClock.Instant, paces: [[UInt8]: Double]) -> [Action] {
        var actions: [Action] = []
        for r in requests.values.sorted(by: { $0.key < $1.key }) where r.allProposed && !idle.isEmpty {
            guard let perToken = reduceTail[r.workKind]?.perToken, let number = r.reduceJob, let job = jobs[number], !job.done,
                  let holder = job.holder, let since = job.waitingSince, let i = idle.firstIndex(where: { $0.identity != holder }) else { continue }
            // The floor first: the candidates are counted only for a reduce that late.
            guard now - since > .milliseconds(20),
                  now - since > Duration.seconds(perToken * Double(r.candidates.count)) * 4 else { continue }
            let target = idle.remove(at: i).identity
            workers[holder]?.stragglingSince = now
            let (fresh, release) = refile(reduce: number, off: holder)
            actions += [release, .jobsMoved(.lateReduce, count: 1),
                        .log(level: .debug, message: "request \(r.id): reduce moved to \(workers[target]!.name), \(workers[holder]?.name ?? "?") has not answered \(Units.duration(now - since)) after the last proposal")]
            actions += assign(fresh, of: r, to: target, now: now, paces: paces)
        }
        return actions
    }

    /// Whether worker `id` is suspect: silent for more than a heartbeat and a half (it missed one:
    /// stopped, frozen, cut off, or starved of CPU), though not yet given up (its liveness).
    func isSuspect(_ id: [UInt8], now: ContinuousClock.Instant) -> Bool {
        workers[id].map { now - $0.lastHeard > beat(of: $0) * 3 / 2 } ?? false
    }

    /// The heartbeat interval worker `w`'s silence is judged by: the slower of its own (a worker
    /// started with a longer `--heartbeat-ms` than its coordinator's is quiet that long between
    /// beats, and was suspect, or given up, between them) and this coordinator's.
    func beat(of w: WorkerEntry) -> Duration {
        max(heartbeat, w.beat ?? heartbeat)
    }

    /// The jobs of suspect workers, who may not be computing them: each unanswered shard job with
    /// no copy yet is copied to the front of the queue (the next worker with credit takes it, as
    /// with a straggler's copy the first to propose stays), and their reductions move. Without
    /// this, every request such a worker held waited out its liveness under load, when no worker
    /// was idle to take a straggler's copy.
    func copyFromSuspects(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for id in workerIDs where isSuspect(id, now: now) {
            let w = workers[id]!
            var copied = 0
            for number in w.jobs.sorted() {
                guard let job = jobs[number], !job.done, job.pinned == nil, case .shard(let s) = job.kind,
                      let r = requests[job.key], r.shardJobs[s] == number, r.hedges[s] == nil,
                      job.requeues < config.maxRequeues else { continue }
                // Counted as a move (the holder may be dead): a shard that kills its workers
                // fails its request after as many deaths as before, not copied on and on.
                var fresh = CoordinatorJob(key: r.key, kind: .shard(s))
                fresh.requeues = job.requeues + 1
                fresh.lostWith = job.lostWith + (w.incarnation.map { [$0] } ?? [])
                let copy = file(fresh)
                r.hedges[s] = copy
                queue.requeue([copy])
                copied += 1
                actions.append(.hedged(.sent))
            }
            if copied > 0 {
                workers[id]!.stragglingSince = now
                actions.append(.log(level: .debug, message: "worker \(w.name) silent for \(Units.duration(now - w.lastHeard)): \(copied) of its shard jobs copied to other workers"))
            }
            actions += moveReduces(off: id)
        }
        return actions
    }

    /// Whether worker `w` has nothing to compute now: it holds no job but a reduce waiting for
    /// proposals and shards waiting for their weights past their due (a shard whose scores are in
    /// is graph-pruned meanwhile, by then done).
    private func holdsNoWork(_ w: WorkerEntry, now: ContinuousClock.Instant) -> Bool {
        w.jobs.allSatisfy { n in
            guard let job = jobs[n], !waitsOnWorker(n) else { return false }
            return job.kind == .reduce || job.due.map { now >= $0 } == true
        }
    }

    /// Whether `job` (`tokens` tokens) straggles beside an idle worker of pace `spare` (seconds a
    /// token), which would take `alone` for it: more than twice that past its due (with its
    /// worker's pace unknown, due when the idle worker would have finished it), or, not yet
    /// scored (none of it done), due later than the idle worker would finish it, with a fifth to
    /// spare.
    private func straggles(_ job: CoordinatorJob, tokens: Double, spare: Double, now: ContinuousClock.Instant) -> Bool {
        guard let since = job.waitingSince else { return false }
        let alone = Duration.seconds(spare * tokens)
        let due = job.due ?? since + alone
        return now > due + alone * 2 || !job.scored && now + alone * 1.2 < due
    }

    /// Job `number` was sent to its worker now: a shard's, when that worker should finish it, at
    /// its pace, after the jobs it holds that are due before; a reduce waits on its worker from
    /// when every proposal is in.
    func startWaiting(_ number: Int, now: ContinuousClock.Instant, paces: [[UInt8]: Double]) {
        guard let job = jobs[number], let holder = job.holder, let r = requests[job.key] else { return }
        guard case .shard(let s) = job.kind else {
            if job.kind == .reduce && r.allProposed { jobs[number]!.waitingSince = now }
            return
        }
        jobs[number]!.waitingSince = now
        jobs[number]!.due = paces[holder].map { pace in
            let ahead = workers[holder]!.jobs.compactMap { n in n != number && waitsOnWorker(n) ? jobs[n]?.due : nil }
            return max(now, ahead.max() ?? now) + Duration.seconds(pace * Double(r.shards[s].count))
        }
    }

    /// Job `number`'s weights are known now: it is due no sooner than now (its greedy, the one
    /// step left, is short, so its due stands: by then its reading and graph pruning were done).
    func weightsKnown(_ number: Int, now: ContinuousClock.Instant) {
        guard let job = jobs[number] else { return }
        jobs[number]!.waitingSince = now
        jobs[number]!.due = job.due.map { max($0, now) }
    }

    /// Sends shard `s` of `r`, held by another worker, to `target` as well.
    private func hedge(_ r: CoordinatorRequest, shard s: Int, on target: [UInt8], now: ContinuousClock.Instant,
                       paces: [[UInt8]: Double]) -> [Action] {
        let number = file(CoordinatorJob(key: r.key, kind: .shard(s)))
        r.hedges[s] = number
        let first = jobs[r.shardJobs[s]]!
        if let holder = first.holder { workers[holder]?.stragglingSince = now }
        let late = Units.duration(now - (first.dispatchedAt ?? now))
        let log = Action.log(level: .debug, message: "request \(r.id): shard \(s) copied to \(workers[target]!.name), its worker \(first.holder.flatMap { workers[$0]?.name } ?? "?") has held it \(late)")
        return [log, .hedged(.sent)] + assign(number, of: r, to: target, now: now, paces: paces)
    }

    /// Shard `s` of `r` was proposed by job `winner`: if it had a copy, the other of the two is
    /// let go, and `winner` is the shard's job. A first job that beat its copy clears its worker
    /// of straggling; one its copy beat leaves its worker a straggler for a while
    /// (`WorkerEntry.straggles`), and the reductions it holds move to other workers.
    func settleHedge(_ r: CoordinatorRequest, shard s: Int, answeredBy winner: Int, now: ContinuousClock.Instant) -> [Action] {
        guard let copy = r.hedges[s], winner == copy || winner == r.shardJobs[s] else { return [] }
        r.hedges[s] = nil
        let loser = winner == copy ? r.shardJobs[s] : copy
        r.shardJobs[s] = winner
        var actions: [Action] = [.hedged(winner == copy ? .won : .lost)]
        if winner != copy, let holder = jobs[winner]?.holder { workers[holder]?.stragglingSince = nil }
        if let job = jobs.removeValue(forKey: loser), let holder = job.holder {
            workers[holder]?.jobs.remove(loser)
            actions.append(.toWorker(identity: holder, frames: ReleaseMessage(tickets: [job.ticket], jobs: [loser]).frames()))
            if winner == copy {
                workers[holder]?.lostToCopy(now: now)
                actions += moveReduces(off: holder)
            }
        }
        return actions
    }

    /// The reductions a worker that lost to a copy (or went silent) holds go to others (a reduce
    /// takes its request's proposals again wherever it goes, and would wait on the straggler as
    /// well), each under a new number (`refile`), at the head of the queue.
    func moveReduces(off holder: [UInt8]) -> [Action] {
        guard let w = workers[holder] else { return [] }
        let reduces = w.jobs.filter { jobs[$0]?.kind == .reduce && jobs[$0]?.done == false }.sorted()
        guard !reduces.isEmpty else { return [] }
        return reduces.map { number in
            let (fresh, release) = refile(reduce: number, off: holder)
            queue.appendUrgent(fresh)
            return release
        }
    }

    /// Reduce `number` leaves `holder` (the release to send it) and is filed again under a new
    /// number, its request's reduce from now, not yet queued: it may go back to `holder`, which
    /// still holds the one it let go until its next tick, and would take it there for more
    /// proposals of that one.
    private func refile(reduce number: Int, off holder: [UInt8]) -> (Int, Action) {
        workers[holder]?.jobs.remove(number)
        let old = jobs.removeValue(forKey: number)!
        var fresh = CoordinatorJob(key: old.key, kind: .reduce)
        fresh.requeues = old.requeues
        let filed = file(fresh)
        requests[old.key]?.reduceJob = filed
        return (filed, .toWorker(identity: holder, frames: ReleaseMessage(tickets: [], jobs: [number]).frames()))
    }

    /// Job `number` of `r` lost its worker (it died, or its client cannot reach it): if it was
    /// one of a shard's two copies, it is forgotten and the other goes on alone (true).
    func hedgeOutlives(_ number: Int, of r: CoordinatorRequest) -> Bool {
        guard let job = jobs[number], case .shard(let s) = job.kind, let copy = r.hedges[s],
              number == copy || number == r.shardJobs[s] else { return false }
        r.hedges[s] = nil
        r.shardJobs[s] = number == copy ? r.shardJobs[s] : copy
        jobs[number] = nil
        return true
    }
}
