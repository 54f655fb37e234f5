#ifndef WORKBENCH_EXP512_H
#define WORKBENCH_EXP512_H
/* Internal: the AVX-512 exponential shared by the kernels of this target. */
#if defined(__x86_64__)
#include <immintrin.h>

/* exp(x) = 2^k * e^r with k = round(x / ln 2), r = x - k ln 2 (ln 2 split in a
   high and a low part so r is exact), e^r by its Taylor polynomial to degree 6
   (|r| <= ln2 / 2: truncation error < 2e-7 relative). */
__attribute__((target("avx512f")))
static inline __m512 exp512(__m512 x) {
    const __m512 lo_limit = _mm512_set1_ps(-87.0f);
    __mmask16 underflow = _mm512_cmp_ps_mask(x, lo_limit, _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo_limit), _mm512_set1_ps(88.0f));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512 result = _mm512_scalef_ps(p, k);
    return _mm512_maskz_mov_ps(~underflow, result);
}

#endif
#endif
