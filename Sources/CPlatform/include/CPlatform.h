#ifndef SCRIPT_CPLATFORM_H
#define SCRIPT_CPLATFORM_H

/// What the thread team needs of the CPU and the OS that Swift does not reach.

/// A spin-wait hint: x86 `pause`, Arm `yield` (the core runs its sibling thread, saves power,
/// and leaves a spinning loop politely when the value it waits for changes).
static inline void script_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

/// CPUs this process may run on (`sched_getaffinity`), or 0 when the OS does not say.
int script_affinity_cpu_count(void);

/// Asks the kernel for transparent huge pages (2 MiB) over the whole huge pages inside
/// `[start, start + bytes)`, memory about to be written for the first time: one fault a huge
/// page where there were 512 (a fresh 9 MB feature matrix took 2300). Returns 1 where the
/// kernel took the advice, 0 where there was no whole huge page inside or it refused.
int script_advise_huge_pages(void *start, unsigned long bytes);

/// Shared memory between processes of one host (a client's tensors read in place by workers).

/// A new sealable anonymous file of `bytes` bytes (`memfd_create`, close-on-exec), or -1 with
/// errno set.
int script_shared_create(const char *name, unsigned long bytes);

/// Seals `fd` against shrinking, growing and writing, and against further seals: 0, or -1 with
/// errno set (EBUSY while a writable shared mapping of it exists).
int script_shared_seal(int fd);

/// The seals of `fd` (`F_GET_SEALS`), or -1 with errno set (EINVAL: a file that takes none).
int script_shared_seals(int fd);

/// The seal that makes a mapping of the file safe to read: it can no longer shrink.
int script_shared_shrink_seal(void);

/// Opens descriptor `fd` of process `pid` read-only and non-blocking, through
/// `/proc/PID/fd/FD` (the kernel checks that this process may read that one's files), where it
/// is a regular file (looked at first without opening it: opening a device or a pipe may act on
/// it): a descriptor, -2 where it is not a regular file, or -1 with errno set.
int script_shared_open(int pid, int fd);

#endif
