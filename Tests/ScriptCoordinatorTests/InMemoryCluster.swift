import XCTest
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport
@testable import ScriptCoordinator
@testable import ScriptWorker

/// A coordinator and workers wired together in memory: the real state machines on both sides,
/// every message through its real encoding, the real arithmetic run inline, no sockets and no
/// threads; time passes by hand. What the shells do with sockets is tested with real processes.
/// Several coordinators may share the workers (each worker has a link to every one); a request
/// goes to the coordinator it was submitted to, and its tries to that one.
final class InMemoryCluster {
    enum Event {
        case fromClient(coordinator: Int, frames: [Frame])
        case fromWorker(id: [UInt8], link: Int, frames: [Frame])
        case toWorker(id: [UInt8], link: Int, frames: [Frame])
        case data(id: [UInt8], frames: [Frame])
        case done(id: [UInt8], task: Int, outcome: WorkerState.Outcome)
        /// The client sends request `id` again, if it still waits for an answer.
        case retry(id: String, frames: [Frame])

        /// The worker the event reaches, if it reaches one.
        var worker: [UInt8]? {
            switch self {
            case .toWorker(let id, _, _), .data(let id, _), .done(let id, _, _): return id
            case .fromClient, .fromWorker, .retry: return nil
            }
        }
    }

    private(set) var coordinators: [CoordinatorState]
    /// The first coordinator (the only one, unless asked for more).
    var coordinator: CoordinatorState { coordinators[0] }
    /// The coordinator each request was submitted to.
    private(set) var coordinatorOf: [String: Int] = [:]
    var workers: [[UInt8]: WorkerState] = [:]
    /// Workers that are gone (killed): nothing reaches them, nothing leaves them.
    var dead: Set<[UInt8]> = []
    var now = ContinuousClock().now
    let route: [UInt8] = [7, 7, 7]
    var replies: [ClusterReply] = []
    var finished: [AccessRecord] = []
    /// Jobs answered (as the coordinator saw them), workers that left (why, jobs requeued), and
    /// jobs the workers finished (their metrics).
    var answered: [(kind: ClusterMetrics.JobKind, roundTrip: Duration)] = []
    var departures: [(reason: ClusterMetrics.DepartureReason, requeued: Int)] = []
    var moves: [(reason: ClusterMetrics.RequeueReason, count: Int)] = []
    var hedges: [ClusterMetrics.HedgeOutcome] = []
    var workerJobs: [WorkerJobReport] = []
    var logs: [String] = []
    /// Direct requests the client sent (to answer placements), and whether it answers them.
    var submissions: [String: EncodedSubmission] = [:]
    /// Requests the client gave up.
    var givenUp: Set<String> = []
    /// Tries of each request that wait for an answer (a try sent while one waits joins it).
    private(set) var awaiting: [String: Int] = [:]
    /// The order requests were first submitted in.
    var order: [String: Int] = [:]
    var clientSendsData = true
    /// The placements the client was sent, in order.
    var placements: [Placement] = []
    /// Workers whose data sockets the client cannot reach: their direct bytes never arrive.
    var unreachable: Set<[UInt8]> = []
    /// Whether the client, its connection to an unreachable worker's data socket failed (100 ms
    /// after the placement), sends the request again naming that socket in `avoid`, as the
    /// real client does; otherwise it waits (as one whose bytes are stuck on the way).
    var clientAvoids = false
    /// How long (ms) the client's bytes for a placement take to reach their worker: by default
    /// they arrive at once; delayed ones arrive at the first tick past their time.
    var dataDelayMs: () -> Int = { 0 }
    /// Whether the client's connection to the worker drops while its bytes for a placement are
    /// on their way: they are lost, and the client, told by its socket's monitor, sends the
    /// request again (100 ms later), as the real client does. Counted in `dataLosses`.
    var dataLost: () -> Bool = { false }
    private(set) var dataLosses = 0
    /// The client's messages on their way, due at the first tick past `due`.
    private var inTransit: [(due: ContinuousClock.Instant, event: Event)] = []
    /// Called when a worker starts a task: return true to kill the worker right there.
    var killOnTask: ([UInt8], WorkerState.Work) -> Bool = { _, _ in false }
    /// What reaches the coordinator, and from whom, when worker `id` sends `frames`: by default
    /// that message; a test plays a buggy or hostile worker by changing, adding or dropping.
    var tamper: (_ id: [UInt8], _ frames: [Frame]) -> [(from: [UInt8], frames: [Frame])] = { [($0, $1)] }
    /// What a message from the coordinator becomes on its way to a worker.
    var damageToWorker: ([Frame]) -> [Frame] = { $0 }
    /// What a direct client's data message becomes on its way to the worker.
    var damageData: ([Frame]) -> [Frame] = { $0 }
    /// While true, the workers' tasks wait, to run when `releaseTasks` is called: requests that
    /// take time.
    var holdTasks = false
    /// Workers whose tasks wait, as while `holdTasks`, while the others' run (a stopped process,
    /// a container at its CPU quota).
    var stalled: Set<[UInt8]> = []
    /// Tasks that wait as a stalled worker's do, by worker and work.
    var stallWork: ([UInt8], WorkerState.Work) -> Bool = { _, _ in false }
    private var heldTasks: [(worker: [UInt8], task: WorkerState.WorkerTask)] = []
    /// Workers stopped (as by SIGSTOP), since when: they neither tick nor send, and what reaches
    /// them (messages, their tasks' ends) waits for `resume`.
    private(set) var paused: [[UInt8]: ContinuousClock.Instant] = [:]
    private var waitingForResume: [[UInt8]: [Event]] = [:]
    /// The jobs each worker finished, in order.
    var jobsByWorker: [[UInt8]: [WorkerJobReport]] = [:]
    /// Heartbeats the coordinator sent to each worker, and each worker to the coordinator.
    var heartbeatsToWorker: [[UInt8]: Int] = [:]
    var heartbeatsFromWorker: [[UInt8]: Int] = [:]
    private var events: [Event] = []
    let workerConfig: WorkerConfiguration

