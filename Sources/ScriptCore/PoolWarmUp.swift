#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Synchronization

/// What a one-shot process (a script calling `prune` once) would otherwise pay inside its first
/// request: loading and checking the BLAS library (its kernels chosen, its own threads off before
/// it can start any), starting the helper threads the pool needs, and mapping the BLAS buffers of
/// each thread that runs products. `start` does it on a thread of its own and returns at once,
/// so it overlaps whatever the process does next (reading its request from files).
public enum PoolWarmUp {
    /// Starts warming up `pool` in the background (at most once a process; later calls return).
    public static func start(_ pool: ComputePool) {
        guard !begun.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let box = Unmanaged.passRetained(PoolBox(pool)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            Unmanaged<PoolBox>.fromOpaque(arg!).takeRetainedValue().pool.warm()
            return nil
        }, box)
        if rc == 0 { pthread_detach(thread) } else { Unmanaged<PoolBox>.fromOpaque(box).release() }
    }

    private static let begun = Atomic<Bool>(false)
}

extension ComputePool {
    /// Loads BLAS, then runs one small product on every thread of the pool, concurrently (each
    /// thread's BLAS buffers and stack are mapped by it), starting the helpers it needs.
    func warm() {
        _ = BLAS.ready
        // A few products a thread, each long enough (~0.2 ms) for sleeping helpers to join.
        let side = 128, depth = 1024
        forEach(4 * width) { _ in
            var a = [Float](repeating: 0, count: side * depth), c = [Float](repeating: 0, count: side * side)
            for i in stride(from: 0, to: a.count, by: 97) { a[i] = 1 }
            a.withUnsafeBufferPointer { ap in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemmABt(m: side, n: side, k: depth, a: ap.baseAddress!, lda: depth, b: ap.baseAddress!, ldb: depth,
                                 c: cp.baseAddress!, ldc: side)
                }
            }
        }
    }
}

/// A pool handed to the warm-up thread.
private final class PoolBox: Sendable {
    let pool: ComputePool
    init(_ pool: ComputePool) { self.pool = pool }
}
