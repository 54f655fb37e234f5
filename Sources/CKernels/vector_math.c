#include "vector_math.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include "exp512.h"
#include "exp256.h"

__attribute__((target("avx512f")))
static float exp_shifted_sum_avx512(float *x, size_t n, float shift) {
    const __m512 s = _mm512_set1_ps(shift);
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
        _mm512_storeu_ps(x + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s));
        _mm512_mask_storeu_ps(x + i, m, e);
        acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(m, e));
    }
    return _mm512_reduce_add_ps(acc);
}

__attribute__((target("avx512f")))
static void silu_mul_avx512(float *gate, const float *up, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
        __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, e));
        _mm512_storeu_ps(gate + i, _mm512_mul_ps(silu, _mm512_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
__attribute__((target("avx512f")))
static void silu_mul_backward_avx512(const float *gate, const float *up, const float *d_act,
                                     float *d_gate, float *d_up, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i), u = _mm512_loadu_ps(up + i), da = _mm512_loadu_ps(d_act + i);
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        _mm512_storeu_ps(d_up + i, _mm512_mul_ps(da, _mm512_mul_ps(g, s)));
        __m512 t = _mm512_fmadd_ps(g, _mm512_sub_ps(one, s), one);
        _mm512_storeu_ps(d_gate + i, _mm512_mul_ps(_mm512_mul_ps(da, u), _mm512_mul_ps(s, t)));
    }
    for (; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-gate[i]));
        d_up[i] = d_act[i] * gate[i] * s;
        d_gate[i] = d_act[i] * up[i] * s * (1.0f + gate[i] * (1.0f - s));
    }
}

__attribute__((target("avx512f")))
static double sum_squares_avx512(const float *x, size_t n) {
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        a0 = _mm512_fmadd_pd(lo, lo, a0);
        a1 = _mm512_fmadd_pd(hi, hi, a1);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    for (; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* The AVX2 twins of the functions above, for CPUs without AVX-512. */
__attribute__((target("avx2,fma")))
static float exp_shifted_sum_avx2(float *x, size_t n, float shift) {
    const __m256 s = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float sum = _mm_cvtss_f32(h);
    for (; i < n; i++) { x[i] = expf(x[i] - shift); sum += x[i]; }
    return sum;
}

__attribute__((target("avx2,fma")))
static void silu_mul_avx2(float *gate, const float *up, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

__attribute__((target("avx2,fma")))
static void silu_mul_backward_avx2(const float *gate, const float *up, const float *d_act,
                                   float *d_gate, float *d_up, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i), da = _mm256_loadu_ps(d_act + i);
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        _mm256_storeu_ps(d_up + i, _mm256_mul_ps(da, _mm256_mul_ps(g, s)));
        __m256 t = _mm256_fmadd_ps(g, _mm256_sub_ps(one, s), one);
        _mm256_storeu_ps(d_gate + i, _mm256_mul_ps(_mm256_mul_ps(da, u), _mm256_mul_ps(s, t)));
    }
    for (; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-gate[i]));
        d_up[i] = d_act[i] * gate[i] * s;
        d_gate[i] = d_act[i] * up[i] * s * (1.0f + gate[i] * (1.0f - s));
    }
}
#endif

/* The widest instruction set the functions below may use (tests lower it). */
static int isa_limit = WB_ISA_AVX512;

int wb_vector_math_limit_isa(int isa) {
    int previous = isa_limit;
    isa_limit = isa;
    return previous;
}

static int use_avx512(void) {
#if defined(__x86_64__)
    return isa_limit >= WB_ISA_AVX512 && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

static int use_avx2(void) {
#if defined(__x86_64__)
    return isa_limit >= WB_ISA_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

void wb_silu_mul_backward(const float *gate, const float *up, const float *d_act,
                          float *d_gate, float *d_up, size_t n) {
#if defined(__x86_64__)
    if (use_avx512()) { silu_mul_backward_avx512(gate, up, d_act, d_gate, d_up, n); return; }
    if (use_avx2()) { silu_mul_backward_avx2(gate, up, d_act, d_gate, d_up, n); return; }
#endif
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-gate[i]));
        d_up[i] = d_act[i] * gate[i] * s;
        d_gate[i] = d_act[i] * up[i] * s * (1.0f + gate[i] * (1.0f - s));
    }
}

double wb_sum_squares(const float *x, size_t n) {
#if defined(__x86_64__)
    if (use_avx512()) return sum_squares_avx512(x, n);
#endif
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

float wb_exp_shifted_sum(float *x, size_t n, float shift) {
#if defined(__x86_64__)
    if (use_avx512()) return exp_shifted_sum_avx512(x, n, shift);
    if (use_avx2()) return exp_shifted_sum_avx2(x, n, shift);
#endif
    float sum = 0;
    for (size_t i = 0; i < n; i++) { x[i] = expf(x[i] - shift); sum += x[i]; }
    return sum;
}

void wb_silu_mul(float *gate, const float *up, size_t n) {
#if defined(__x86_64__)
    if (use_avx512()) { silu_mul_avx512(gate, up, n); return; }
    if (use_avx2()) { silu_mul_avx2(gate, up, n); return; }
#endif
    for (size_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
