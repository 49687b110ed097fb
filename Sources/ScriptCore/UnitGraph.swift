/// The graph Script+ prunes a shard by (Docs/ALGORITHM.md, "Script+"): bipartite pieces whose
/// edges are the cosines between their two sides, and every token's redundancy over its edges.
///
/// Without units it is Script's graph (even against odd positions of the shard). With units
/// (frames, tiles) of a known size, consecutive units face each other: unit 0 against unit 1,
/// 2 against 3, and so on, a last unpaired unit even against odd positions within itself. In
/// video that is temporal redundancy (a token against the next frame), and it costs a fraction of
/// Script's graph: `u / 2` products of `T x T` instead of one of `n / 2 x n / 2`.
public struct UnitGraph: Sendable {
    /// One bipartite piece: local positions `a` face local positions `b` (both ascending).
    struct Piece: Sendable {
        let a: [Int]
        let b: [Int]
        /// `cos(x[a[i]], x[b[j]])`, row-major `a.count x b.count`.
        let similarity: [Float]
    }

    let pieces: [Piece]
    /// Redundancy of every local position (Script's formula over the token's edges).
    public let redundancy: [Float]

    /// The graph of a shard whose rows are `x` (`inv`: their inverse norms). `unitTokens` nil,
    /// or a shard of one unit, gives Script's graph.
    public static func build(_ x: Matrix, inverseNorms inv: [Float], unitTokens: Int?, options: PruneOptions,
                             pool: ComputePool) -> UnitGraph {
        let n = x.rows
        guard options.unitGraph, let t = unitTokens, t < n else { return positions(x, inverseNorms: inv, offset: 0, options: options, pool: pool) }
        let units = chunks(of: n, size: t)
        let pairs = (units.count + 1) / 2
        var rho = [Float](repeating: 0, count: n)
        let built: [(Piece, [Float])] = pool.map(pairs) { p in
            let ua = units[2 * p]
            guard 2 * p + 1 < units.count else {
                let g = positions(x.rows(ua), inverseNorms: Array(inv[ua]), offset: ua.lowerBound, options: options, pool: .serial)
                return (g.pieces[0], g.redundancy)
            }
            return pair(x, inverseNorms: inv, ua, units[2 * p + 1], options: options)
        }
        var pieces: [Piece] = []
        for (p, (piece, r)) in built.enumerated() {
            let first = units[2 * p].lowerBound
            for (i, v) in r.enumerated() { rho[first + i] = v }
            pieces.append(piece)
        }
        return UnitGraph(pieces: pieces, redundancy: rho)
    }

    /// Script's graph (even against odd positions) of rows `x`, positions shifted by `offset`.
    static func positions(_ x: Matrix, inverseNorms inv: [Float], offset: Int, options: PruneOptions, pool: ComputePool) -> UnitGraph {
        let (rho, s, na, nb) = GraphPruning.similarityAndRedundancy(x, inverseNorms: inv, options: options, pool: pool)
        let piece = Piece(a: (0..<na).map { offset + 2 * $0 }, b: (0..<nb).map { offset + 2 * $0 + 1 }, similarity: s)
        return UnitGraph(pieces: [piece], redundancy: rho)
    }

    /// Unit `ua` against unit `ub` (contiguous, `ua` first): the piece, and the redundancy of
    /// the tokens of both units in position order.
    static func pair(_ x: Matrix, inverseNorms inv: [Float], _ ua: Range<Int>, _ ub: Range<Int>, options: PruneOptions) -> (Piece, [Float]) {
        let na = ua.count, nb = ub.count
        var s = [Float](repeating: 0, count: na * nb)
        s.withUnsafeMutableBufferPointer { sp in
            CosineProducts.products(.init(x, ua), .init(x, ub), into: sp.baseAddress!, ldc: nb)
            inv.withUnsafeBufferPointer { ip in
                VectorMath.scale(sp.baseAddress!, rows: na, cols: nb, ldc: nb,
                                 rowInverse: ip.baseAddress! + ua.lowerBound, colInverse: ip.baseAddress! + ub.lowerBound)
            }
        }
        let r = BipartiteRedundancy.of(s, rows: na, columns: nb, options: options)
        return (Piece(a: Array(ua), b: Array(ub), similarity: s), r.rows + r.columns)
    }
}
