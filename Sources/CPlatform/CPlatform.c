#define _GNU_SOURCE
#include "CPlatform.h"
#include <errno.h>
#include <sys/stat.h>

#if defined(__linux__)
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

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

int script_shared_create(const char *name, unsigned long bytes) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)bytes) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int script_shared_seal(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0 ? 0 : -1;
}

int script_shared_seals(int fd) { return fcntl(fd, F_GET_SEALS); }

int script_shared_shrink_seal(void) { return F_SEAL_SHRINK; }

int script_shared_open(int pid, int fd) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
    // Looked at first without opening it (O_PATH): opening a device or a pipe may act on it.
    int at = open(path, O_PATH | O_CLOEXEC);
    if (at < 0) return -1;
    struct stat st;
    if (fstat(at, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(at);
        errno = e;
        return -2;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", at);
    int r = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    int e = errno;
    close(at);
    errno = e;
    return r;
}
#else
int script_shared_create(const char *name, unsigned long bytes) { (void)name; (void)bytes; errno = ENOSYS; return -1; }
int script_shared_seal(int fd) { (void)fd; errno = ENOSYS; return -1; }
int script_shared_seals(int fd) { (void)fd; errno = ENOSYS; return -1; }
int script_shared_shrink_seal(void) { return 0; }
int script_shared_open(int pid, int fd) { (void)pid; (void)fd; errno = ENOSYS; return -1; }
int script_affinity_cpu_count(void) { return 0; }
int script_advise_huge_pages(void *start, unsigned long bytes) { (void)start; (void)bytes; return 0; }
#endif
