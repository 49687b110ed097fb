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
}

#if os(Linux)
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
