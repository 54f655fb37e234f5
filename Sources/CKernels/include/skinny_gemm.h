#ifndef WORKBENCH_SKINNY_GEMM_H
#define WORKBENCH_SKINNY_GEMM_H

#include <stddef.h>

/* y[i, j] (+)= sum_k x[i, k] * w[j, k] for i < m, j in [j_begin, j_end).
   x is [m, k] row-major (ldx = k), w is [n, k] row-major (a Hugging Face
   linear weight), y is [m, ldy]. Meant for up to a few dozen rows (decoding a
   batch): the weight streams through the cache once, where a general GEMM
   would first pack it. Returns 0 when no vector kernel suits this CPU (the
   caller then uses BLAS), 1 when done. */
int wb_skinny_gemm_nt(int m, int k, int j_begin, int j_end,
                      const float *x, const float *w, float *y, int ldy, int accumulate);

/* The same with the instruction set named, for tests and benchmarks of each
   kernel on a CPU that has both; returns 0 when the CPU lacks it. */
enum { WB_SKINNY_AVX2 = 1, WB_SKINNY_AVX512 = 2 };
int wb_skinny_gemm_nt_isa(int isa, int m, int k, int j_begin, int j_end,
                          const float *x, const float *w, float *y, int ldy, int accumulate);

#endif
