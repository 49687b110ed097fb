import Dispatch

/// Runs independent chunks of work on up to `width` threads.
///
/// Callers split work into a fixed number of chunks that depends only on the problem size,
/// never on `width`, so every result is the same whether one thread or many ran it.
public struct ComputePool: Sendable {
    /// Threads to use at most; 1 runs everything on the calling thread.
    public let width: Int

    public init(width: Int) { self.width = max(1, width) }

    /// All cores of this machine.
    public static let machine = ComputePool(width: ProcessInfoShim.activeProcessorCount)
    /// The calling thread only (a worker process: one worker a core).
    public static let serial = ComputePool(width: 1)

    /// Calls `body(i)` for every `i` in `0..<count`, possibly concurrently.
    public func forEach(_ count: Int, _ body: (Int) -> Void) {
        if width == 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            if width >= count {
                DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
            } else {
                // At most `width` threads pull chunk numbers in turn.
                let next = AtomicCounter()
                DispatchQueue.concurrentPerform(iterations: width) { _ in
                    while true {
                        let i = next.increment()
                        if i >= count { break }
                        box.value(i)
                    }
                }
            }
        }
    }
}

/// A fixed split of `0..<total` into chunks of about `chunk` items.
@inline(__always)
func chunks(of total: Int, size chunk: Int) -> [Range<Int>] {
    guard total > 0 else { return [] }
    let n = (total + chunk - 1) / chunk
    return (0..<n).map { i in (i * chunk)..<min(total, (i + 1) * chunk) }
}

final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A tiny lock-protected counter (no Atomics dependency in the core).
final class AtomicCounter: @unchecked Sendable {
    private var value = 0
    private let lock = SpinLock()
    func increment() -> Int {
        lock.lock(); defer { lock.unlock() }
        let v = value
        value += 1
        return v
    }
}

#if canImport(Glibc)
import Glibc
final class SpinLock: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(m, nil) }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    func lock() { pthread_mutex_lock(m) }
    func unlock() { pthread_mutex_unlock(m) }
}
enum ProcessInfoShim { static var activeProcessorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) } }
#else
import Darwin
final class SpinLock: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(m, nil) }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    func lock() { pthread_mutex_lock(m) }
    func unlock() { pthread_mutex_unlock(m) }
}
enum ProcessInfoShim { static var activeProcessorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) } }
#endif
