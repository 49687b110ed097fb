#if canImport(Glibc)
import Glibc
#endif

/// CPU time consumed so far, for the CPU-seconds metrics: a job's cost is the difference of two
/// readings on each thread that computed it (or of the process, when only it runs).
public enum CPUTime {
    /// CPU time of the calling thread.
    public static func thread() -> Duration { read(CLOCK_THREAD_CPUTIME_ID) }

    /// CPU time of the whole process (all threads, user and system).
    public static func process() -> Duration { read(CLOCK_PROCESS_CPUTIME_ID) }

    private static func read(_ clock: clockid_t) -> Duration {
        var t = timespec()
        guard clock_gettime(clock, &t) == 0 else { return .zero }
        return .seconds(t.tv_sec) + .nanoseconds(t.tv_nsec)
    }
}
