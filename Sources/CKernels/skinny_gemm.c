#include "skinny_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma")))
static inline __m128 sum4_256(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    /* Horizontal adds pair the lanes up until each 128-bit half holds a partial
       sum of each input; adding the halves gives the four sums in order. */
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* y[0..4) (+)= the four sums; the lanes of a 4-wide store lie side by side in a row of y. */
__attribute__((target("avx2,fma")))
static inline void store4(float *y, __m128 sums, int accumulate) {
    _mm_storeu_ps(y, accumulate ? _mm_add_ps(_mm_loadu_ps(y), sums) : sums);
}

__attribute__((target("avx512f")))
static inline __m256 fold512(__m512 a) {
    return _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
}

/* The sums of four accumulators at once: a few shuffles and adds for all four,
   where reducing each alone costs about as many for one. */
__attribute__((target("avx512f,avx2,fma")))
static inline void store_row4(float *y, __m512 a0, __m512 a1, __m512 a2, __m512 a3, int accumulate) {
    store4(y, sum4_256(fold512(a0), fold512(a1), fold512(a2), fold512(a3)), accumulate);
}

/* Register block of 4 input rows x 4 weight rows: 16 accumulators, and 8
   loads feed 16 FMAs. The four weight rows (4 * k floats) stay in L1 while
   the blocks of input rows pass over them, so each weight is read from memory
   once. */
__attribute__((target("avx512f,avx2,fma")))
static void tile_4x4(int k, const float *x, const float *w0, float *y, int ldy, int accumulate) {
    const int kv = k & ~15;
    const __mmask16 tail = (__mmask16)((1u << (k - kv)) - 1u);
    const float *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
    const float *x0 = x, *x1 = x0 + k, *x2 = x1 + k, *x3 = x2 + k;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    /* One step of 16 columns; LOAD is an unmasked or a tail-masked load. */
#define WB_TILE_STEP(LOAD) do { \
        __m512 b0 = LOAD(w0 + p), b1 = LOAD(w1 + p), b2 = LOAD(w2 + p), b3 = LOAD(w3 + p); \
        __m512 a; \
        a = LOAD(x0 + p); \
        c00 = _mm512_fmadd_ps(a, b0, c00); c01 = _mm512_fmadd_ps(a, b1, c01); \
        c02 = _mm512_fmadd_ps(a, b2, c02); c03 = _mm512_fmadd_ps(a, b3, c03); \
        a = LOAD(x1 + p); \
        c10 = _mm512_fmadd_ps(a, b0, c10); c11 = _mm512_fmadd_ps(a, b1, c11); \
        c12 = _mm512_fmadd_ps(a, b2, c12); c13 = _mm512_fmadd_ps(a, b3, c13); \
        a = LOAD(x2 + p); \
        c20 = _mm512_fmadd_ps(a, b0, c20); c21 = _mm512_fmadd_ps(a, b1, c21); \
        c22 = _mm512_fmadd_ps(a, b2, c22); c23 = _mm512_fmadd_ps(a, b3, c23); \
        a = LOAD(x3 + p); \
        c30 = _mm512_fmadd_ps(a, b0, c30); c31 = _mm512_fmadd_ps(a, b1, c31); \
        c32 = _mm512_fmadd_ps(a, b2, c32); c33 = _mm512_fmadd_ps(a, b3, c33); \
    } while (0)
#define WB_FULL_LOAD(ptr) _mm512_loadu_ps(ptr)
#define WB_TAIL_LOAD(ptr) _mm512_maskz_loadu_ps(tail, ptr)
    /* Ask for the next block of four weight rows (4 * k floats ahead) while this
       one is used: the hardware prefetchers alone keep too few lines in flight
       for this access pattern (measured: about 1.5x more weight bandwidth). */
    const float *ahead = w0 + 4 * (size_t)k;
    int p = 0;
    for (; p < kv; p += 16) {
        _mm_prefetch((const char *)(ahead + p), _MM_HINT_T1);
        _mm_prefetch((const char *)(ahead + k + p), _MM_HINT_T1);
        _mm_prefetch((const char *)(ahead + 2 * k + p), _MM_HINT_T1);
        _mm_prefetch((const char *)(ahead + 3 * k + p), _MM_HINT_T1);
        WB_TILE_STEP(WB_FULL_LOAD);
    }
    if (tail) WB_TILE_STEP(WB_TAIL_LOAD);
#undef WB_TILE_STEP
#undef WB_FULL_LOAD
#undef WB_TAIL_LOAD
    store_row4(y, c00, c01, c02, c03, accumulate);
    store_row4(y + ldy, c10, c11, c12, c13, accumulate);
    store_row4(y + 2 * (size_t)ldy, c20, c21, c22, c23, accumulate);
    store_row4(y + 3 * (size_t)ldy, c30, c31, c32, c33, accumulate);
}

