#ifndef WORKBENCH_VECTOR_MATH_H
#define WORKBENCH_VECTOR_MATH_H

#include <stddef.h>

/* x[i] <- exp(x[i] - shift) for i < n; returns the sum of the results.
   Relative error below 2e-7 (range reduction by ln 2 and a degree-6
   polynomial); inputs below -87 give exactly 0. */
float wb_exp_shifted_sum(float *x, size_t n, float shift);

/* gate[i] <- gate[i] / (1 + exp(-gate[i])) * up[i]  (SwiGLU). */
void wb_silu_mul(float *gate, const float *up, size_t n);

/* SwiGLU backward for act = silu(g) * u, given d_act:
   d_u = d_act * silu(g);  d_g = d_act * u * s * (1 + g * (1 - s)),  s = sigmoid(g). */
void wb_silu_mul_backward(const float *gate, const float *up, const float *d_act,
                          float *d_gate, float *d_up, size_t n);

/* Sum of squares, accumulated in double. */
double wb_sum_squares(const float *x, size_t n);

/* The functions above use AVX-512 where the CPU has it, else AVX2 + FMA, else
   scalar code. Tests lower the limit to check each path on one CPU; returns the
   previous limit. */
enum { WB_ISA_SCALAR = 0, WB_ISA_AVX2 = 1, WB_ISA_AVX512 = 2 };
int wb_vector_math_limit_isa(int isa);

#endif
