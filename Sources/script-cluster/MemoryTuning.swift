/// Keeps freed memory in the process for reuse instead of returning it to the kernel.
///
/// Requests move tensors of tens of megabytes through fresh buffers; glibc serves each from its
/// own `mmap` and unmaps it on free, so every request paid a page fault per 4 KiB touched (a
/// large share of the coordinator's time). With the thresholds raised, those buffers are recycled.
enum MemoryTuning {
    static func apply() {
        #if os(Linux)
        // glibc's <malloc.h> (not in Swift's Glibc module): M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3.
        _ = glibcMallopt(-3, 1 << 30)
        _ = glibcMallopt(-1, Int32.max)
        #endif
    }

    /// For a one-shot process (`prune`): every thread allocates from the main heap (M_ARENA_MAX
    /// 1), whose pages reading the request has already mapped, instead of a fresh heap of its
    /// own whose every page faults on first touch (about 1 ms of an 8 ms image request). Call
    /// before the process starts its compute threads.
    static func oneHeap() {
        #if os(Linux)
        // M_ARENA_MAX is -8.
        _ = glibcMallopt(-8, 1)
        #endif
    }
}

#if os(Linux)
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