    init(config: CoordinatorConfiguration = CoordinatorConfiguration(), workerConfig: WorkerConfiguration = WorkerConfiguration(),
         coordinators count: Int = 1) {
        let start = ContinuousClock().now
        now = start
        coordinators = (0..<count).map { _ in CoordinatorState(config: config, now: start) }
        var wc = workerConfig
        wc.endpoints = (0..<count).map { "mem://coordinator\($0)" }
        self.workerConfig = wc
    }

    func endpoint(of id: [UInt8]) -> String { "mem://" + id.map(String.init).joined(separator: ".") }

    @discardableResult
    func addWorker(_ id: [UInt8], credit: Int = 2, takesData: Bool = true, memory: Int? = nil, bf16: String? = nil) -> WorkerState {
        var c = workerConfig
        c.name = "w\(id.map(String.init).joined())"
        c.credit = credit
        c.bf16 = bf16
        if let memory { c.memoryLimit = MemoryLimit(bytes: memory, source: "its cgroup") }
        let w = WorkerState(config: c, dataEndpoint: takesData ? endpoint(of: id) : nil, now: now, random: { 0.5 })
        workers[id] = w
        dead.remove(id)
        carry(id, w.start(now: now))
        pump()
        return w
    }

    func kill(_ id: [UInt8]) { dead.insert(id) }

    /// Coordinator `k` dies and a new one starts in its place, knowing nothing: what the old one
    /// was told is lost with it; the workers learn of it from their next beat (answered
    /// `disconnect`), and a client sends its requests without an answer again.
    func restartCoordinator(_ k: Int = 0) {
        coordinators[k] = CoordinatorState(config: coordinators[k].config, now: now)
        events.removeAll { e in
            switch e {
            case .fromWorker(_, let link, _): return link == k
            case .fromClient(let to, _): return to == k
            case .retry(let id, _): return coordinatorOf[id] == k
            case .toWorker, .data, .done: return false
            }
        }
    }

