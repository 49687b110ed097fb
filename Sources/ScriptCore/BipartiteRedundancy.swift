/// Script's redundancy of every token of a bipartite cosine graph (ALGORITHM.md section 1),
/// from its edges: strong edges (cosine at least `tau`) counted and summed, all edges summed.
enum BipartiteRedundancy {
    /// Redundancy of the rows (side A) and the columns (side B) of `s`, row-major `na x nb`:
    /// each row's sums run over its columns in order, each column's over the rows in order.
    static func of(_ s: [Float], rows na: Int, columns nb: Int, options: PruneOptions) -> (rows: [Float], columns: [Float]) {
        var rows = [Float](repeating: 0, count: na)
        var colCount = [Int32](repeating: 0, count: nb)
        var colStrong = [Float](repeating: 0, count: nb), colTotal = [Float](repeating: 0, count: nb)
        let tau = options.tau
        s.withUnsafeBufferPointer { sp in
            for a in 0..<na {
                let row = sp.baseAddress! + a * nb
                var c: Int32 = 0, st: Float = 0, tt: Float = 0
                for b in 0..<nb {
                    let v = row[b]
                    let strong = v >= tau
                    c += strong ? 1 : 0
                    st += strong ? v : 0
                    tt += v
                    colCount[b] += strong ? 1 : 0
                    colStrong[b] += strong ? v : 0
                    colTotal[b] += v
                }
                rows[a] = redundancy(count: c, strong: st, total: tt, edges: nb, options: options)
            }
        }
        let columns = (0..<nb).map {
            redundancy(count: colCount[$0], strong: colStrong[$0], total: colTotal[$0], edges: na, options: options)
        }
        return (rows, columns)
    }

    /// A token with `count` strong edges summing to `strong`, all its `edges` edges summing to
    /// `total`: `d exp(gamma (mu - tau))`, blended half and half with the mean edge when it has
    /// fewer than `kmin` strong edges.
    static func redundancy(count: Int32, strong: Float, total: Float, edges: Int, options: PruneOptions) -> Float {
        let d = Float(count)
        let mu: Float = count > 0 ? strong / d : 0
        var r = d * Math.exp(options.gamma * (mu - options.tau))
        if Int(count) < options.kmin {
            let mean: Float = edges > 0 ? total / Float(edges) : 0
            r = 0.5 * r + 0.5 * mean
        }
        return r
    }
}
