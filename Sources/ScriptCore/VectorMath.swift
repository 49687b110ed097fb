/// Element loops of the core, written so each output element depends only on its own inputs
/// (never on where it sits in a batch), which keeps results reproducible across shapes.
enum VectorMath {
    /// Sum of squares of `count` floats.
    @inline(__always)
    static func sumOfSquares(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            acc += v * v
            i += 8
        }
        var s = acc.sum()
        while i < count { s += p[i] * p[i]; i += 1 }
        return s
    }

    /// `1 / |row|`; 0 for a zero row, NaN for a row holding NaN or infinity.
    static func inverseNorm(_ row: UnsafePointer<Float>, _ c: Int) -> Float {
        let ss = sumOfSquares(row, c)
        if ss.isFinite { return ss > 0 ? 1 / ss.squareRoot() : 0 }
        // Huge but finite values overflow Float: redo in Double. NaN marks a row holding NaN or
        // infinity (validation turns it into an error).
        var d = 0.0
        for j in 0..<c {
            let v = row[j]
            if !v.isFinite { return .nan }
            d += Double(v) * Double(v)
        }
        return Float(1 / d.squareRoot())
    }

    /// Dot product of `count` floats.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
                 * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < count { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// Turns dot products into cosines in place: `c[r][s] = (c[r][s] * u[r]) * v[s]`, where `u`
    /// and `v` are inverse norms of the rows and columns.
    static func scale(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ldc: Int,
                      rowInverse u: UnsafePointer<Float>, colInverse v: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = c + r * ldc
            let ur = u[r]
            for s in 0..<cols { row[s] = (row[s] * ur) * v[s] }
        }
    }
}

extension Matrix {
    /// `1 / |row|` for every row; 0 for a zero row (whose cosines are then all 0), NaN for a row
    /// holding NaN or infinity.
    public func rowInverseNorms(pool: ComputePool = .serial) -> [Float] {
        var out = [Float](repeating: 0, count: rows)
        let c = cols, values = values
        out.withUnsafeMutableBufferPointer { op in
            let o = DisjointBuffer(op)
            let parts = chunks(of: rows, size: 256)
            pool.forEach(parts.count) { p in
                let part = parts[p]
                let dst = o.write(part)
                values.withUnsafeBufferPointer { vp in
                    for i in part { dst[i - part.lowerBound] = VectorMath.inverseNorm(vp.baseAddress! + i * c, c) }
                }
            }
        }
        return out
    }

    /// A `rows x cols` matrix whose rows `fill(band, dst)` writes (rows `band`, row-major from
    /// `dst`), with each row's inverse norm, the same as `rowInverseNorms`, taken while its
    /// band is still in cache: one pass over the values instead of two (a worker decoding a
    /// shard's bytes). `kept` says what the matrix holds: the float32 values, their bfloat16
    /// rounding too (as `withBFloat16`, in the same pass), or the rounding alone (`fill` then
    /// writes a few rows at a time into scratch). Bands of at most 256 rows over `pool`.
    public static func filled(rows: Int, cols: Int, pool: ComputePool, keeping kept: FilledValues = .float32,
                              _ fill: @escaping @Sendable (Range<Int>, UnsafeMutablePointer<Float>) -> Void) -> (matrix: Matrix, inverseNorms: [Float]) {
        var norms = [Float](repeating: 0, count: rows)
        var rounded: [UInt16]? = nil
        var values: [Float] = []
        norms.withUnsafeMutableBufferPointer { np in
            let inverse = DisjointBuffer(np), stride = Matrix.bfloat16Stride(cols)
            func run(into out: DisjointBuffer<Float>?) {
                let each: @Sendable (Range<Int>, UnsafeMutablePointer<UInt16>?) -> Void = { part, half in
                    let inv = inverse.write(part)
                    let dst = out?.write(rows: part, columns: 0..<cols)
                    let scratch = dst == nil ? UnsafeMutablePointer<Float>.allocate(capacity: 4 * cols) : nil
                    defer { scratch?.deallocate() }
                    // A few rows at a time, so the norms (and the rounding) read what the fill
                    // has just written.
                    for band in chunks(of: part.count, size: 4) {
                        let first = dst.map { $0 + band.lowerBound * cols } ?? scratch!
                        fill((part.lowerBound + band.lowerBound)..<(part.lowerBound + band.upperBound), first)
                        Matrix.normAndRound(first, cols: cols, rows: band, norms: inv, rounding: half.map { $0 + band.lowerBound * stride })
                    }
                }
                if kept == .float32 {
                    let parts = chunks(of: rows, size: 256)
                    pool.forEach(parts.count) { p in each(parts[p], nil) }
                } else {
                    rounded = Matrix.bfloat16Rows(rows, cols: cols, pool: pool, each)
                }
            }
            if kept == .bfloat16 {
                run(into: nil)
            } else {
                values = [Float](unsafeUninitializedCapacity: rows * cols) { buffer, initialized in
                    run(into: DisjointBuffer(buffer.baseAddress!, rows: rows, columns: cols))
                    initialized = rows * cols
                }
            }
        }
        var m = kept == .bfloat16 ? Matrix(rows: rows, cols: cols, roundedOnly: ()) : Matrix(rows: rows, cols: cols, values: values)
        m.bfloat16 = rounded
        return (m, norms)
    }

    /// The inverse norms of consecutive rows from `first` (`cols` wide) into `norms[rows]`, and,
    /// given `rounding`, their bfloat16 rounding there, while the rows are in cache.
    static func normAndRound(_ first: UnsafePointer<Float>, cols: Int, rows: Range<Int>, norms: UnsafeMutableBufferPointer<Float>,
                             rounding: UnsafeMutablePointer<UInt16>?) {
        for i in rows { norms[i] = VectorMath.inverseNorm(first + (i - rows.lowerBound) * cols, cols) }
        if let rounding { roundRows(first, cols: cols, count: rows.count, into: rounding) }
    }

    /// The rows' inverse norms (as `rowInverseNorms`) and the matrix with its bfloat16 rounding
    /// (as `withBFloat16`), in one pass over the values: a few rows at a time are rounded while
    /// the norms have just read them.
    public func withBFloat16AndInverseNorms(pool: ComputePool) -> (matrix: Matrix, inverseNorms: [Float]) {
        var norms = [Float](repeating: 0, count: rows)
        var out = self
        let c = cols, values = values
        norms.withUnsafeMutableBufferPointer { np in
            let inverse = DisjointBuffer(np)
            out.bfloat16 = Matrix.bfloat16Rows(rows, cols: c, pool: pool) { part, half in
                let inv = inverse.write(part)
                values.withUnsafeBufferPointer { vp in
                    for band in chunks(of: part.count, size: 4) {
                        let first = vp.baseAddress! + (part.lowerBound + band.lowerBound) * c
                        Matrix.normAndRound(first, cols: c, rows: band, norms: inv, rounding: half + band.lowerBound * Matrix.bfloat16Stride(c))
                    }
                }
            }
        }
        return (out, norms)
    }

    /// Each row scaled to unit L2 norm; a zero row stays zero.
    public func rowNormalized(pool: ComputePool = .serial) -> Matrix {
        let inv = rowInverseNorms(pool: pool)
        var out = values
        let c = cols
        out.withUnsafeMutableBufferPointer { buf in
            for i in 0..<rows {
                let row = buf.baseAddress! + i * c
                let s = inv[i]
                for j in 0..<c { row[j] = row[j] * s }
            }
        }
        return Matrix(rows: rows, cols: cols, values: out)
    }
}