    /// The connection between worker `id` and coordinator `k` is reset (a middlebox, a network
    /// blip), both processes alive: what was on its way either way is lost, and libzmq connects
    /// again at once, under a new identity. The coordinator's next send to the old one fails
    /// (libzmq knows no connection of that identity), which the shell reports (`unreachable`);
    /// the worker's next message, from a connection the coordinator does not know, is answered
    /// `disconnect`, and it forgets that coordinator's jobs and registers again. Which comes
    /// first is a race: `coordinatorFirst` settles it for the coordinator at once.
    func resetLink(_ id: [UInt8], to k: Int = 0, coordinatorFirst: Bool = true) {
        func onLink(_ e: Event) -> Bool {
            switch e {
            case .toWorker(let w, let link, _), .fromWorker(let w, let link, _): return w == id && link == k
            default: return false
            }
        }
        events.removeAll(where: onLink)
        waitingForResume[id]?.removeAll(where: onLink)
        let old = identity(of: id, link: k)
        connections[LinkKey(worker: id, link: k), default: 0] += 1
        if coordinatorFirst { carry(coordinators[k].unreachable(worker: old, error: "its connection closed", now: now), from: k) }
        pump()
    }

    /// A worker's link to a coordinator.
    private struct LinkKey: Hashable {
        let worker: [UInt8]
        let link: Int
    }

    /// Connections made again on each link (after resets): its identity at the coordinator is
    /// the worker's id, then that id and the count's four bytes.
    private var connections: [LinkKey: UInt32] = [:]

    /// The identity the coordinator knows worker `id`'s current connection on link `k` by.
    private func identity(of id: [UInt8], link k: Int) -> [UInt8] {
        let n = connections[LinkKey(worker: id, link: k)] ?? 0
        return n == 0 ? id : id + withUnsafeBytes(of: n.littleEndian, Array.init)
    }

    /// The worker an identity at coordinator `k` names, and whether it is its current
    /// connection (a reset one's is not: a send to it fails).
    private func worker(of identity: [UInt8], link k: Int) -> (id: [UInt8], current: Bool) {
        let id = Array(identity.prefix(1))
        guard connections[LinkKey(worker: id, link: k)] != nil else { return (identity, true) }
        return (id, identity == self.identity(of: id, link: k))
    }

    /// Worker `id` stops, as a process on SIGSTOP.
    func pause(_ id: [UInt8]) { paused[id] = paused[id] ?? now }

    /// Worker `id` runs again: it sees the gap, as its shell's loop does, then what reached it
    /// meanwhile, in order.
    func resume(_ id: [UInt8]) {
        guard let since = paused.removeValue(forKey: id), let w = workers[id], !dead.contains(id) else { return }
        carry(id, w.resumed(after: LoopGap.Gap(wall: now - since, cpu: .zero), now: now))
        events.insert(contentsOf: waitingForResume.removeValue(forKey: id) ?? [], at: 0)
        pump()
    }

    /// Worker `id` begins to drain (as on SIGTERM): what it says is delivered in turn.
    func drain(_ id: [UInt8]) { carry(id, workers[id]!.beginDrain(now: now)) }

    /// The client sends request `e` to coordinator `k`.
    func submit(_ e: EncodedSubmission, to k: Int = 0) {
        submissions[e.id] = e
        order[e.id] = order[e.id] ?? order.count
        coordinatorOf[e.id] = coordinatorOf[e.id] ?? k
        awaiting[e.id, default: 0] += 1
        fromClient(e.frames(), to: coordinatorOf[e.id]!)
    }

    /// The client sends request `id` again, unchanged (a try after its timeout), to the
    /// coordinator it went to, or to coordinator `k` from now on (a client of several that
    /// fails over).
    func resend(_ id: String, to k: Int? = nil) {
        if let k { coordinatorOf[id] = k }
        if isSettled(id) { awaiting[id] = 1 }
        fromClient(submissions[id]!.frames(), to: coordinatorOf[id]!)
    }

