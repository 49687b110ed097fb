#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Synchronization

/// What a one-shot process (a script calling `prune` once) would otherwise pay inside its first
/// request: loading and checking the BLAS library (its kernels chosen, its own threads off before
/// it can start any), starting the helper threads the pool needs, and mapping the BLAS buffers of
/// the threads that run products. `start` does it on a thread of its own and returns at once, so
/// it overlaps whatever the process does next (reading its request from files).
///
/// `wait` before the process may exit and before the request's own work: at exit the BLAS
/// library frees its buffers, which a warm-up still running would then use.
public final class PoolWarmUp: Sendable {
    /// The warm-up thread, until it is joined.
    private let thread: Mutex<pthread_t?>

    private init(thread: pthread_t?) { self.thread = Mutex(thread) }

    /// Starts warming up `pool` in the background.
    public static func start(_ pool: ComputePool) -> PoolWarmUp {
        let box = Unmanaged.passRetained(PoolBox(pool)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            Unmanaged<PoolBox>.fromOpaque(arg!).takeRetainedValue().pool.warm()
            return nil
        }, box)
        guard rc == 0 else {
            // No thread to spare: the first request warms up as it goes.
            Unmanaged<PoolBox>.fromOpaque(box).release()
            return PoolWarmUp(thread: nil)
        }
        return PoolWarmUp(thread: thread)
    }

    /// Returns once the warm-up is over (at once after the first call).
    public func wait() {
        guard let t = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) else { return }
        pthread_join(t, nil)
    }
}

extension ComputePool {
    /// Loads BLAS, then runs a few small products on the pool (its helpers started, each
    /// thread that joins mapping its BLAS buffers).
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
