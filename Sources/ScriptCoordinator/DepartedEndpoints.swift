/// The data endpoints of workers that left within `window`, and when each left: a direct
/// request whose client reaches none of the workers there still waits for one that left lately
/// and that it reached (stopped, paused or restarting, it may be back in seconds), rather than
/// failing at once as one whose client reaches no worker the cluster has. Until `joining` has
/// passed since the coordinator started, it may not have heard from every worker yet (after a
/// restart they register again within a beat or two): any endpoint may be one that left.
struct DepartedEndpoints {
    private var left: [String: ContinuousClock.Instant] = [:]
    /// When a worker with bfloat16 products last left.
    private var bfloat16Left: ContinuousClock.Instant?
    private let joinedBy: ContinuousClock.Instant
    let window: Duration

    init(started: ContinuousClock.Instant, joining: Duration, window: Duration = .seconds(60)) {
        joinedBy = started + joining
        self.window = window
    }

    /// A worker with bfloat16 products left at `now`.
    mutating func bfloat16WorkerLeft(now: ContinuousClock.Instant) { bfloat16Left = now }

    /// Whether a worker with bfloat16 products may be about to join: the coordinator may not
    /// have heard from every worker yet, or one left within the window.
    func bfloat16WorkerMayJoin(now: ContinuousClock.Instant) -> Bool {
        now < joinedBy || bfloat16Left.map { now - $0 <= window } ?? false
    }

    /// A worker advertising `endpoint` left at `now`.
    mutating func insert(_ endpoint: String, now: ContinuousClock.Instant) {
        left = left.filter { now - $0.value <= window }
        left[endpoint] = now
    }

    /// Whether a worker that left within the window, or before the coordinator heard from every
    /// worker, may have advertised an endpoint `reachable` says yes to.
    func contains(now: ContinuousClock.Instant, where reachable: (String) -> Bool) -> Bool {
        now < joinedBy || left.contains { now - $0.value <= window && reachable($0.key) }
    }
}
