import ScriptCore

/// Runs methods over requests at several budgets and averages what the kept sets preserve.
public struct Evaluator: Sendable {
    public var methods: [EvalMethod]
    public var options: PruneOptions
    public var pool: ComputePool
    /// Runs of each request per method and budget; the time is their median.
    public var repeats: Int
    /// Called after each run of a method on a request (for a progress line).
    public var onRun: (@Sendable () -> Void)?
    /// The milliseconds a run counts for (its `total` stage; a test reads its own clock).
    var milliseconds: @Sendable (PruneResult) -> Double = { $0.timings["total"] ?? 0 }

    public init(methods: [EvalMethod] = EvalMethod.all, options: PruneOptions = .defaults, pool: ComputePool = .machine,
                repeats: Int = 1) {
        self.methods = methods
        self.options = options
        self.pool = pool
        self.repeats = max(1, repeats)
    }

    /// One row per (method, budget) over `cases` (all of one kind).
    public func evaluate(_ cases: [EvalCase], budgets: [Budget]) throws -> [EvalRow] {
        var rows: [EvalRow] = []
        let pruner = Pruner(pool: pool)
        // One untimed run first: the process's first prune starts the pool's threads and BLAS's
        // buffers, which the first method's first time carried (9.3 ms against 0.1 ms for the
        // small image case), tilting every comparison against that method.
        if let c = cases.first, let m = methods.first, let budget = budgets.first {
            _ = try pruner.prune(Self.request(c, for: m), budget: budget, options: m.options(options))
        }
        for budget in budgets {
            for m in methods {
                var hits = 0, share = 0.0, objects = 0.0, coverage = 0.0, ms = 0.0
                for c in cases {
                    let req = Self.request(c, for: m)
                    let o = m.options(options)
                    var r = try pruner.prune(req, budget: budget, options: o)
                    var times = [milliseconds(r)]
                    for _ in 1..<repeats {
                        r = try pruner.prune(req, budget: budget, options: o)
                        times.append(milliseconds(r))
                    }
                    let metrics = EvalMetrics.measure(kept: r.indices, target: c.target, objects: c.objects, targetObjects: c.targetObjects,
                                                      features: c.request.features, pool: pool)
                    hits += metrics.hit ? 1 : 0
                    share += metrics.targetShare
                    objects += metrics.objectsCovered
                    coverage += metrics.coverage
                    ms += times.sorted()[times.count / 2]
                    onRun?()
                }
                let n = Double(max(1, cases.count))
                rows.append(EvalRow(kind: cases.first?.kind ?? "", method: m.description, budget: budget.description,
                                    requests: cases.count, hitRate: Double(hits) / n, targetShare: share / n,
                                    objectsCovered: objects / n, coverage: coverage / n, milliseconds: ms / n))
            }
        }
        return rows
    }

    /// The case's request as `m` prunes it: sharded by the case's layout, or whole.
    private static func request(_ c: EvalCase, for m: EvalMethod) -> PruneRequest {
        var req = c.request
        req.shards = m.sharded ? c.shards : nil
        return req
    }
}
