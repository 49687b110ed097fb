/// Cosines among the greedy's candidates, served one kernel row at a time.
///
/// Candidates fall into groups (the two sides of a shard's bipartite graph, or the shards of a
/// request). Cosines between some groups arrive precomputed (the GSP similarities, or the blocks
/// workers return with their proposals). The rest are computed: all at once in BLAS blocks when
/// the candidates are few, and otherwise on demand, for the picked token together with the next
/// candidates most likely to be picked, so BLAS still works on blocks and nothing n x n is built.
/// Once computed a value is kept: a pair's value comes from one place every time it is used.
final class CandidateCosines {
    /// Candidates at most for which missing blocks are computed up front.
    static let denseLimit = 4096
    /// Rows computed in one batch on demand.
    static let batch = 32

    let count: Int
    private let groupOf: [Int]
    private let slot: [Int]
    private let groups: [CandidateGroup]
    /// `blocks[g][h]`: row-major `|g| x |h|` cosines (given, or computed up front), either orientation.
    private var blocks: [[[Float]?]]
    /// Per group: the groups whose cosines with it are computed on demand.
    private let missing: [[Int]]
    /// Rows computed on demand: candidate -> values at the positions of its missing groups.
    private var cache: [Int: [Float]] = [:]
    /// Runs the products of rows computed on demand.
    private let pool: ComputePool
    let diagonal: [Float]

    /// - Parameter upFrontLimit: candidates at most for which the missing blocks are computed up
    ///   front (0: always on demand, for a greedy that picks few of many candidates).
    init(groups: [CandidateGroup], known: [GroupPair: [Float]], upFrontLimit: Int = denseLimit, pool: ComputePool) {
        self.pool = pool
        let count = groups.reduce(0) { $0 + $1.members.count }
        self.count = count
        var groupOf = [Int](repeating: 0, count: count)
        var slot = [Int](repeating: 0, count: count)
        for (g, group) in groups.enumerated() {
            for (s, c) in group.members.enumerated() { groupOf[c] = g; slot[c] = s }
        }
        self.groupOf = groupOf
        self.slot = slot
        self.groups = groups
        let gCount = groups.count
        var blocks = [[[Float]?]](repeating: [[Float]?](repeating: nil, count: gCount), count: gCount)
        for (pair, block) in known { blocks[pair.g][pair.h] = block }
        var pairs: [GroupPair] = []
        for g in 0..<gCount {
            for h in g..<gCount where blocks[g][h] == nil && blocks[h][g] == nil
                && !groups[g].members.isEmpty && !groups[h].members.isEmpty {
                pairs.append(GroupPair(g, h))
            }
        }
        if count <= upFrontLimit && !pairs.isEmpty {
            Self.computeBlocks(pairs, groups: groups, into: &blocks, pool: pool)
            pairs = []
        }
        self.blocks = blocks
        var missing = [[Int]](repeating: [], count: gCount)
        for p in pairs {
            missing[p.g].append(p.h)
            if p.h != p.g { missing[p.h].append(p.g) }
        }
        self.missing = missing.map { $0.sorted() }

        // Diagonal: from a block when one holds it, else each member's own cosine with itself.
        var diagonal = [Float](repeating: 0, count: count)
        for (g, group) in groups.enumerated() {
            let m = group.members.count
            if let b = blocks[g][g] {
                for s in 0..<m { diagonal[group.members[s]] = b[s * m + s] }
            } else {
                precondition(group.features.hasFloat32, "a diagonal of rows gathered for bfloat16 products alone")
                group.features.values.withUnsafeBufferPointer { p in
                    for s in 0..<m {
                        let r = p.baseAddress! + s * group.features.cols
                        let u = group.inverseNorms[s]
                        diagonal[group.members[s]] = (VectorMath.dot(r, r, group.features.cols) * u) * u
                    }
                }
            }
        }
        self.diagonal = diagonal
    }

    /// The blocks held (given or computed up front), by group pair.
    var knownBlocks: [GroupPair: [Float]] {
        var out: [GroupPair: [Float]] = [:]
        for g in blocks.indices { for h in blocks[g].indices { if let b = blocks[g][h] { out[GroupPair(g, h)] = b } } }
        return out
    }

