#ifndef WORKBENCH_ROW_STATISTICS_H
#define WORKBENCH_ROW_STATISTICS_H

#include <stddef.h>

/* Softmax statistics of one row of logits x[0..n), without forming the
   probabilities. With m = max x and e_i = exp(x_i - m):
     out[0] = m
     out[1] = s  = sum e_i                      (log Z = m + log s)
     out[2] = w  = sum e_i (x_i - m)            (entropy = log s - w / s)
     out[3] = dp = sum p_i (x_i - m)            only when p != NULL (else 0):
              the cross term of KL(p || softmax x) = sum p log p - dp + log s.
   Sums are accumulated in double. */
void wb_softmax_row_stats(const float *x, size_t n, const float *p, double out[4]);

/* The k largest entries of x[0..n) (ties: lower index first), largest first.
   ids and values have room for k entries; returns how many were written (min(k, n)). */
int wb_top_k(const float *x, size_t n, int k, int *ids, float *values);

#endif
