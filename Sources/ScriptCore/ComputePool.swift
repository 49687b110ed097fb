/// Runs independent chunks of work on up to `width` threads.
///
/// Callers split work into a fixed number of chunks that depends only on the problem size,
/// never on `width`, so every result is the same whether one thread or many ran it. Chunks
/// write their results through a `DisjointBuffer` (each its own part) or return them (`map`).
/// The threads are a process-wide `ThreadTeam`, started as loops first need them; a loop
/// started inside a chunk shares the team with the loop around it.
public struct ComputePool: Sendable {
    /// Threads to use at most; 1 runs everything on the calling thread.
    public let width: Int
    /// How long an idle helper keeps spinning before it sleeps. The core's loops come in bursts
    /// a few microseconds apart, and waking a sleeping thread costs tens of microseconds; a
    /// process that shares its cores with others (a coordinator beside its workers) should
    /// spin less, or it takes their time.
    public let idleSpin: Duration
    /// Set by `profiling(_:)`: loops run on the calling thread, timed chunk by chunk.
    let profile: SpanProfile?

    public init(width: Int, idleSpin: Duration = .microseconds(500)) {
        self.width = max(1, width)
        self.idleSpin = idleSpin
        profile = nil
    }

    private init(profile: SpanProfile) {
        width = 1
        idleSpin = .zero
        self.profile = profile
    }

    /// Whether loops run on the calling thread untimed: code that would split work only to
    /// share it asks this (a profiling pool wants the split, to time it).
    public var isSerial: Bool { width == 1 && profile == nil }

    /// A pool that runs every loop on the calling thread and times its chunks into `profile`
    /// (inside `profile.measure`): the run's work and span.
    public static func profiling(_ profile: SpanProfile) -> ComputePool { ComputePool(profile: profile) }

    /// As many threads as this process may use (`ThreadCount.available`).
    public static let machine = ComputePool(width: ThreadCount.available)
    /// The calling thread only (a worker process: one worker a core).
    public static let serial = ComputePool(width: 1)

    /// Calls `body(i)` for every `i` in `0..<count`, possibly concurrently; returns when all ran.
    /// (`file` and `line` name the loop in a `SpanProfile`.)
    public func forEach(_ count: Int, file: StaticString = #fileID, line: UInt = #line, _ body: @escaping @Sendable (Int) -> Void) {
        if let profile, count > 1 {
            profile.run(count, site: "\(file):\(line)", body)
            return
        }
        if width == 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        ThreadTeam.shared(spin: idleSpin).run(count, helpers: width - 1, body)
    }

    /// `body(i)` for every `i` in `0..<count`, possibly concurrently, in order of `i`.
    public func map<T: Sendable>(_ count: Int, file: StaticString = #fileID, line: UInt = #line,
                                 _ body: @escaping @Sendable (Int) -> T) -> [T] {
        if profile == nil && (width == 1 || count <= 1) { return (0..<count).map(body) }
        let slots = ResultSlots<T>(count)
        forEach(count, file: file, line: line) { slots.put(body($0), at: $0) }
        return slots.values()
    }
}

/// A fixed split of `0..<total` into chunks of `chunk` items (the last may be shorter).
@inline(__always)
public func chunks(of total: Int, size chunk: Int) -> [Range<Int>] {
    guard total > 0 else { return [] }
    let n = (total + chunk - 1) / chunk
    return (0..<n).map { i in (i * chunk)..<min(total, (i + 1) * chunk) }
}
