/// Exact fast greedy MAP inference for a DPP (Chen, Zhang, Zhou 2018), kernel
/// `L[i][j] = (w_i w_j) cos(x_i, x_j)`, with kernel rows fetched only for picked tokens.
///
/// Each candidate's residual is updated by its own loop over the picks so far, in a fixed
/// order, so it never depends on which other candidates are present: greedy over a subset that
/// holds the first picks replays those picks exactly (prefix consistency).
enum GreedyMAP {
    /// Residuals below this end the greedy; the rest is filled by weight.
    static let residualFloor: Float = 1e-10

    struct Selection {
        /// Candidate positions in pick order.
        let picks: [Int]
        /// When requested: the cosine row of every pick over all candidates (`picks.count x n`).
        let rows: [Float]
        /// The kernel diagonal (cosine of each candidate with itself) the greedy started from.
        let diagonal: [Float]
    }

    static func select(count k: Int, weights w: [Float], cosines: CandidateCosines,
                       keepRows: Bool, pool: ComputePool) -> Selection {
        let n = cosines.count
        let k = min(k, n)
        guard k > 0 else { return Selection(picks: [], rows: [], diagonal: cosines.diagonal) }
        var d = [Float](repeating: 0, count: n)
        for i in 0..<n { d[i] = (w[i] * w[i]) * cosines.diagonal[i] }
        var v = [Float](repeating: 0, count: (k - 1) * n)
        var picked = [Bool](repeating: false, count: n)
        var picks: [Int] = []
        picks.reserveCapacity(k)
        var rows = [Float](repeating: 0, count: keepRows ? k * n : 0)
        var row = [Float](repeating: 0, count: n)
        // Each candidate's update is its own, so bands can be any split: at least 256 candidates
        // (less is not worth a hand-off per pick), at most 16 bands.
        let bands = chunks(of: n, size: max(256, (n + 15) / 16))
        // Candidates most likely to be picked next: unpicked ones of highest residual.
        let likely: () -> [Int] = {
            var top: [(Float, Int)] = []
            for i in 0..<n where !picked[i] { top.append((d[i], i)) }
            top.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
            return top.map(\.1)
        }

        while picks.count < k {
            var j = -1
            var best = -Float.infinity
            for i in 0..<n where !picked[i] && d[i] > best { best = d[i]; j = i }
            if j < 0 || best < residualFloor { break }
            let t = picks.count
            picks.append(j)
            picked[j] = true
            row.withUnsafeMutableBufferPointer { cosines.row(j, into: $0.baseAddress!, likely: likely) }
            if keepRows { rows.replaceSubrange((t * n)..<((t + 1) * n), with: row) }
            if t == k - 1 { break }
            let step = Step(pick: t, column: j, root: d[j].squareRoot(), weight: w[j], n: n)
            // A pick's update is t * n multiply-adds: below a quarter million, handing bands to
            // other threads costs more than it saves.
            if (t + 1) * n >= 1 << 18 && pool.width > 1 {
                let kernelRow = row, weights = w
                v.withUnsafeMutableBufferPointer { vp in
                    d.withUnsafeMutableBufferPointer { dp in
                        let vs = DisjointBuffer(vp.baseAddress!, rows: k - 1, columns: n), ds = DisjointBuffer(dp)
                        pool.forEach(bands.count) { b in
                            let band = bands[b]
                            let earlier = vs.read(rows: 0..<t, columns: 0..<n)
                            let out = vs.write(rows: t..<(t + 1), columns: band)
                            let residuals = ds.write(band)
                            kernelRow.withUnsafeBufferPointer { rp in
                                weights.withUnsafeBufferPointer { wp in
                                    step.update(band: band, v: earlier, out: out, residuals: residuals.baseAddress!,
                                                row: rp.baseAddress!, weights: wp.baseAddress!)
                                }
                            }
                        }
                    }
                }
            } else {
                v.withUnsafeMutableBufferPointer { vp in
                    d.withUnsafeMutableBufferPointer { dp in
                        row.withUnsafeBufferPointer { rp in
                            w.withUnsafeBufferPointer { wp in
                                for band in bands {
                                    step.update(band: band, v: vp.baseAddress!, out: vp.baseAddress! + t * n + band.lowerBound,
                                                residuals: dp.baseAddress! + band.lowerBound,
                                                row: rp.baseAddress!, weights: wp.baseAddress!)
                                }
                            }
                        }
                    }
                }
            }
        }
        if picks.count < k {
            // Residuals exhausted: the rest by weight, ties to the lower position.
            let rest = (0..<n).filter { !picked[$0] }
                .sorted { w[$0] != w[$1] ? w[$0] > w[$1] : $0 < $1 }
            for j in rest.prefix(k - picks.count) {
                let t = picks.count
                picks.append(j)
                if keepRows {
                    row.withUnsafeMutableBufferPointer { cosines.row(j, into: $0.baseAddress!, likely: likely) }
                    rows.replaceSubrange((t * n)..<((t + 1) * n), with: row)
                }
            }
        }
        return Selection(picks: picks, rows: rows, diagonal: cosines.diagonal)
    }

