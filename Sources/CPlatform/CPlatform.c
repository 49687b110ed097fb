#define _GNU_SOURCE
#include "CPlatform.h"

#if defined(__linux__)
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>

int script_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}

int script_advise_huge_pages(void *start, unsigned long bytes) {
#if defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t from = ((uintptr_t)start + huge - 1) & ~(huge - 1);
    uintptr_t to = ((uintptr_t)start + bytes) & ~(huge - 1);
    if (to <= from) return 0;
    return madvise((void *)from, to - from, MADV_HUGEPAGE) == 0;
#else
    (void)start; (void)bytes;
    return 0;
#endif
}
#else
int script_affinity_cpu_count(void) { return 0; }
int script_advise_huge_pages(void *start, unsigned long bytes) { (void)start; (void)bytes; return 0; }
#endif
