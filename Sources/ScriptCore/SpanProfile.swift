import Synchronization

/// The parallel shape of one run, measured on one thread: its work, its span (the longest chain
/// of chunks that must run one after another), what `P` threads could at best make of it, and
/// which loops hold the critical path.
///
/// A pool made by `ComputePool.profiling(_:)` runs every loop's chunks in order on the calling
/// thread and times each. Chunks are fixed by the problem, never by the thread count, so a
/// one-thread run has the chunks of a sixteen-thread one: its work and span say how far the
/// decomposition itself lets the run scale, on a machine with two cores. The estimates give
/// each loop `P` threads shared evenly among the chunks that run at once (nested loops get the
/// share of their chunk) and schedule chunks as `max(longest chunk, sum / threads)`; they
/// leave out what a many-core machine adds (waking threads, memory bandwidth shared by all), so
/// they are what the decomposition allows, not a forecast.
public final class SpanProfile: Sendable {
    /// The thread counts the estimates are made for.
    public let threadCounts: [Int]

    /// What one run measured.
    public struct Report: Sendable {
        /// All chunks' time, and the span.
        public var workNanoseconds: Int64
        public var spanNanoseconds: Int64
        /// Estimated time at each of `threadCounts`.
        public var estimates: [(threads: Int, nanoseconds: Int64)]
        /// The critical path's time by loop call site (`serial` for the code outside loops),
        /// longest first.
        public var critical: [(site: String, nanoseconds: Int64)]
        /// Loops run (each wakes helper threads in a many-thread pool).
        public var loops: Int
        /// The work by loop call site (its chunks' own time, without the loops nested in them),
        /// largest first.
        public var work: [(site: String, nanoseconds: Int64)]
    }

    /// Name of the critical path's time outside every loop.
    public static let serialSite = "serial"

    private struct Frame {
        var start: Int64
        /// Threads this chunk may use, one entry per `threadCounts`.
        var threads: [Int]
        var nested: Int64 = 0
        var nestedSpan: Int64 = 0
        var nestedEstimate: [Int64]
        var critical: [String: Int64] = [:]
    }

    private struct State {
        var frames: [Frame] = []
        var work: [String: Int64] = [:]
        var loops = 0
        var report: Report?
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Int64

    /// - Parameter clock: nanoseconds on a monotonic clock (tests pass their own).
    public init(threadCounts: [Int] = [2, 4, 8, 16], clock: (@Sendable () -> Int64)? = nil) {
        self.threadCounts = threadCounts.map { max(1, $0) }
        now = clock ?? { ThreadTeam.nanoseconds() }
    }

    /// Runs `body` (which uses a pool made by `ComputePool.profiling(self)`) and keeps its
    /// report; a profile measures one run at a time.
    public func measure<T>(_ body: () throws -> T) rethrows -> T {
        state.withLock { s in
            precondition(s.frames.isEmpty, "a SpanProfile measures one run at a time")
            s.work = [:]
            s.loops = 0
            s.frames = [Frame(start: now(), threads: threadCounts, nestedEstimate: threadCounts.map { _ in 0 })]
        }
        let result: T
        do { result = try body() } catch {
            // A run that throws (a request refused as invalid) leaves no report and no frames.
            state.withLock { $0.frames = [] }
            throw error
        }
        let end = now()
        state.withLock { s in
            let root = s.frames.removeLast()
            let own = end - root.start - root.nested
            var critical = root.critical
            critical[Self.serialSite, default: 0] += own
            s.report = Report(workNanoseconds: end - root.start, spanNanoseconds: own + root.nestedSpan,
                              estimates: zip(threadCounts, root.nestedEstimate).map { ($0, own + $1) },
                              critical: critical.sorted { $0.value > $1.value }.map { ($0.key, $0.value) }, loops: s.loops,
                              work: s.work.sorted { $0.value > $1.value }.map { ($0.key, $0.value) })
        }
        return result
    }

    /// The report of the last run measured.
    public var report: Report? { state.withLock { $0.report } }

    /// Runs a loop's chunks in order, timing each (from `ComputePool.forEach`).
    func run(_ count: Int, site: String, _ body: (Int) -> Void) {
        let outer: [Int]? = state.withLock { $0.frames.last?.threads }
        guard let outer else {
            // Outside `measure`: nothing to record.
            for i in 0..<count { body(i) }
            return
        }
        let chunkThreads = outer.map { max(1, $0 / min(count, $0)) }
        let start = now()
        var longest: (span: Int64, critical: [String: Int64]) = (-1, [:])
        var sum = outer.map { _ in Int64(0) }, widest = sum
        var ownWork: Int64 = 0
        for i in 0..<count {
            let chunkStart = now()
            state.withLock { $0.frames.append(Frame(start: chunkStart, threads: chunkThreads, nestedEstimate: sum.map { _ in 0 })) }
            body(i)
            let end = now()
            let f = state.withLock { $0.frames.removeLast() }
            let own = end - chunkStart - f.nested
            ownWork += own
            for p in sum.indices {
                let estimate = own + f.nestedEstimate[p]
                sum[p] += estimate
                widest[p] = max(widest[p], estimate)
            }
            if own + f.nestedSpan > longest.span {
                var critical = f.critical
                critical[site, default: 0] += own
                longest = (own + f.nestedSpan, critical)
            }
        }
        let wall = now() - start
        state.withLock { s in
            s.work[site, default: 0] += ownWork
            s.loops += 1
            guard !s.frames.isEmpty else { return }
            let p = s.frames.count - 1
            s.frames[p].nested += wall
            s.frames[p].nestedSpan += longest.span
            for (site, t) in longest.critical { s.frames[p].critical[site, default: 0] += t }
            for q in outer.indices {
                let lanes = Int64(min(count, outer[q]))
                s.frames[p].nestedEstimate[q] += max(widest[q], (sum[q] + lanes - 1) / lanes)
            }
        }
    }
}
