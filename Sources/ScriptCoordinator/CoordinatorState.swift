import ScriptTransport
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptWire

/// The coordinator's logic with no sockets and no threads: it takes events (messages, compute
/// results, the passing of time) and returns actions for its shell to carry out. Tests drive it
/// directly; `Coordinator` runs it over ZeroMQ.
public final class CoordinatorState {
    /// What the shell must do.
    public enum Action {
        /// Send frames (after the empty delimiter) to a client.
        case toClient(route: [UInt8], frames: [[UInt8]])
        /// Send frames to a worker (slices, so shard tensors go out as parts of the request's bytes).
        case toWorker(identity: [UInt8], frames: [Frame])
        /// Parse and prepare a request off the event loop, then call `prepared`.
        case prepare(key: Int, envelope: Envelope, frames: [Frame])
        /// Take a proposal into the request's global selection off the event loop, while other
        /// shards still run (no answer).
        case absorb(request: PreparedRequest, proposal: ShardProposal)
        /// Run the global selection off the event loop, then call `finished`.
        case finish(key: Int, request: PreparedRequest, proposals: [ShardProposal], workers: [String], shardsMs: Double, receivedMs: Double)
        /// Something worth a log line.
        case log(level: LogLevel, message: String)
    }

    public enum LogLevel: Sendable { case debug, info, warning, error }

    struct WorkerEntry {
        let identity: [UInt8]
        var name: String
        var credit: Int
        var jobs: Set<Int> = []
        var lastHeard: ContinuousClock.Instant
        var lastSent: ContinuousClock.Instant
        var lastAssigned: UInt64 = 0
    }

    final class RequestEntry {
        let key: Int
        let id: String
        var routes: [[UInt8]]
        let received: ContinuousClock.Instant
        let deadline: ContinuousClock.Instant
        let bytes: Int
        var prepared: PreparedRequest?
        var proposals: [ShardProposal?] = []
        var remaining = 0
        var workers: Set<String> = []
        var shardsStarted: ContinuousClock.Instant?
        var finishing = false
        init(key: Int, id: String, route: [UInt8], received: ContinuousClock.Instant, deadline: ContinuousClock.Instant, bytes: Int) {
            self.key = key; self.id = id; self.routes = [route]; self.received = received; self.deadline = deadline; self.bytes = bytes
        }
    }

    public let config: CoordinatorConfiguration
    private var workers: [[UInt8]: WorkerEntry] = [:]
    private var requests: [Int: RequestEntry] = [:]
    private var keyOfID: [String: Int] = [:]
    /// job -> (request key, shard index)
    private var jobs: [Int: (key: Int, shard: Int)] = [:]
    private var queue: [Int] = []
    private var queueHead = 0
    private var nextKey = 0
    private var nextJob = 0
    private var assignments: UInt64 = 0
    private var inFlightBytes = 0
    private var cache: [String: [[UInt8]]] = [:]
    private var cacheOrder: [String] = []
    public private(set) var draining = false
    public private(set) var served = 0
    public private(set) var failed = 0

    public init(config: CoordinatorConfiguration) { self.config = config }

    private var heartbeat: Duration { .milliseconds(config.heartbeatMs) }
    public var workerCount: Int { workers.count }
    public var requestsInFlight: Int { requests.count }
    public var queuedShards: Int { queue.count - queueHead }
    /// Draining and nothing left to do.
    public var isDrained: Bool { draining && requests.isEmpty }

    // MARK: clients

    /// A client's message as arrays (tests, tools).
    public func clientMessage(route: [UInt8], frames: [[UInt8]], now: ContinuousClock.Instant) -> [Action] {
        clientMessage(route: route, frames: frames.map(Frame.init), now: now)
    }

