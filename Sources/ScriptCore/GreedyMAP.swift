import CVector

/// Exact fast greedy MAP inference for a DPP (Chen, Zhang, Zhou 2018), kernel
/// `L[i][j] = (w_i w_j) cos(x_i, x_j)`, with kernel rows fetched only for picked tokens.
///
/// Each candidate's residual is updated by its own loop over the picks so far, in a fixed
/// order, so it never depends on which other candidates are present: greedy over a subset that
/// holds the first picks replays those picks exactly (prefix consistency).
///
/// The update of every pick reads the coefficients of all unpicked candidates (`t` each at
/// pick `t`): the greedy's cost is this memory traffic. Candidates sit in slots, grouped in
/// panels of `lanes` whose coefficients are stored pick after pick, so a panel's update
/// streams one contiguous block; a picked candidate's slot is handed to the last unpicked one,
/// so updates only ever touch the unpicked.
enum GreedyMAP {
    /// Residuals below this end the greedy; the rest is filled by weight.
    static let residualFloor: Float = 1e-10
    /// Candidates in a panel: four 8-wide vectors of sums, held in registers across all picks.
    static let lanes = 32

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
        var state = SlotState(weights: w, diagonal: cosines.diagonal, picks: k)
        var picked = [Bool](repeating: false, count: n)
        var picks: [Int] = []
        picks.reserveCapacity(k)
        var rows = [Float](repeating: 0, count: keepRows ? k * n : 0)
        var row = [Float](repeating: 0, count: n)
        // Candidates most likely to be picked next: unpicked ones of highest residual.
        let likely: () -> [Int] = { state.unpickedByResidual() }