/* One input row against one weight row: the columns the tiles leave (n not a multiple of
   the tile width: 4, or 3 for AVX2). */
__attribute__((target("avx512f")))
static float dot_avx512(int k, const float *a, const float *b) {
    const int kv = k & ~15;
    const __mmask16 tail = (__mmask16)((1u << (k - kv)) - 1u);
    __m512 acc = _mm512_setzero_ps();
    for (int p = 0; p < kv; p += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + p), _mm512_loadu_ps(b + p), acc);
    if (tail)
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a + kv), _mm512_maskz_loadu_ps(tail, b + kv), acc);
    return _mm512_reduce_add_ps(acc);
}

/* One input row against four weight rows: the rows a 4-row tile leaves (a batch
   whose size is not a multiple of 4, a group of 3 query heads). Five loads feed
   four FMAs, and the four sums share one reduction. */
__attribute__((target("avx512f,avx2,fma")))
static void row_1x4(int k, const float *x, const float *w0, float *y, int accumulate) {
    const int kv = k & ~15;
    const __mmask16 tail = (__mmask16)((1u << (k - kv)) - 1u);
    const float *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    int p = 0;
    for (; p < kv; p += 16) {
        const __m512 a = _mm512_loadu_ps(x + p);
        c0 = _mm512_fmadd_ps(a, _mm512_loadu_ps(w0 + p), c0);
        c1 = _mm512_fmadd_ps(a, _mm512_loadu_ps(w1 + p), c1);
        c2 = _mm512_fmadd_ps(a, _mm512_loadu_ps(w2 + p), c2);
        c3 = _mm512_fmadd_ps(a, _mm512_loadu_ps(w3 + p), c3);
    }
    if (tail) {
        const __m512 a = _mm512_maskz_loadu_ps(tail, x + p);
        c0 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(tail, w0 + p), c0);
        c1 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(tail, w1 + p), c1);
        c2 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(tail, w2 + p), c2);
        c3 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(tail, w3 + p), c3);
    }
    store_row4(y, c0, c1, c2, c3, accumulate);
}

/* The blocking both vector kernels share. Rows come in blocks small enough to
   stay in L2 while 4 (or 3) weight rows at a time pass over them from L1, and
   the weight columns in panels that stay in L2 across the row blocks, so each
   weight is read from memory once however many rows there are, and nothing is
   packed (a general GEMM copies the whole weight first, which costs more than
   the product itself below a few dozen rows). */
typedef void (*wb_tile_fn)(int k, const float *x, const float *w, float *y, int ldy, int accumulate);
typedef float (*wb_dot_fn)(int k, const float *a, const float *b);
typedef void (*wb_row_fn)(int k, const float *x, const float *w, float *y, int accumulate);

static inline int wb_round_down(int value, int multiple, int at_least) {
    int r = value / multiple * multiple;
    return r < at_least ? at_least : r;
}