    public func clientMessage(route: [UInt8], frames: [Frame], now: ContinuousClock.Instant) -> [Action] {
        guard frames.count >= 2, frames[0].isEmpty else {
            return reject(route: route, id: "", ProtocolError(.badMessage, "expected an empty delimiter frame, then the envelope"))
        }
        let payload = Array(frames.dropFirst())
        let envelope: Envelope
        do { envelope = try Envelope.decode(payload[0]) } catch let e as ProtocolError {
            return reject(route: route, id: "", e)
        } catch { return reject(route: route, id: "", ProtocolError(.badMessage, "\(error)")) }
        let id = (try? envelope.string("id")) ?? ""
        let type: String
        do { type = try ProtocolVersion.check(envelope) } catch let e as ProtocolError {
            return reject(route: route, id: id, e)
        } catch { return reject(route: route, id: id, ProtocolError(.badMessage, "\(error)")) }
        guard envelope.has("id"), !id.isEmpty, id.utf8.count <= 128 else {
            return reject(route: route, id: id, ProtocolError(.badRequest, "field 'id' must be a string of 1 to 128 bytes"))
        }
        switch type {
        case "status":
            let s = ClusterStatus(id: id, workers: workers.count, queuedShards: queuedShards, requestsInFlight: requests.count,
                                  served: served, failed: failed)
            return [.toClient(route: route, frames: ClusterReply.status(s).frames())]
        case "prune":
            if let cached = cache[id] { return [.toClient(route: route, frames: cached)] }
            if let key = keyOfID[id], let r = requests[key] {
                if !r.routes.contains(route) { r.routes.append(route) }
                return [.log(level: .debug, message: "request \(id) retried while in flight")]
            }
            if draining { return reject(route: route, id: id, ProtocolError(.shuttingDown, "the coordinator is draining")) }
            let bytes = payload.reduce(0) { $0 + $1.count }
            guard requests.count < config.maxRequests, inFlightBytes + bytes <= config.maxInFlightBytes else {
                return reject(route: route, id: id, ProtocolError(.busy, "\(requests.count) requests (\(inFlightBytes) bytes) in flight; retry later"))
            }
            var deadlineMs = config.defaultDeadlineMs
            if case let .int(d)? = envelope["deadline_ms"], d >= 1, d <= Int64(config.limits.maxDeadlineMs) { deadlineMs = Int(d) }
            let key = nextKey
            nextKey += 1
            let entry = RequestEntry(key: key, id: id, route: route, received: now, deadline: now + .milliseconds(deadlineMs), bytes: bytes)
            requests[key] = entry
            keyOfID[id] = key
            inFlightBytes += bytes
            return [.prepare(key: key, envelope: envelope, frames: payload)]
        default:
            return reject(route: route, id: id, ProtocolError(.unknownType, "unknown message type '\(type)'; clients send prune or status"))
        }
    }

    private func reject(route: [UInt8], id: String, _ e: ProtocolError) -> [Action] {
        failed += 1
        return [.log(level: .warning, message: "rejected request '\(id)': \(e)"),
                .toClient(route: route, frames: ClusterReply.error(id: id, e).frames())]
    }

    /// The outcome of `prepare`.
    public func prepared(key: Int, _ result: Result<PreparedRequest, ProtocolError>, now: ContinuousClock.Instant) -> [Action] {
        guard let r = requests[key] else { return [] }
        switch result {
        case .failure(let e):
            return fail(r, e)
        case .success(let p):
            r.prepared = p
            r.proposals = [ShardProposal?](repeating: nil, count: p.payloads.count)
            r.remaining = p.payloads.count
            r.shardsStarted = now
            if p.payloads.isEmpty { return finishActions(r, now: now) }
            for s in 0..<p.payloads.count {
                jobs[nextJob] = (key, s)
                queue.append(nextJob)
                nextJob += 1
            }
            return dispatch(now: now)
        }
    }

    /// The outcome of `finish`.
    public func finished(key: Int, _ reply: ClusterReply) -> [Action] {
        guard let r = requests[key] else { return [] }
        let frames = reply.frames()
        remember(r.id, frames)
        served += 1
        remove(r)
        return r.routes.map { .toClient(route: $0, frames: frames) }
    }

    private func fail(_ r: RequestEntry, _ e: ProtocolError) -> [Action] {
        failed += 1
        remove(r)
        let frames = ClusterReply.error(id: r.id, e).frames()
        return [.log(level: e.code == .internal ? .error : .info, message: "request \(r.id) failed: \(e)")]
            + r.routes.map { .toClient(route: $0, frames: frames) }
    }

