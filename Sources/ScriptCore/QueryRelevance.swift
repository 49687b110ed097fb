

/// Per-token DPP weights from relevance to the query (ALGORITHM.md section 2, steps 1-3).
///
/// Computed once per request over all tokens (the min-max normalisation spans the request), then
/// handed to every shard, so sharding never changes a token's weight.
public enum QueryRelevance {
    /// Relevance `r` in [0, 1] of every token, or nil when there is no query (M = 0).
    public static func relevance(embeddings: Matrix, query: Matrix?, options: PruneOptions,
                                 pool: ComputePool = .serial) -> [Float]? {
        guard let query, query.rows > 0, embeddings.rows > 0 else { return nil }
        let n = embeddings.rows, m = query.rows, dq = embeddings.cols
        let ie = embeddings.rowInverseNorms(pool: pool), iq = query.rowInverseNorms(pool: pool)
        var cos = [Float](repeating: 0, count: n * m)
        embeddings.values.withUnsafeBufferPointer { ep in
            query.values.withUnsafeBufferPointer { qp in
                cos.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemmABt(m: n, n: m, k: dq, a: ep.baseAddress!, lda: dq,
                                 b: qp.baseAddress!, ldb: dq, c: cp.baseAddress!, ldc: m)
                    VectorMath.scale(cp.baseAddress!, rows: n, cols: m, ldc: m, rowInverse: ie, colInverse: iq)
                }
            }
        }
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

    /// DPP weights `w = exp(theta * r / (2 (1 - theta)))`; all ones without a query.
    public static func weights(embeddings: Matrix, query: Matrix?, options: PruneOptions,
                               pool: ComputePool = .serial) -> [Float] {
        guard let r = relevance(embeddings: embeddings, query: query, options: options, pool: pool) else {
            return [Float](repeating: 1, count: embeddings.rows)
        }
        let scale = options.theta / (2 * (1 - options.theta))
        return r.map { Math.exp(scale * $0) }
    }
}
