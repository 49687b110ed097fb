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
}

extension Matrix {
    /// Each row divided by its L2 norm; a zero row stays zero.
    public func rowNormalized(pool: ComputePool = .serial) -> Matrix {
        var out = values
        let c = cols, r = rows
        out.withUnsafeMutableBufferPointer { buf in
            let base = UncheckedBox(buf.baseAddress!)
            let parts = chunks(of: r, size: 256)
            pool.forEach(parts.count) { p in
                for i in parts[p] {
                    let row = base.value + i * c
                    let norm = VectorMath.sumOfSquares(row, c).squareRoot()
                    if norm > 0 {
                        for j in 0..<c { row[j] = row[j] / norm }
                    }
                }
            }
        }
        return Matrix(rows: rows, cols: cols, values: out)
    }
}