    /// One pick's update of the other candidates' state (the same for every band).
    struct Step: Sendable {
        let pick: Int
        let column: Int
        let root: Float
        let weight: Float
        let n: Int

        /// For every candidate `i` of `band`: `e_i = (L[j][i] - <v_j, v_i>) / sqrt(d_j)` into
        /// `out` (row `pick` of v, from the band's start), and `d_i -= e_i^2` (`residuals` from
        /// the band's start). `v` is the coefficient rows (all candidates), `row` the pick's
        /// cosines, `weights` every candidate's weight.
        func update(band: Range<Int>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                    residuals: UnsafeMutablePointer<Float>, row: UnsafePointer<Float>, weights: UnsafePointer<Float>) {
            var acc = [Float](repeating: 0, count: band.count)
            acc.withUnsafeMutableBufferPointer { ap in
                let a = ap.baseAddress!
                GreedyMAP.accumulate(into: a, v: v, n: n, picks: pick, column: column, band: band)
                for i in 0..<band.count {
                    let gi = band.lowerBound + i
                    let e = ((weight * weights[gi]) * row[gi] - a[i]) / root
                    out[i] = e
                    residuals[i] -= e * e
                }
            }
        }
    }

    /// `a[i] = sum over s < t of v[s][j] * v[s][band i]`, summed in order of `s` for every `i`
    /// (so each value depends on its own candidate only). Blocks of 32 candidates keep their
    /// sums in registers across all `s` instead of a memory pass per pick.
    @inline(__always)
    static func accumulate(into a: UnsafeMutablePointer<Float>, v: UnsafePointer<Float>, n: Int, picks t: Int,
                           column j: Int, band: Range<Int>) {
        let count = band.count
        var i = 0
        while i + 32 <= count {
            var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
            var row = UnsafeRawPointer(v + band.lowerBound + i)
            for s in 0..<t {
                let c = SIMD8<Float>(repeating: v[s * n + j])
                s0 += c * row.loadUnaligned(as: SIMD8<Float>.self)
                s1 += c * row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                s2 += c * row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                s3 += c * row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                row += n * MemoryLayout<Float>.stride
            }
            let out = UnsafeMutableRawPointer(a + i)
            out.storeBytes(of: s0, as: SIMD8<Float>.self)
            out.storeBytes(of: s1, toByteOffset: 32, as: SIMD8<Float>.self)
            out.storeBytes(of: s2, toByteOffset: 64, as: SIMD8<Float>.self)
            out.storeBytes(of: s3, toByteOffset: 96, as: SIMD8<Float>.self)
            i += 32
        }
        if i < count {
            for k in i..<count { a[k] = 0 }
            for s in 0..<t {
                let c = v[s * n + j]
                let src = v + s * n + band.lowerBound
                for k in i..<count { a[k] += c * src[k] }
            }
        }
    }
}
