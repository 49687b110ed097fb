import CPlatform

/// A dense row-major matrix of Float32 values: the one tensor type of the pruning core.
///
/// Tokens are rows. Storage is a single contiguous array so rows can be handed to BLAS and to
/// the core's own vector loops without copies.
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    public var values: [Float]

    /// Wraps `values` (row-major, `rows * cols` of them).
    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(rows >= 0 && cols >= 0 && values.count == rows * cols,
                     "Matrix \(rows)x\(cols) needs \(rows * cols) values, got \(values.count)")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// A matrix of zeros.
    public init(zeros rows: Int, cols: Int) {
        self.init(rows: rows, cols: cols, values: [Float](repeating: 0, count: rows * cols))
    }

    /// One row as an array (a copy).
    public func row(_ i: Int) -> [Float] {
        Array(values[(i * cols)..<((i + 1) * cols)])
    }

    /// The rows at `indices`, in that order.
    public func gatherRows(_ indices: [Int]) -> Matrix {
        let c = cols
        // Every element is written once, by its row's copy: no zeros first (megabytes a call),
        // in huge pages where it holds whole ones (a fault each, not 512).
        let out = [Float](unsafeUninitializedCapacity: indices.count * c) { dst, initialized in
            _ = script_advise_huge_pages(dst.baseAddress, UInt(indices.count * c * MemoryLayout<Float>.stride))
            values.withUnsafeBufferPointer { src in
                for (r, i) in indices.enumerated() {
                    precondition(i >= 0 && i < rows, "row \(i) of \(rows)")
                    (dst.baseAddress! + r * c).initialize(from: src.baseAddress! + i * c, count: c)
                }
            }
            initialized = indices.count * c
        }
        return Matrix(rows: indices.count, cols: cols, values: out)
    }

    /// A contiguous band of rows.
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, cols: cols, values: Array(values[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    /// Checks that the arithmetic can use every value: none NaN or infinite, and no row whose
    /// squares sum past Float's range (its dot products, cosines included, would be infinite).
    /// Both are read from the rows' inverse norms (`rowInverseNorms`; computed here when not
    /// given, one pass): the values are searched only when a norm is NaN, and an overflowing row
    /// is one whose norm is positive but below `1 / sqrt(Float.greatestFiniteMagnitude)`
    /// (`rowInverseNorms` computes such rows in Double).
    /// - Parameter rowOffset: added to the row an error names.
    public func checkUsable(_ what: String, inverseNorms: [Float]? = nil, rowOffset: Int = 0) throws(PruneError) {
        let inv = inverseNorms ?? rowInverseNorms()
        if let bad = firstNonFinite(inverseNorms: inv) {
            throw .nonFinite(what: what, row: rowOffset + bad / cols, column: bad % cols)
        }
        let smallest = 1 / Float.greatestFiniteMagnitude.squareRoot()
        if let row = inv.firstIndex(where: { $0 > 0 && $0 < smallest }) {
            throw .overflow(what: what, row: rowOffset + row)
        }
    }

    /// As `firstNonFinite()`, given the rows' inverse norms (`rowInverseNorms`, NaN for a row
    /// holding NaN or infinity): the values are searched only when some norm is NaN.
    public func firstNonFinite(inverseNorms: [Float]?) -> Int? {
        guard inverseNorms?.contains(where: \.isNaN) ?? true else { return nil }
        return firstNonFinite()
    }

    /// Index of the first NaN or infinite value, if any.
    public func firstNonFinite() -> Int? {
        values.withUnsafeBufferPointer { p -> Int? in
            // x * 0 is 0 for finite x and NaN for NaN and infinities: one vector pass first.
            let n = p.count
            var acc = SIMD16<Float>(repeating: 0)
            var i = 0
            while i + 16 <= n {
                acc += UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self) * 0
                i += 16
            }
            var tail: Float = 0
            while i < n { tail += p[i] * 0; i += 1 }
            guard acc.sum() + tail != 0 || (acc.sum() + tail).isNaN else { return nil }
            return p.firstIndex { !$0.isFinite }
        }
    }
}