        while picks.count < k {
            guard let (slot, best) = state.best(), best >= residualFloor else { break }
            let j = state.candidate[slot]
            let t = picks.count
            picks.append(j)
            picked[j] = true
            row.withUnsafeMutableBufferPointer { cosines.row(j, into: $0.baseAddress!, likely: likely) }
            if keepRows { rows.replaceSubrange((t * n)..<((t + 1) * n), with: row) }
            if t == k - 1 { break }
            state.pick(slot: slot, pick: t, row: row, pool: pool)
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

    /// The greedy's state, by slot: the unpicked candidates fill slots `0..<active`.
    struct SlotState {
        /// Candidate in each slot (slots past the candidates pad the last panel).
        var candidate: [Int]
        var weight: [Float]
        var residual: [Float]
        /// Coefficients, panel after panel: `coefficients[(p * capacity + s) * lanes + lane]` is
        /// `v_s` of the candidate in slot `p * lanes + lane`.
        var coefficients: [Float]
        /// Picks whose coefficients a panel holds (one less than the picks: the last needs none).
        let capacity: Int
        var active: Int

        init(weights w: [Float], diagonal: [Float], picks k: Int) {
            let n = w.count
            let slots = (n + lanes - 1) / lanes * lanes
            candidate = Array(0..<n) + [Int](repeating: 0, count: slots - n)
            weight = w + [Float](repeating: 0, count: slots - n)
            residual = (0..<slots).map { $0 < n ? (w[$0] * w[$0]) * diagonal[$0] : 0 }
            capacity = max(1, k - 1)
            coefficients = [Float](repeating: 0, count: slots * capacity)
            active = n
        }

        /// The unpicked slot of highest residual (ties: the lower candidate) and its residual.
        func best() -> (Int, Float)? {
            var slot = -1
            var top = -Float.infinity
            for i in 0..<active {
                let r = residual[i]
                if r > top || (r == top && slot >= 0 && candidate[i] < candidate[slot]) { top = r; slot = i }
            }
            return slot < 0 ? nil : (slot, top)
        }

        /// Unpicked candidates by residual, highest first (ties: the lower candidate).
        func unpickedByResidual() -> [Int] {
            let pairs: [(residual: Float, candidate: Int)] = (0..<active).map { (residual[$0], candidate[$0]) }
            return pairs.sorted { $0.residual != $1.residual ? $0.residual > $1.residual : $0.candidate < $1.candidate }.map(\.candidate)
        }

        /// Takes the candidate in `slot` as pick `t` (its cosines with every candidate in
        /// `row`) and updates every other unpicked candidate.
        mutating func pick(slot: Int, pick t: Int, row: [Float], pool: ComputePool) {
            let j = candidate[slot]
            let stride = capacity * lanes
            let (p, lane) = slot.quotientAndRemainder(dividingBy: lanes)
            let own = (0..<t).map { coefficients[p * stride + $0 * lanes + lane] }
            let step = Step(pick: t, root: residual[slot].squareRoot(), weight: weight[slot], capacity: capacity)
            // The last unpicked candidate takes the freed slot.
            let last = active - 1
            if slot != last {
                let (q, from) = last.quotientAndRemainder(dividingBy: lanes)
                for s in 0..<t { coefficients[p * stride + s * lanes + lane] = coefficients[q * stride + s * lanes + from] }
                candidate[slot] = candidate[last]
                weight[slot] = weight[last]
                residual[slot] = residual[last]
            }
            candidate[last] = j
            active = last
            guard active > 0 else { return }
            let kernel = (0..<((active + lanes - 1) / lanes * lanes)).map { row[candidate[$0]] }
            let panels = (active + lanes - 1) / lanes
            // A pick's update is t multiply-adds a candidate: below a quarter million in all,
            // handing bands to other threads costs more than it saves. Bands of at least 8
            // panels, at most 16 bands; each candidate's update is its own, so any split gives
            // the same values.
            if (t + 1) * active < 1 << 18 || pool.isSerial {
                coefficients.withUnsafeMutableBufferPointer { cp in
                    residual.withUnsafeMutableBufferPointer { rp in
                        step.update(panels: 0..<panels, coefficients: cp.baseAddress!, residuals: rp.baseAddress!,
                                    own: own, kernel: kernel, weights: weight)
                    }
                }
                return
            }
            let bands = chunks(of: panels, size: max(8, (panels + 15) / 16))
            let weights = weight
            coefficients.withUnsafeMutableBufferPointer { cp in
                residual.withUnsafeMutableBufferPointer { rp in
                    let cs = DisjointBuffer(cp.baseAddress!, rows: cp.count / stride, columns: stride)
                    let rs = DisjointBuffer(rp.baseAddress!, rows: rp.count / lanes, columns: lanes)
                    pool.forEach(bands.count) { b in
                        let band = bands[b]
                        let c = cs.write(rows: band, columns: 0..<stride) - band.lowerBound * stride
                        let r = rs.write(rows: band, columns: 0..<lanes) - band.lowerBound * lanes
                        step.update(panels: band, coefficients: c, residuals: r, own: own, kernel: kernel, weights: weights)
                    }
                }
            }
        }
    }

    /// One pick's update of the other candidates' state (the same for every panel).
    struct Step: Sendable {
        let pick: Int
        let root: Float
        let weight: Float
        /// Picks a panel holds coefficients for.
        let capacity: Int

        /// For every slot `i` of `panels`: `e_i = ((w_j w_i) K[j][i] - <v_j, v_i>) / sqrt(d_j)`
        /// becomes coefficient `pick` of the slot, and `d_i -= e_i^2` (`script_greedy_update`:
        /// every sum in order of the picks, from 0). `coefficients` and `residuals` are addressed
        /// from slot 0 (only `panels` are touched); `own` is `v_j`, `kernel` and `weights` the
        /// cosines with the pick and the weights, by slot.
        func update(panels: Range<Int>, coefficients: UnsafeMutablePointer<Float>,
                    residuals: UnsafeMutablePointer<Float>, own: [Float], kernel: [Float], weights: [Float]) {
            own.withUnsafeBufferPointer { vj in
                kernel.withUnsafeBufferPointer { kp in
                    weights.withUnsafeBufferPointer { wp in
                        script_greedy_update(coefficients, capacity, residuals, vj.baseAddress, kp.baseAddress!, wp.baseAddress!,
                                             pick, weight, root, panels.lowerBound, panels.upperBound)
                    }
                }
            }
        }
    }
}