static void skinny_blocked(int m, int k, int j_begin, int j_end, const float *x, const float *w,
                           float *y, int ldy, int accumulate, int tile_w, wb_tile_fn tile, wb_row_fn row, wb_dot_fn dot) {
    const size_t row_bytes = (size_t)k * sizeof(float);
    const int row_block = wb_round_down((int)((96u << 10) / row_bytes), 4, 4);
    const int panel = wb_round_down((int)((128u << 10) / row_bytes), tile_w, tile_w);
    for (int jp = j_begin; jp < j_end; jp += panel) {
        const int jp_end = jp + panel < j_end ? jp + panel : j_end;
        for (int ib = 0; ib < m; ib += row_block) {
            const int ib_end = ib + row_block < m ? ib + row_block : m;
            const int ib4 = ib + (ib_end - ib) / 4 * 4;
            int j = jp;
            for (; j + tile_w <= jp_end; j += tile_w) {
                const float *wj = w + (size_t)j * k;
                for (int i = ib; i < ib4; i += 4)
                    tile(k, x + (size_t)i * k, wj, y + (size_t)i * ldy + j, ldy, accumulate);
                for (int i = ib4; i < ib_end; i++)
                    row(k, x + (size_t)i * k, wj, y + (size_t)i * ldy + j, accumulate);
            }
            for (; j < jp_end; j++)
                for (int i = ib; i < ib_end; i++) {
                    float v = dot(k, x + (size_t)i * k, w + (size_t)j * k);
                    float *d = y + (size_t)i * ldy + j;
                    *d = accumulate ? *d + v : v;
                }
        }
    }
}

__attribute__((target("avx2,fma")))
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* Lanes below `count` set: the mask of a tail load of `count` < 8 floats. */
__attribute__((target("avx2,fma")))
static inline __m256i tail_mask256(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* y[0..3) (+)= the first three of `sums` (the fourth lane, a copy, is not stored). */
__attribute__((target("avx2,fma")))
static inline void store3(float *y, __m128 sums, int accumulate) {
    const __m128i first3 = _mm_setr_epi32(-1, -1, -1, 0);
    _mm_maskstore_ps(y, first3, accumulate ? _mm_add_ps(_mm_maskload_ps(y, first3), sums) : sums);
}

/* AVX2 register block of 4 input rows x 3 weight rows: 12 accumulators, 3
   weight and 1 input register fill the 16 ymm registers; 7 loads feed 12 FMAs. */
__attribute__((target("avx2,fma")))
static void tile_4x3_avx2(int k, const float *x, const float *w0, float *y, int ldy, int accumulate) {
    const int kv = k & ~7;
    const __m256i tail = tail_mask256(k - kv);
    const float *w1 = w0 + k, *w2 = w1 + k;
    const float *x0 = x, *x1 = x0 + k, *x2 = x1 + k, *x3 = x2 + k;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
#define WB_STEP(LOAD) do { \
        __m256 b0 = LOAD(w0 + p), b1 = LOAD(w1 + p), b2 = LOAD(w2 + p), a; \
        a = LOAD(x0 + p); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01); c02 = _mm256_fmadd_ps(a, b2, c02); \
        a = LOAD(x1 + p); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11); c12 = _mm256_fmadd_ps(a, b2, c12); \
        a = LOAD(x2 + p); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21); c22 = _mm256_fmadd_ps(a, b2, c22); \
        a = LOAD(x3 + p); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31); c32 = _mm256_fmadd_ps(a, b2, c32); \
    } while (0)
#define WB_FULL_LOAD(ptr) _mm256_loadu_ps(ptr)
#define WB_TAIL_LOAD(ptr) _mm256_maskload_ps(ptr, tail)
    const float *ahead = w0 + 3 * (size_t)k;   /* the next tile's weight rows (see tile_4x4) */
    int p = 0;
    for (; p < kv; p += 8) {
        if ((p & 15) == 0) {
            _mm_prefetch((const char *)(ahead + p), _MM_HINT_T1);
            _mm_prefetch((const char *)(ahead + k + p), _MM_HINT_T1);
            _mm_prefetch((const char *)(ahead + 2 * k + p), _MM_HINT_T1);
        }
        WB_STEP(WB_FULL_LOAD);
    }
    if (kv < k) WB_STEP(WB_TAIL_LOAD);
