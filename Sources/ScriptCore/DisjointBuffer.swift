import Synchronization

/// Memory laid out as `rows x columns` (row-major) that the chunks of one parallel loop write,
/// each in its own part.
///
/// A chunk claims a rectangle before it touches it: `write` for a part it writes, `read` for a
/// part it reads that another chunk of the same loop might write. Claims are checked under a
/// lock against every claim made before, and two that overlap, one of them a write, stop the
/// process: two chunks can never race on an element. Make one per loop, inside the scope that
/// lends the memory, and let it go with the loop.
final class DisjointBuffer<T>: @unchecked Sendable {
    // Sendable by its lock: every pointer it hands out is for a rectangle claimed under `claims`,
    // disjoint from every rectangle claimed for writing.
    private struct Claim {
        let rows: Range<Int>
        let columns: Range<Int>
        let writes: Bool

        func overlaps(_ o: Claim) -> Bool {
            rows.overlaps(o.rows) && columns.overlaps(o.columns) && (writes || o.writes)
        }
    }

    private let base: UnsafeMutablePointer<T>
    let rows: Int
    let columns: Int
    private let claims = Mutex<[Claim]>([])

    /// `base` holds `rows * columns` elements and outlives every use of this buffer.
    init(_ base: UnsafeMutablePointer<T>, rows: Int, columns: Int) {
        self.base = base
        self.rows = rows
        self.columns = columns
    }

    /// A one-row buffer over `buffer`.
    convenience init(_ buffer: UnsafeMutableBufferPointer<T>) {
        self.init(buffer.baseAddress!, rows: 1, columns: buffer.count)
    }

    /// The start of the rectangle `rows x columns` for writing; rows are `self.columns` apart.
    func write(rows r: Range<Int>, columns c: Range<Int>) -> UnsafeMutablePointer<T> {
        claim(Claim(rows: r, columns: c, writes: true))
    }

    /// Elements `range` of a one-row buffer, for writing.
    func write(_ range: Range<Int>) -> UnsafeMutableBufferPointer<T> {
        precondition(rows == 1, "a range of a \(rows)-row buffer")
        return UnsafeMutableBufferPointer(start: write(rows: 0..<1, columns: range), count: range.count)
    }

    /// The start of the rectangle `rows x columns` for reading.
    func read(rows r: Range<Int>, columns c: Range<Int>) -> UnsafePointer<T> {
        UnsafePointer(claim(Claim(rows: r, columns: c, writes: false)))
    }

    private func claim(_ new: Claim) -> UnsafeMutablePointer<T> {
        precondition(new.rows.lowerBound >= 0 && new.rows.upperBound <= rows
                     && new.columns.lowerBound >= 0 && new.columns.upperBound <= columns,
                     "part \(new.rows) x \(new.columns) outside a \(rows) x \(columns) buffer")
        claims.withLock { list in
            if let clash = list.first(where: { $0.overlaps(new) }) {
                preconditionFailure("chunks overlap: \(new.rows) x \(new.columns) and \(clash.rows) x \(clash.columns)")
            }
            list.append(new)
        }
        return base + new.rows.lowerBound * columns + new.columns.lowerBound
    }
}
