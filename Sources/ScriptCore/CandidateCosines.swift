/// Cosines among the greedy's candidates, served one kernel row at a time.
///
/// Candidates fall into groups (the two sides of a shard's bipartite graph, or the shards of a
/// request). Cosines between some groups arrive precomputed (the GSP similarities, or the blocks
/// workers return with their proposals); the rest are computed here, as dense blocks when the
/// candidates are few and row by row when they are many, so nothing n x n is built for large n.
/// Whatever the source, a pair's value comes from the same place every time it is needed.
final class CandidateCosines: @unchecked Sendable {
    /// Candidates at most for which missing blocks are computed up front.
    static let denseLimit = 4096

    let count: Int
    private let groupOf: [Int]
    private let slot: [Int]
    private let members: [[Int]]
    private let features: [Matrix]
    /// `blocks[g][h]`: row-major `|g| x |h|` cosines; for `g > h` only the transposed block may exist.
    private var blocks: [[[Float]?]]
    private(set) var diagonal: [Float]

    /// - Parameters:
    ///   - members: for each group, its candidate positions (ascending).
    ///   - features: for each group, normalised features of its members, in the same order.
    ///   - known: precomputed blocks keyed by `(g, h)`.
    init(members: [[Int]], features: [Matrix], known: [GroupPair: [Float]], pool: ComputePool) {
        let count = members.reduce(0) { $0 + $1.count }
        self.count = count
        var groupOf = [Int](repeating: 0, count: count)
        var slot = [Int](repeating: 0, count: count)
        for (g, ms) in members.enumerated() {
            for (s, c) in ms.enumerated() { groupOf[c] = g; slot[c] = s }
        }
        self.groupOf = groupOf
        self.slot = slot
        self.members = members
        self.features = features
        let gCount = members.count
        var blocks = [[[Float]?]](repeating: [[Float]?](repeating: nil, count: gCount), count: gCount)
        for (pair, block) in known { blocks[pair.g][pair.h] = block }

        if count <= Self.denseLimit {
            // Compute every missing pair (g <= h) up front, in fixed row bands.
            var tasks: [(g: Int, h: Int, band: Range<Int>)] = []
            for g in 0..<gCount {
                for h in g..<gCount where blocks[g][h] == nil && blocks[h][g] == nil {
                    for band in chunks(of: members[g].count, size: 256) { tasks.append((g, h, band)) }
                }
            }
            var computed: [GroupPair: [Float]] = [:]
            for t in tasks where computed[GroupPair(t.g, t.h)] == nil {
                computed[GroupPair(t.g, t.h)] = [Float](repeating: 0, count: members[t.g].count * members[t.h].count)
            }
            var buffers: [GroupPair: UnsafeMutableBufferPointer<Float>] = [:]
            for (k, v) in computed {
                let p = UnsafeMutableBufferPointer<Float>.allocate(capacity: v.count)
                _ = p.initialize(from: v)
                buffers[k] = p
            }
            let shared = UncheckedBox(buffers)
            pool.forEach(tasks.count) { i in
                let t = tasks[i]
                let out = shared.value[GroupPair(t.g, t.h)]!
                let fa = features[t.g], fb = features[t.h]
                let d = fa.cols, nh = fb.rows
                fa.values.withUnsafeBufferPointer { ap in
                    fb.values.withUnsafeBufferPointer { bp in
                        BLAS.gemmABt(m: t.band.count, n: nh, k: d,
                                     a: ap.baseAddress! + t.band.lowerBound * d, lda: d,
                                     b: bp.baseAddress!, ldb: d,
                                     c: out.baseAddress! + t.band.lowerBound * nh, ldc: nh)
                    }
                }
            }
            for (k, p) in buffers {
                blocks[k.g][k.h] = Array(p)
                p.deallocate()
            }
        }
        self.blocks = blocks

        // Diagonal: from a block when one holds it, else each member's own dot product.
        var diagonal = [Float](repeating: 0, count: count)
        for g in 0..<gCount {
            if let b = blocks[g][g] {
                let m = members[g].count
                for s in 0..<m { diagonal[members[g][s]] = b[s * m + s] }
            } else {
                let f = features[g]
                f.values.withUnsafeBufferPointer { p in
                    for s in 0..<f.rows {
                        let r = p.baseAddress! + s * f.cols
                        diagonal[members[g][s]] = VectorMath.dot(r, r, f.cols)
                    }
                }
            }
        }
        self.diagonal = diagonal
    }

    /// Writes `cos(j, i)` for every candidate `i` into `out[0..<count]`.
    func row(_ j: Int, into out: UnsafeMutablePointer<Float>) {
        let g = groupOf[j], sj = slot[j]
        for h in 0..<members.count {
            let ms = members[h]
            let m = ms.count
            if m == 0 { continue }
            if let b = blocks[g][h] {
                b.withUnsafeBufferPointer { bp in
                    let r = bp.baseAddress! + sj * m
                    for s in 0..<m { out[ms[s]] = r[s] }
                }
            } else if let b = blocks[h][g] {
                let mg = members[g].count
                b.withUnsafeBufferPointer { bp in
                    for s in 0..<m { out[ms[s]] = bp[s * mg + sj] }
                }
            } else {
                let fh = features[h], fg = features[g]
                let d = fh.cols
                var tmp = [Float](repeating: 0, count: m)
                fh.values.withUnsafeBufferPointer { hp in
                    fg.values.withUnsafeBufferPointer { gp in
                        tmp.withUnsafeMutableBufferPointer { tp in
                            BLAS.gemv(m: m, k: d, a: hp.baseAddress!, lda: d,
                                      x: gp.baseAddress! + sj * d, y: tp.baseAddress!)
                        }
                    }
                }
                for s in 0..<m { out[ms[s]] = tmp[s] }
            }
        }
    }
}

/// An ordered pair of candidate groups.
struct GroupPair: Hashable, Sendable {
    let g: Int
    let h: Int
    init(_ g: Int, _ h: Int) { self.g = g; self.h = h }
}