    /// Computes the blocks of `pairs` up front, spread over the pool: a block between two groups
    /// in bands of `crossBandRows` rows, a group with itself in tiles of `selfTileRows` over its
    /// upper triangle (a symmetric product on the diagonal, half the arithmetic), then scaled
    /// and mirrored. The tiles depend on the group sizes only, so the values do not
    /// depend on the pool; they are small enough that sixteen threads share one shard's blocks.
    static func computeBlocks(_ pairs: [GroupPair], groups: [CandidateGroup], into blocks: inout [[[Float]?]], pool: ComputePool) {
        var offsets: [Int] = []
        var total = 0
        var tasks: [(pair: Int, rows: Range<Int>, columns: Range<Int>)] = []
        for (p, pair) in pairs.enumerated() {
            let m = groups[pair.g].members.count, n = groups[pair.h].members.count
            offsets.append(total)
            total += m * n
            if pair.g == pair.h {
                let rowBands = chunks(of: m, size: selfTileRows)
                for (i, r) in rowBands.enumerated() { for c in rowBands[i...] { tasks.append((p, r, c)) } }
            } else {
                for r in chunks(of: m, size: crossBandRows) { tasks.append((p, r, 0..<n)) }
            }
        }
        var values = [Float](repeating: 0, count: total)
        let work = tasks, starts = offsets
        values.withUnsafeMutableBufferPointer { vp in
            let parts = pairs.indices.map { p in
                DisjointBuffer(vp.baseAddress! + starts[p], rows: groups[pairs[p].g].members.count,
                               columns: groups[pairs[p].h].members.count)
            }
            pool.forEach(tasks.count) { t in
                let (p, rows, columns) = work[t]
                let a = groups[pairs[p].g], b = groups[pairs[p].h]
                let out = parts[p].write(rows: rows, columns: columns)
                if pairs[p].g == pairs[p].h {
                    selfTile(a, rows: rows, columns: columns, into: out)
                } else {
                    product(a, rows: rows, b, columns: columns, into: out, ldc: b.members.count)
                }
            }
        }
        for (p, pair) in pairs.enumerated() {
            let m = groups[pair.g].members.count, n = groups[pair.h].members.count
            var block = Array(values[offsets[p]..<(offsets[p] + m * n)])
            if pair.g == pair.h { scaleAndMirror(&block, groups[pair.g]) }
            blocks[pair.g][pair.h] = block
        }
    }

    /// Rows (and columns) a tile of a group's block with itself spans at most, and rows of a
    /// band between two groups: small enough that a shard's blocks (about 150 members a side)
    /// and a request's cross blocks (about 130 a proposal) give sixteen threads work, large
    /// enough to keep sgemm near its peak (`bench`'s parallel shape chose them: 96 and 64 left
    /// one thread's time level and cut AnyRes's span from 7.6 to 5.7 ms).
    static let selfTileRows = 96
    static let crossBandRows = 64

    /// Products of a group with itself over `rows x columns` of its upper triangle (`columns`
    /// starts at or after `rows`; on the diagonal, one symmetric product), unscaled; `out` has
    /// rows `|group|` apart.
    private static func selfTile(_ a: CandidateGroup, rows: Range<Int>, columns: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let n = a.members.count
        if rows == columns {
            CosineProducts.selfProducts(.init(a.features, rows), into: out, ldc: n)
        } else {
            CosineProducts.products(.init(a.features, rows), .init(a.features, columns), into: out, ldc: n)
        }
    }

    /// A group's products with itself, upper triangle: scaled into cosines, then mirrored.
    private static func scaleAndMirror(_ block: inout [Float], _ a: CandidateGroup) {
        let n = a.members.count
        block.withUnsafeMutableBufferPointer { bp in
            let out = bp.baseAddress!
            a.inverseNorms.withUnsafeBufferPointer { ia in
                for i in 0..<n {
                    let row = out + i * n, u = ia[i]
                    for j in i..<n { row[j] = (row[j] * u) * ia[j] }
                    for j in 0..<i { row[j] = out[j * n + i] }
                }
            }
        }
    }

    /// Cosines of members `rows` of `a` with members `columns` of `b`; `out` has rows `ldc` apart.
    private static func product(_ a: CandidateGroup, rows: Range<Int>, _ b: CandidateGroup, columns: Range<Int>,
                                into out: UnsafeMutablePointer<Float>, ldc: Int) {
        CosineProducts.products(.init(a.features, rows), .init(b.features, columns), into: out, ldc: ldc)
        a.inverseNorms.withUnsafeBufferPointer { ia in
            b.inverseNorms.withUnsafeBufferPointer { ib in
                VectorMath.scale(out, rows: rows.count, cols: columns.count, ldc: ldc,
                                 rowInverse: ia.baseAddress! + rows.lowerBound, colInverse: ib.baseAddress! + columns.lowerBound)
            }
        }
    }

