import CPlatform
#if canImport(Glibc)
import Glibc
#endif

/// Keeps freed memory in the process for reuse instead of returning it to the kernel.
///
/// Requests move tensors of tens of megabytes through fresh buffers; glibc serves each from its
/// own `mmap` and unmaps it on free, so every request paid a page fault per 4 KiB touched (a
/// large share of the coordinator's time). With the thresholds raised, those buffers are recycled.
public enum MemoryTuning {
    public static func apply() {
        #if os(Linux)
        // glibc's <malloc.h> (not in Swift's Glibc module): M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3.
        _ = glibcMallopt(-3, 1 << 30)
        _ = glibcMallopt(-1, Int32.max)
        #endif
    }

    /// For a one-shot process (`prune`): every thread allocates from the main heap (M_ARENA_MAX
    /// 1) instead of a fresh heap of its own, and that heap is grown by `reserve` bytes at once
    /// (address space only; never trimmed, see `apply`) that ask for transparent huge pages:
    /// a one-shot request's buffers are all fresh memory, and each 4 KiB page of it faulted on
    /// first touch. Call before the process starts its compute threads.
    public static func oneHeap(reserve: Int = 256 << 20) {
        #if os(Linux)
        // M_ARENA_MAX is -8.
        _ = glibcMallopt(-8, 1)
        // Below the mmap threshold (`apply`): from the heap, whose top it stays when freed.
        guard let block = malloc(reserve) else { return }
        free(block)
        _ = script_advise_huge_pages(block, UInt(reserve))
        #endif
    }
}

#if os(Linux)
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