    private func remove(_ r: RequestEntry) {
        requests[r.key] = nil
        if keyOfID[r.id] == r.key { keyOfID[r.id] = nil }
        inFlightBytes -= r.bytes
        // Queued jobs of the request are skipped at dispatch; answers to in-flight ones are ignored.
        for (job, owner) in jobs where owner.key == r.key { jobs[job] = nil }
    }

    private func remember(_ id: String, _ frames: [[UInt8]]) {
        guard config.resultCache > 0 else { return }
        if cache.updateValue(frames, forKey: id) == nil { cacheOrder.append(id) }
        while cacheOrder.count > config.resultCache {
            cache[cacheOrder.removeFirst()] = nil
        }
    }

    // MARK: workers

    /// A worker's message as arrays (tests, tools).
    public func workerMessage(identity: [UInt8], frames: [[UInt8]], now: ContinuousClock.Instant) -> [Action] {
        workerMessage(identity: identity, frames: frames.map(Frame.init), now: now)
    }

    public func workerMessage(identity: [UInt8], frames: [Frame], now: ContinuousClock.Instant) -> [Action] {
        guard let first = frames.first else { return [.log(level: .warning, message: "empty message from a worker")] }
        let e: Envelope
        let type: String
        do {
            e = try Envelope.decode(first)
            type = try ProtocolVersion.check(e)
        } catch {
            return [.log(level: .warning, message: "unreadable message from worker \(hex(identity)): \(error)")]
        }
        let known = workers[identity] != nil
        if known { workers[identity]!.lastHeard = now }
        switch type {
        case "ready":
            let credit = max(0, min(64, (try? e.int("credit")) ?? 1))
            let name = (try? e.string("worker")) ?? hex(identity)
            if known {
                workers[identity]!.credit = credit
                workers[identity]!.name = name
            } else {
                workers[identity] = WorkerEntry(identity: identity, name: name, credit: credit, lastHeard: now, lastSent: now)
            }
            return [.log(level: .info, message: "worker \(name) ready, credit \(credit)")] + dispatch(now: now)
        case "heartbeat":
            return known ? [] : [.toWorker(identity: identity, frames: [Frame(Envelope.encode(ProtocolVersion.header("disconnect")))])]
        case "proposal", "shard_error":
            var actions: [Action] = []
            if !known { actions.append(.toWorker(identity: identity, frames: [Frame(Envelope.encode(ProtocolVersion.header("disconnect")))])) }
            let job = (try? e.int("job")) ?? -1
            if known { workers[identity]!.jobs.remove(job) }
            actions += type == "proposal" ? proposal(job: job, e, frames: frames, from: identity, now: now)
                                          : shardError(job: job, e)
            return actions + dispatch(now: now)
        case "disconnect":
            return dropWorker(identity, reason: "said disconnect") + dispatch(now: now)
        default:
            return [.log(level: .warning, message: "worker \(hex(identity)) sent unknown type '\(type)'")]
        }
    }

    private func proposal(job: Int, _ e: Envelope, frames: [Frame], from identity: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        guard let (key, shard) = jobs[job], let r = requests[key], let p = r.prepared else {
            return [.log(level: .debug, message: "late proposal for job \(job) ignored")]
        }
        guard r.proposals[shard] == nil else { return [] }
        do {
            let (_, proposal, _) = try ProposalMessage.parse(e, frames: frames)
            try proposal.validate(for: p.shards[shard])
            jobs[job] = nil
            r.proposals[shard] = proposal
            r.remaining -= 1
            r.workers.insert(workers[identity]?.name ?? hex(identity))
            // The last proposal is taken in by the finish itself, on all of the coordinator's threads.
            if r.remaining == 0 { return finishActions(r, now: now) }
            return [.absorb(request: p, proposal: proposal)]
        } catch {
            jobs[job] = nil
            return fail(r, ProtocolError(.internal, "worker \(workers[identity]?.name ?? hex(identity)) returned an invalid proposal for shard \(shard): \(error)"))
        }
    }