    /// Writes `cos(j, i)` for every candidate `i` into `out[0..<count]`.
    /// - Parameter likely: candidates ranked by how soon they may be picked (best first);
    ///   consulted only when rows must be computed.
    func row(_ j: Int, into out: UnsafeMutablePointer<Float>, likely: () -> [Int]) {
        let g = groupOf[j], sj = slot[j]
        if !missing[g].isEmpty && cache[j] == nil { computeRows(group: g, first: j, likely: likely()) }
        let mg = groups[g].members.count
        for h in 0..<groups.count {
            let ms = groups[h].members
            let m = ms.count
            if m == 0 { continue }
            if let b = blocks[g][h] {
                b.withUnsafeBufferPointer { bp in
                    let r = bp.baseAddress! + sj * m
                    for s in 0..<m { out[ms[s]] = r[s] }
                }
            } else if let b = blocks[h][g] {
                b.withUnsafeBufferPointer { bp in
                    for s in 0..<m { out[ms[s]] = bp[s * mg + sj] }
                }
            }
        }
        if let cached = cache[j] {
            for h in missing[g] { for c in groups[h].members { out[c] = cached[c] } }
        }
    }

    /// Rows for `first` and the next likely candidates of its group: their products with each
    /// missing group, in bands of `batchBandColumns` of that group's members spread over the pool.
    private func computeRows(group g: Int, first: Int, likely: [Int]) {
        var batch = [first]
        for c in likely where batch.count < Self.batch && c != first && cache[c] == nil && groupOf[c] == g {
            batch.append(c)
        }
        let a = CandidateGroup(members: batch, features: groups[g].features.gatherRows(batch.map { slot[$0] }),
                               inverseNorms: batch.map { groups[g].inverseNorms[slot[$0]] })
        let targets = missing[g].map { groups[$0] }
        let values = Self.products(a, with: targets, pool: pool)
        var rows = [[Float]](repeating: [Float](repeating: 0, count: count), count: batch.count)
        for (t, b) in targets.enumerated() {
            let ms = b.members, m = ms.count
            for r in 0..<batch.count { for s in 0..<m { rows[r][ms[s]] = values[t][r * m + s] } }
        }
        for (r, c) in batch.enumerated() { cache[c] = rows[r] }
    }

    /// Members of a group one task of an on-demand batch covers: a batch's products with
    /// thousands of candidates give sixteen threads work, each task still a product sgemm runs
    /// near its peak. Fixed, so the values do not depend on the pool.
    static let batchBandColumns = 256

    /// Cosines of `a`'s members with each group of `targets` (row-major `|a| x |target|`),
    /// computed in column bands of `batchBandColumns`, one task a band.
    private static func products(_ a: CandidateGroup, with targets: [CandidateGroup], pool: ComputePool) -> [[Float]] {
        let tasks = targets.indices.flatMap { t in
            chunks(of: targets[t].members.count, size: batchBandColumns).map { (target: t, columns: $0) }
        }
        let rows = a.members.count
        let starts = targets.reduce(into: [0]) { $0.append($0.last! + rows * $1.members.count) }
        var values = [Float](repeating: 0, count: starts.last!)
        values.withUnsafeMutableBufferPointer { vp in
            let parts = targets.indices.map { t in
                DisjointBuffer(vp.baseAddress! + starts[t], rows: rows, columns: targets[t].members.count)
            }
            pool.forEach(tasks.count) { i in
                let (t, columns) = tasks[i]
                product(a, rows: 0..<rows, targets[t], columns: columns, into: parts[t].write(rows: 0..<rows, columns: columns),
                        ldc: targets[t].members.count)
            }
        }
        return targets.indices.map { Array(values[starts[$0]..<starts[$0 + 1]]) }
    }
}

/// Candidates that share a source of cosines: positions, raw features and inverse norms.
struct CandidateGroup: Sendable {
    /// Candidate positions, ascending.
    let members: [Int]
    /// Raw features of the members, in the same order.
    let features: Matrix
    /// `1 / |row|` of each member.
    let inverseNorms: [Float]
}

/// An ordered pair of candidate groups.
struct GroupPair: Hashable, Sendable {
    let g: Int
    let h: Int
    init(_ g: Int, _ h: Int) { self.g = g; self.h = h }
}
