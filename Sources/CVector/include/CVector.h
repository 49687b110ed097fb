#ifndef SCRIPT_CVECTOR_H
#define SCRIPT_CVECTOR_H

#include <stddef.h>

/// Loops of the pruning core that Swift compiles for the baseline CPU only (SSE2 on x86-64),
/// built here for the CPU's wider vectors too and chosen at run time. Every version computes
/// each output element with the same operations in the same order (multiplies and adds kept
/// apart, never fused), so results are the same bits on every CPU.

/// One pick's update of the greedy's candidates, panel by panel (`lanes` = 32 candidates a
/// panel, coefficient `s` of panel `p` at `coefficients[(p * capacity + s) * 32 + lane]`): for
/// every slot `i` of panels `[first, end)`,
///   sum = v_j[0] * v_i[0] + ... + v_j[pick-1] * v_i[pick-1]   (in this order, from 0)
///   e   = ((weight * weights[i]) * kernel[i] - sum) / root
///   coefficient `pick` of slot i = e;  residuals[i] = residuals[i] - e * e
/// `own` is v_j (`pick` values); `kernel`, `weights` and `residuals` are indexed by slot.
void script_greedy_update(float *coefficients, size_t capacity, float *residuals, const float *own,
                          const float *kernel, const float *weights, size_t pick, float weight, float root,
                          size_t first, size_t end);

/// The same in plain C, for any CPU: the reference every vector version equals bit for bit.
void script_greedy_update_portable(float *coefficients, size_t capacity, float *residuals, const float *own,
                                   const float *kernel, const float *weights, size_t pick, float weight, float root,
                                   size_t first, size_t end);

/// Which version runs: "avx2" or "portable".
const char *script_vector_isa(void);

#endif
