#ifndef SCRIPT_CHALF_H
#define SCRIPT_CHALF_H
#include <stddef.h>
#include <stdint.h>

/// Converts `count` IEEE binary16 values (native byte order, at any address) at `src` to binary32 at `dst`,
/// exactly, with the CPU's conversion instructions (x86 F16C, Arm FP16). Returns 0, having
/// written nothing, when this CPU has none: the caller then converts in software.
int script_half_to_float(const void *src, float *dst, size_t count);

/// Converts `count` binary32 values at `src` to IEEE binary16 (native byte order, at any address)
/// at `dst`, rounding to nearest even, with the CPU's conversion instructions (x86 F16C, Arm
/// FP16); a NaN becomes the quiet NaN of its sign (0x7e00), as the software conversion makes it.
/// Returns 0, having written nothing, when this CPU has none.
int script_float_to_half(const float *src, void *dst, size_t count);

/// Converts `count` binary32 values at `src` to bfloat16 (native byte order, at any address) at
/// `dst`, rounding to nearest even; a NaN stays a NaN (its quiet bit set). Plain C that compilers
/// vectorize, on every CPU.
void script_float_to_bfloat16(const float *src, void *dst, size_t count);

#endif