    private func shardError(job: Int, _ e: Envelope) -> [Action] {
        guard let (key, _) = jobs[job], let r = requests[key] else { return [] }
        jobs[job] = nil
        let code = ErrorCode(rawValue: (try? e.string("code")) ?? "") ?? .internal
        return fail(r, ProtocolError(code, "a worker refused a shard: \((try? e.string("message")) ?? "no message")"))
    }

    private func finishActions(_ r: RequestEntry, now: ContinuousClock.Instant) -> [Action] {
        guard let p = r.prepared, !r.finishing else { return [] }
        r.finishing = true
        let shardsMs = ms(now - (r.shardsStarted ?? now))
        return [.finish(key: r.key, request: p, proposals: r.proposals.compactMap { $0 }, workers: r.workers.sorted(),
                        shardsMs: shardsMs, receivedMs: ms(now - r.received))]
    }

    private func dropWorker(_ identity: [UInt8], reason: String) -> [Action] {
        guard let w = workers.removeValue(forKey: identity) else { return [] }
        // Its shards go back to the head of the queue, in job order.
        let orphans = w.jobs.sorted().filter { jobs[$0] != nil }
        queue.replaceSubrange(queueHead..<queueHead, with: orphans)
        return [.log(level: .warning, message: "worker \(w.name) \(reason); \(orphans.count) shards requeued")]
    }

    /// Sends queued shards to workers with free credit.
    private func dispatch(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        while queueHead < queue.count {
            let job = queue[queueHead]
            guard let (key, shard) = jobs[job], let r = requests[key], let p = r.prepared else {
                queueHead += 1
                continue
            }
            var best: [UInt8]? = nil
            var bestFree = 0
            var bestAssigned = UInt64.max
            for (id, w) in workers {
                let free = w.credit - w.jobs.count
                if free > bestFree || (free == bestFree && free > 0 && w.lastAssigned < bestAssigned) {
                    best = id; bestFree = free; bestAssigned = w.lastAssigned
                }
            }
            guard let target = best else { break }
            queueHead += 1
            assignments += 1
            workers[target]!.jobs.insert(job)
            workers[target]!.lastAssigned = assignments
            workers[target]!.lastSent = now
            actions.append(.toWorker(identity: target, frames: p.payloads[shard].frames(id: job)))
        }
        if queueHead > 1024 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        return actions
    }

    /// A worker the shell could not send to is gone.
    public func unreachable(worker identity: [UInt8], now: ContinuousClock.Instant) -> [Action] {
        dropWorker(identity, reason: "is unreachable") + dispatch(now: now)
    }

    // MARK: time

    /// Heartbeats, dead workers, expired deadlines.
    public func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        let dead = heartbeat * config.liveness
        for (id, w) in workers where now - w.lastHeard > dead {
            actions += dropWorker(id, reason: "went silent for \(ms(now - w.lastHeard)) ms")
        }
        for (id, w) in workers where now - w.lastSent >= heartbeat {
            workers[id]!.lastSent = now
            actions.append(.toWorker(identity: id, frames: [Frame(Envelope.encode(ProtocolVersion.header("heartbeat")))]))
        }
        for r in requests.values.sorted(by: { $0.key < $1.key }) where now >= r.deadline {
            actions += fail(r, ProtocolError(.timeout, "deadline of \(ms(r.deadline - r.received)) ms passed with \(r.remaining) of \(r.proposals.count) shards unanswered (\(workers.count) workers)"))
        }
        return actions + dispatch(now: now)
    }

    /// Stop taking requests; finish those in flight.
    public func beginDrain() -> [Action] {
        draining = true
        return [.log(level: .info, message: "draining: \(requests.count) requests in flight")]
    }

    /// Workers to tell the coordinator is leaving.
    public func farewells() -> [Action] {
        workers.keys.map { .toWorker(identity: $0, frames: [Frame(Envelope.encode(ProtocolVersion.header("disconnect")))]) }
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

import Foundation
