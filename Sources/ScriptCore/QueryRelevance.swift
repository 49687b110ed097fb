/// Per-token DPP weights from relevance to the query (ALGORITHM.md section 2, steps 1-3).
///
/// The cosines of every token to every query token (`scores`) are computed shard by shard, in
/// row bands fixed by the shard, so a worker holding one shard computes exactly the values the
/// in-process pipeline does. The rest needs every token (the query tokens kept are those most
/// related to the whole request, and the min-max normalisation spans it), but is a few
/// operations per score: it runs once per request, on the scores of all shards.
public enum QueryRelevance {
    /// Rows of one product when scores are computed (the band depends on the shard only).
    static let band = 256

    /// `cos(e_i, q_j)` for every token `i` of `embeddings` (one shard, or the whole request) and
    /// query token `j`: row-major `rows x query.rows`.
    public static func scores(embeddings: Matrix, query: Matrix, pool: ComputePool = .serial) -> [Float] {
        scores(embeddings: embeddings, query: query, bands: chunks(of: embeddings.rows, size: band), pool: pool)
    }

    /// The scores of a request whose tokens split into `shards` (in order, tiling it): each
    /// shard's scores, in order, cut into the bands a worker holding only that shard cuts, and
    /// read where the shard lies (no copy).
    /// - Parameter inverseNorms: the embeddings' inverse row norms (`rowInverseNorms`), when the
    ///   caller has them.
    public static func scores(embeddings: Matrix, inverseNorms: [Float]? = nil, query: Matrix, shards: [Range<Int>],
                              pool: ComputePool = .serial) -> [Float] {
        let bands = shards.flatMap { s in chunks(of: s.count, size: band).map { ($0.lowerBound + s.lowerBound)..<($0.upperBound + s.lowerBound) } }
        return scores(embeddings: embeddings, inverseNorms: inverseNorms, query: query, bands: bands, pool: pool)
    }

    /// The scores of the rows of `bands` (tiling the rows in order), one product a band.
    private static func scores(embeddings: Matrix, inverseNorms: [Float]? = nil, query: Matrix, bands: [Range<Int>],
                               pool: ComputePool) -> [Float] {
        let n = embeddings.rows, m = query.rows, dq = embeddings.cols
        guard n > 0, m > 0 else { return [] }
        precondition(inverseNorms == nil || inverseNorms!.count == n, "\(inverseNorms!.count) inverse norms for \(n) rows")
        let ie = inverseNorms ?? embeddings.rowInverseNorms(pool: pool), iq = query.rowInverseNorms()
        var cos = [Float](repeating: 0, count: n * m)
        cos.withUnsafeMutableBufferPointer { cp in
            let out = DisjointBuffer(cp.baseAddress!, rows: n, columns: m)
            pool.forEach(bands.count) { b in
                let r = bands[b]
                let c = out.write(rows: r, columns: 0..<m)
                embeddings.values.withUnsafeBufferPointer { ep in
                    query.values.withUnsafeBufferPointer { qp in
                        BLAS.gemmABt(m: r.count, n: m, k: dq, a: ep.baseAddress! + r.lowerBound * dq, lda: dq,
                                     b: qp.baseAddress!, ldb: dq, c: c, ldc: m)
                    }
                }
                ie.withUnsafeBufferPointer { VectorMath.scale(c, rows: r.count, cols: m, ldc: m,
                                                              rowInverse: $0.baseAddress! + r.lowerBound, colInverse: iq) }
            }
        }
        return cos
    }

    /// Relevance `r` in [0, 1] of every token from the scores of the whole request
    /// (`tokens x queryTokens`, row-major).
    public static func relevance(scores cos: [Float], tokens n: Int, queryTokens m: Int, options: PruneOptions) -> [Float] {
        precondition(cos.count == n * m && n > 0 && m > 0, "\(cos.count) scores for \(n) x \(m)")
        // Query tokens: keep those most related to the image.
        let kept: [Int]
        if m <= 2 {
            kept = Array(0..<m)
        } else {
            var score = [Float](repeating: 0, count: m)
            for i in 0..<n { for j in 0..<m { score[j] += cos[i * m + j] } }
            for j in 0..<m { score[j] /= Float(n) }
            let keep = max(1, Int((options.queryKeep * Double(m)).rounded(.down)))
            kept = Array((0..<m).sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }.prefix(keep))
        }
        var r = [Float](repeating: 0, count: n)
        let inv = Float(kept.count)
        for i in 0..<n {
            var s: Float = 0
            for j in kept { s += cos[i * m + j] }
            r[i] = options.relevanceSign * (s / inv)
        }
        let lo = r.min()!, hi = r.max()!
        if hi > lo {
            let span = hi - lo
            for i in 0..<n { r[i] = (r[i] - lo) / span }
        } else {
            for i in 0..<n { r[i] = 1 }
        }
        return r
    }

    /// Relevance `r` in [0, 1] of every token, or nil when there is no query (M = 0).
    /// - Parameter inverseNorms: the embeddings' inverse row norms, when the caller has them.
    public static func relevance(embeddings: Matrix, inverseNorms: [Float]? = nil, query: Matrix?, shards: [Range<Int>]? = nil,
                                 options: PruneOptions, pool: ComputePool = .serial) -> [Float]? {
        guard let query, query.rows > 0, embeddings.rows > 0 else { return nil }
        let cos = scores(embeddings: embeddings, inverseNorms: inverseNorms, query: query, shards: shards ?? [0..<embeddings.rows],
                         pool: pool)
        return relevance(scores: cos, tokens: embeddings.rows, queryTokens: query.rows, options: options)
    }

    /// DPP weights `w = exp(theta * r / (2 (1 - theta)))`; all ones without relevance.
    public static func weights(relevance r: [Float]?, tokens n: Int, options: PruneOptions) -> [Float] {
        guard let r else { return [Float](repeating: 1, count: n) }
        let scale = options.theta / (2 * (1 - options.theta))
        return r.map { Math.exp(scale * $0) }
    }

    /// DPP weights of every token (scores computed per shard of `shards`, by default one).
    /// - Parameter inverseNorms: the embeddings' inverse row norms, when the caller has them.
    public static func weights(embeddings: Matrix, inverseNorms: [Float]? = nil, query: Matrix?, shards: [Range<Int>]? = nil,
                               options: PruneOptions, pool: ComputePool = .serial) -> [Float] {
        weights(relevance: relevance(embeddings: embeddings, inverseNorms: inverseNorms, query: query, shards: shards,
                                     options: options, pool: pool),
                tokens: embeddings.rows, options: options)
    }
}
