import Synchronization

/// One result per chunk of a parallel `map`, kept under a lock.
final class ResultSlots<T: Sendable>: Sendable {
    private let slots: Mutex<[T?]>

    init(_ count: Int) { slots = Mutex([T?](repeating: nil, count: count)) }

    func put(_ value: T, at i: Int) {
        slots.withLock { s in
            precondition(s[i] == nil, "chunk \(i) returned twice")
            s[i] = value
        }
    }

    /// Every chunk's result, in order (all must have run).
    func values() -> [T] {
        slots.withLock { s in s.map { $0! } }
    }
}
