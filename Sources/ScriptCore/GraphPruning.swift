/// Graph-structured pruning of one shard (ALGORITHM.md section 1): tokens at even positions
/// face tokens at odd positions in a bipartite cosine graph, and the most redundant go.
public enum GraphPruning {
    /// Rows and columns of one tile of the bipartite product, for a `rows` x `cols` graph.
    /// Sides up to 384 in 2 row bands (a multiple of 16, at least 96) and 4 column bands (a
    /// multiple of 8, at least 48): an image's 288 x 288 graph gives 8 tiles of 144 x 72, an even
    /// share for 2, 4 or 8 threads (9 tiles of 96 x 96 before: 5 and 4 on 2 threads; the image
    /// case on 2 cores went from 5.93-6.02 to 5.50-5.74 ms in alternating runs, at 0.1 ms more
    /// span for 16 threads). Larger sides in 2 or more bands of at most about 400: a video
    /// segment's 784 x 784 graph gives 4 tiles, whose operands BLAS packs and streams from memory
    /// half as often as 16 tiles' (on 2 cores the video case went from 437-448 to 406-416 ms).
    static func tiles(rows: Int, cols: Int) -> (rows: Int, cols: Int) {
        func large(_ count: Int) -> Int {
            let bands = max(2, (count + 399) / 400)
            return ((count + bands - 1) / bands + 15) / 16 * 16
        }
        return (rows <= 384 ? max(96, ((rows + 1) / 2 + 15) / 16 * 16) : large(rows),
                cols <= 384 ? max(48, ((cols + 3) / 4 + 7) / 8 * 8) : large(cols))
    }

    /// Tiles of the graph's product in bfloat16: as `tiles`, but sides up to 384 in 2 column
    /// bands too (an image's graph: 4 tiles of 144 x 144). oneDNN reads a tile's rows in place
    /// and lays out its columns each call: on Zen 4, 144 x 72 tiles ran at 141 GFLOP/s a core,
    /// 144 x 144 at 172 (the bench's AnyRes, padded rows). Fixed by the shard, as `tiles` is.
    static func bfloat16Tiles(rows: Int, cols: Int) -> (rows: Int, cols: Int) {
        let f32 = tiles(rows: rows, cols: cols)
        return (f32.rows, cols <= 384 ? max(96, ((cols + 1) / 2 + 15) / 16 * 16) : f32.cols)
    }

    /// What GSP found in a shard: survivors and the bipartite similarities (reused by the greedy).
    struct Outcome {
        /// Local positions kept, ascending.
        let survivors: [Int]
        /// Redundancy of every local position.
        let redundancy: [Float]
        /// `S[a][b]`, cosines of even position `2a` and odd position `2b + 1`, `aCount x bCount`.
        let similarity: [Float]
        let aCount: Int
        let bCount: Int
    }

    /// How many tokens a shard of `n` tokens keeps when its share of the budget is `share`.
    public static func keepCount(shardSize n: Int, budgetShare share: Int, ratio p: Double) -> Int {
        let byRatio = Int(((1 - p) * Double(n)).rounded(.up))
        return min(n, max(share, byRatio))
    }

    /// Redundancy of each token of a shard.
    public static func redundancy(_ x: Matrix, options: PruneOptions, pool: ComputePool = .serial) -> [Float] {
        similarityAndRedundancy(x, inverseNorms: x.rowInverseNorms(), options: options, pool: pool).rho
    }

    /// - Parameters:
    ///   - rows: the shard's rows of `x` (default: all of them); positions are counted from its start.
    ///   - inv: inverse norms of the shard's rows, by position.
    static func similarityAndRedundancy(_ x: Matrix, rows shard: Range<Int>? = nil, inverseNorms inv: [Float], options: PruneOptions,
                                        pool: ComputePool) -> (rho: [Float], s: [Float], a: Int, b: Int)
    {
        let first = shard?.lowerBound ?? 0, n = shard?.count ?? x.rows
        let na = (n + 1) / 2, nb = n / 2
        var s = [Float](repeating: 0, count: na * nb)
        let invB = (0..<nb).map { inv[2 * $0 + 1] }
        if nb > 0 {
            s.withUnsafeMutableBufferPointer { sp in
                // Fixed tiles of S: the decomposition depends on the shard only.
                let out = DisjointBuffer(sp.baseAddress!, rows: na, columns: nb)
                let size = x.bfloat16 == nil ? tiles(rows: na, cols: nb) : bfloat16Tiles(rows: na, cols: nb)
                let rowBands = chunks(of: na, size: size.rows), columnBands = chunks(of: nb, size: size.cols)
                pool.forEach(rowBands.count * columnBands.count) { t in
                    let rows = rowBands[t / columnBands.count], cols = columnBands[t % columnBands.count]
                    let c = out.write(rows: rows, columns: cols)
                    CosineProducts.products(.init(x, first: first + 2 * rows.lowerBound, step: 2, count: rows.count),
                                            .init(x, first: first + 2 * cols.lowerBound + 1, step: 2, count: cols.count),
                                            into: c, ldc: nb)
                    let ia = rows.map { inv[2 * $0] }
                    invB.withUnsafeBufferPointer { ib in
                        VectorMath.scale(c, rows: rows.count, cols: cols.count, ldc: nb,
                                         rowInverse: ia, colInverse: ib.baseAddress! + cols.lowerBound)
                    }
                }
            }
        }
        // Rows of S are the even positions, its columns the odd ones.
        let r = BipartiteRedundancy.of(s, rows: na, columns: nb, options: options)
        var rho = [Float](repeating: 0, count: n)
        for a in 0..<na { rho[2 * a] = r.rows[a] }
        for b in 0..<nb { rho[2 * b + 1] = r.columns[b] }
        return (rho, s, na, nb)
    }

    /// GSP over a shard keeping `keep` tokens of lowest redundancy (ties: lower position).
    /// - Parameter rows: the shard's rows of `x` (default: all of them).
    static func prune(_ x: Matrix, rows shard: Range<Int>? = nil, inverseNorms: [Float], keep: Int, options: PruneOptions,
                      pool: ComputePool) -> Outcome {
        let (rho, s, na, nb) = similarityAndRedundancy(x, rows: shard, inverseNorms: inverseNorms, options: options, pool: pool)
        let order = (0..<rho.count).sorted { rho[$0] != rho[$1] ? rho[$0] < rho[$1] : $0 < $1 }
        let survivors = order.prefix(keep).sorted()
        return Outcome(survivors: survivors, redundancy: rho, similarity: s, aCount: na, bCount: nb)
    }
}