#undef WB_STEP
#undef WB_FULL_LOAD
#undef WB_TAIL_LOAD
    store3(y, sum4_256(c00, c01, c02, c02), accumulate);
    store3(y + ldy, sum4_256(c10, c11, c12, c12), accumulate);
    store3(y + 2 * (size_t)ldy, sum4_256(c20, c21, c22, c22), accumulate);
    store3(y + 3 * (size_t)ldy, sum4_256(c30, c31, c32, c32), accumulate);
}

/* One input row against three weight rows (see row_1x4). */
__attribute__((target("avx2,fma")))
static void row_1x3_avx2(int k, const float *x, const float *w0, float *y, int accumulate) {
    const int kv = k & ~7;
    const float *w1 = w0 + k, *w2 = w1 + k;
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0;
    int p = 0;
    for (; p < kv; p += 8) {
        const __m256 a = _mm256_loadu_ps(x + p);
        c0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(w0 + p), c0);
        c1 = _mm256_fmadd_ps(a, _mm256_loadu_ps(w1 + p), c1);
        c2 = _mm256_fmadd_ps(a, _mm256_loadu_ps(w2 + p), c2);
    }
    if (kv < k) {
        const __m256i tail = tail_mask256(k - kv);
        const __m256 a = _mm256_maskload_ps(x + p, tail);
        c0 = _mm256_fmadd_ps(a, _mm256_maskload_ps(w0 + p, tail), c0);
        c1 = _mm256_fmadd_ps(a, _mm256_maskload_ps(w1 + p, tail), c1);
        c2 = _mm256_fmadd_ps(a, _mm256_maskload_ps(w2 + p, tail), c2);
    }
    store3(y, sum4_256(c0, c1, c2, c2), accumulate);
}

__attribute__((target("avx2,fma")))
static float dot_avx2(int k, const float *a, const float *b) {
    const int kv = k & ~7;
    __m256 acc = _mm256_setzero_ps();
    for (int p = 0; p < kv; p += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), acc);
    if (kv < k) {
        const __m256i tail = tail_mask256(k - kv);
        acc = _mm256_fmadd_ps(_mm256_maskload_ps(a + kv, tail), _mm256_maskload_ps(b + kv, tail), acc);
    }
    return hsum256(acc);
}
#endif

int wb_skinny_gemm_nt_isa(int isa, int m, int k, int j_begin, int j_end,
                          const float *x, const float *w, float *y, int ldy, int accumulate) {
#if defined(__x86_64__)
    if (isa == WB_SKINNY_AVX512 && __builtin_cpu_supports("avx512f")) {
        skinny_blocked(m, k, j_begin, j_end, x, w, y, ldy, accumulate, 4, tile_4x4, row_1x4, dot_avx512);
        return 1;
    }
    if (isa == WB_SKINNY_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        skinny_blocked(m, k, j_begin, j_end, x, w, y, ldy, accumulate, 3, tile_4x3_avx2, row_1x3_avx2, dot_avx2);
        return 1;
    }
#endif
    (void)isa; (void)m; (void)k; (void)j_begin; (void)j_end; (void)x; (void)w; (void)y; (void)ldy; (void)accumulate;
    return 0;
}

int wb_skinny_gemm_nt(int m, int k, int j_begin, int j_end,
                      const float *x, const float *w, float *y, int ldy, int accumulate) {
    return wb_skinny_gemm_nt_isa(WB_SKINNY_AVX512, m, k, j_begin, j_end, x, w, y, ldy, accumulate)
        || wb_skinny_gemm_nt_isa(WB_SKINNY_AVX2, m, k, j_begin, j_end, x, w, y, ldy, accumulate);
}
