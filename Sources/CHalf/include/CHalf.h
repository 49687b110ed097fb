#ifndef SCRIPT_CHALF_H
#define SCRIPT_CHALF_H
#include <stddef.h>
#include <stdint.h>

/// Converts `count` IEEE binary16 values (native byte order, at any address) at `src` to binary32 at `dst`,
/// exactly, with the CPU's conversion instructions (x86 F16C, Arm FP16). Returns 0, having
/// written nothing, when this CPU has none: the caller then converts in software.
int script_half_to_float(const void *src, float *dst, size_t count);

#endif
