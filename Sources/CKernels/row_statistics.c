#include "row_statistics.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include "exp512.h"

__attribute__((target("avx512f")))
static float max_avx512(const float *x, size_t n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    float r = _mm512_reduce_max_ps(m);
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

/* Adds the 16 float lanes of v into two double accumulators. */
__attribute__((target("avx512f")))
static inline void accumulate_pd(__m512 v, __m512d *lo, __m512d *hi) {
    *lo = _mm512_add_pd(*lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    *hi = _mm512_add_pd(*hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

__attribute__((target("avx512f")))
static void row_stats_avx512(const float *x, size_t n, const float *p, double out[4]) {
    const float m = max_avx512(x, n);
    const __m512 mv = _mm512_set1_ps(m);
    __m512d s_lo = _mm512_setzero_pd(), s_hi = _mm512_setzero_pd();
    __m512d w_lo = _mm512_setzero_pd(), w_hi = _mm512_setzero_pd();
    __m512d d_lo = _mm512_setzero_pd(), d_hi = _mm512_setzero_pd();
    size_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 mask = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        /* Masked-off lanes read as m: shifted value 0, and are zeroed below. */
        __m512 shifted = _mm512_sub_ps(_mm512_mask_loadu_ps(mv, mask, x + i), mv);
        __m512 e = _mm512_maskz_mov_ps(mask, exp512(shifted));
        accumulate_pd(e, &s_lo, &s_hi);
        accumulate_pd(_mm512_mul_ps(e, shifted), &w_lo, &w_hi);
        if (p) accumulate_pd(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, p + i), shifted), &d_lo, &d_hi);
    }
    out[0] = m;
    out[1] = _mm512_reduce_add_pd(_mm512_add_pd(s_lo, s_hi));
    out[2] = _mm512_reduce_add_pd(_mm512_add_pd(w_lo, w_hi));
    out[3] = p ? _mm512_reduce_add_pd(_mm512_add_pd(d_lo, d_hi)) : 0;
}

/* Skips 16 values at a time while none beats the current k-th best. */
__attribute__((target("avx512f")))
static size_t next_candidate_avx512(const float *x, size_t i, size_t n, float threshold) {
    const __m512 t = _mm512_set1_ps(threshold);
    for (; i + 16 <= n; i += 16) {
        __mmask16 hit = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), t, _CMP_GT_OQ);
        if (hit) return i + (size_t)__builtin_ctz(hit);
    }
    for (; i < n; i++) if (x[i] > threshold) return i;
    return n;
}
#endif

void wb_softmax_row_stats(const float *x, size_t n, const float *p, double out[4]) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) { row_stats_avx512(x, n, p, out); return; }
#endif
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    double s = 0, w = 0, dp = 0;
    for (size_t i = 0; i < n; i++) {
        double shifted = (double)x[i] - m, e = exp(shifted);
        s += e; w += e * shifted;
        if (p) dp += (double)p[i] * shifted;
    }
    out[0] = m; out[1] = s; out[2] = w; out[3] = dp;
}

static size_t next_candidate(const float *x, size_t i, size_t n, float threshold) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) return next_candidate_avx512(x, i, n, threshold);
#endif
    for (; i < n; i++) if (x[i] > threshold) return i;
    return n;
}

int wb_top_k(const float *x, size_t n, int k, int *ids, float *values) {
    int count = 0;
    if (k <= 0) return 0;
    /* Fill with the first k entries (insertion keeps them sorted, ties by index). */
    size_t i = 0;
    for (; i < n && count < k; i++) {
        int pos = count;
        while (pos > 0 && values[pos - 1] < x[i]) { values[pos] = values[pos - 1]; ids[pos] = ids[pos - 1]; pos--; }
        values[pos] = x[i]; ids[pos] = (int)i; count++;
    }
    if (count < k) return count;   /* fewer entries than k: all of them, sorted */
    /* A later entry enters only when strictly larger than the k-th best (ties keep the lower index). */
    while ((i = next_candidate(x, i, n, values[k - 1])) < n) {
        int pos = k - 1;
        while (pos > 0 && values[pos - 1] < x[i]) { values[pos] = values[pos - 1]; ids[pos] = ids[pos - 1]; pos--; }
        values[pos] = x[i]; ids[pos] = (int)i;
        i++;
    }
    return count;
}