    /// The client gives request `id` up (and sends it no more).
    func cancel(_ id: String) {
        givenUp.insert(id)
        awaiting[id] = 0
        fromClient(CancelMessage(id: id).frames(), to: coordinatorOf[id]!)
    }

    /// A client's message (the frames after the delimiter), delivered with what it causes.
    private func fromClient(_ frames: [Frame], to k: Int) {
        events.append(.fromClient(coordinator: k, frames: [Frame([])] + frames))
        pump()
    }

    func send(_ frames: [[UInt8]]) {
        events.append(.fromClient(coordinator: 0, frames: frames.map(Frame.init)))
        pump()
    }

    /// Moves time on by `ms`, in ticks of 50 ms, delivering what each tick causes.
    func advance(ms: Int) {
        let end = now + .milliseconds(ms)
        while now < end {
            now = min(end, now + .milliseconds(50))
            let arriving = inTransit.filter { $0.due <= now }
            inTransit.removeAll { $0.due <= now }
            events += arriving.map(\.event)
            for k in coordinators.indices { carry(coordinators[k].tick(now: now), from: k) }
            for id in workers.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) where !dead.contains(id) && paused[id] == nil {
                carry(id, workers[id]!.tick(now: now))
            }
            pump()
        }
    }

    /// Whether the client waits for no answer to request `id`: every try answered, or given up.
    func isSettled(_ id: String) -> Bool { givenUp.contains(id) || awaiting[id, default: 0] == 0 }

    /// Runs the tasks held so far, now, and the ones to come as they come.
    func releaseTasks() {
        holdTasks = false
        stalled = []
        stallWork = { _, _ in false }
        for (id, task) in heldTasks { events.append(.done(id: id, task: task.number, outcome: WorkerCompute.run(task.work, pool: .serial))) }
        heldTasks = []
        pump()
    }

    /// Worker `id`'s greedy steps (a shard's last, once its weights are known) wait, as a
    /// stalled worker's tasks do; its reading and graph pruning run.
    func stallProposals(of id: [UInt8]) {
        stallWork = { worker, work in
            if worker == id, case .propose = work { return true }
            return false
        }
    }

    /// Runs worker `id`'s tasks held so far, now, and its tasks to come as they come.
    func releaseTasks(of id: [UInt8]) {
        stalled.remove(id)
        for (w, task) in heldTasks where w == id { events.append(.done(id: w, task: task.number, outcome: WorkerCompute.run(task.work, pool: .serial))) }
        heldTasks.removeAll { $0.worker == id }
        pump()
    }

    /// The last reply to `id`.
    func reply(_ id: String) -> ClusterReply? { replies.last { $0.id == id } }

    /// Delivers every pending event (and what it causes) in order.
    func pump() {
        var steps = 0
        while !events.isEmpty {
            steps += 1
            precondition(steps < 100_000, "the cluster does not settle")
            let e = events.removeFirst()
            if let id = e.worker, paused[id] != nil {
                waitingForResume[id, default: []].append(e)
                continue
            }
            switch e {
            case .fromClient(let k, let frames):
                carry(coordinators[k].clientMessage(route: route, frames: frames, now: now), from: k)
            case .fromWorker(let id, let k, let frames):
                carry(coordinators[k].workerMessage(identity: identity(of: id, link: k), frames: frames, now: now), from: k)
            case .toWorker(let id, let k, let frames):
                if let w = workers[id], !dead.contains(id) { carry(id, w.linkMessage(k, frames: frames, now: now)) }
            case .data(let id, let frames):
                if let w = workers[id], !dead.contains(id) { carry(id, w.dataMessage(frames: frames, now: now)) }
            case .done(let id, let task, let outcome):
                if let w = workers[id], !dead.contains(id) { carry(id, w.taskFinished(task, outcome, now: now)) }
            case .retry(let id, let frames):
                let k = coordinatorOf[id]!
                if !isSettled(id) { carry(coordinators[k].clientMessage(route: route, frames: frames, now: now), from: k) }
            }
        }
    }

    private func carry(_ actions: [CoordinatorState.Action], from k: Int) {
        for a in actions {
            switch a {
            case .toClient(_, let frames):
                guard let reply = try? ClusterReply.parse(frames) else { XCTFail("unparseable reply"); continue }
                if case .placement(let p) = reply {
                    placements.append(p)
                    sendData(for: p)
                } else {
                    replies.append(reply)
                    awaiting[reply.id] = max(0, awaiting[reply.id, default: 0] - 1)
                }
            case .toWorker(let identity, let frames):
                let (id, current) = worker(of: identity, link: k)
                guard current else {
                    carry(coordinators[k].unreachable(worker: identity, error: "its connection closed", unsent: frames, now: now), from: k)
                    continue
                }
                if (try? BackendEnvelope.open(frames).type) == "heartbeat" { heartbeatsToWorker[id, default: 0] += 1 }
                events.append(.toWorker(id: id, link: k, frames: damageToWorker(frames)))
            case .finished(let record):
                finished.append(record)
            case .jobAnswered(let kind, let roundTrip):
                answered.append((kind, roundTrip))
            case .workerLeft(let reason, let requeued):
                departures.append((reason, requeued))
            case .jobsMoved(let reason, let count):
                moves.append((reason, count))
            case .hedged(let outcome):
                hedges.append(outcome)
            case .log(_, let message):
                logs.append(message)
            }
        }
    }

    /// What the client does with a placement: sends the shard's bytes to the worker named (at
    /// once, or `dataDelayMs` later; lost on a dropped connection, `dataLost`, and the request
    /// sent again), or, where it cannot reach that worker, sends the request again naming it in
    /// `avoid` (`clientAvoids`), or nothing.
    private func sendData(for p: Placement) {
        guard clientSendsData, let e = submissions[p.id], let data = e.data(shard: p.shard, ticket: p.ticket),
              let target = workers.keys.first(where: { endpoint(of: $0) == p.endpoint }) else { return }
        if unreachable.contains(target) {
            guard clientAvoids, !e.avoid.contains(p.endpoint) else { return }
            let avoiding = e.avoiding(e.avoid.union([p.endpoint]))
            submissions[p.id] = avoiding
            inTransit.append((now + .milliseconds(100), .retry(id: p.id, frames: [Frame([])] + avoiding.frames())))
            return
        }
        if dataLost() {
            dataLosses += 1
            inTransit.append((now + .milliseconds(100), .retry(id: p.id, frames: [Frame([])] + e.frames())))
            return
        }
        let delay = dataDelayMs(), event = Event.data(id: target, frames: damageData(data.frames()))
        if delay > 0 { inTransit.append((now + .milliseconds(delay), event)) } else { events.append(event) }
    }

    private func carry(_ id: [UInt8], _ actions: [WorkerState.Action]) {
        for a in actions {
            guard !dead.contains(id) else { return }
            switch a {
            case .send(let link, let frames):
                if (try? BackendEnvelope.open(frames).type) == "heartbeat" { heartbeatsFromWorker[id, default: 0] += 1 }
                for m in tamper(id, frames) { events.append(.fromWorker(id: m.from, link: link, frames: m.frames)) }
            case .run(let task):
                if killOnTask(id, task.work) {
                    kill(id)
                    return
                }
                if holdTasks || stalled.contains(id) || stallWork(id, task.work) {
                    heldTasks.append((id, task))
                    continue
                }
                events.append(.done(id: id, task: task.number, outcome: WorkerCompute.run(task.work, pool: .serial)))
            case .log(_, let message):
                logs.append(message)
            case .jobFinished(let report):
                workerJobs.append(report)
                jobsByWorker[id, default: []].append(report)
            case .exit:
                kill(id)  // the process ends (a drain finished)
                return
            case .open, .close, .answer, .readShared:
                break
            }
        }
    }
}
