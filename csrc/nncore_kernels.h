/* Small-matrix products for the core, in the "broadcast" form

       C[p, 0:N] = alpha * sum_q S'(p, q) * R[q*ldr + 0:N]  (+ beta * C[p, 0:N])

   for p < P, q < Q, where S' is read through row pointers: S'(p, q) =
   rows[p][q] (by_q = 0: S' = A) or rows[q][p] (by_q = 1: S' = A^T).  So
   the same kernel computes A.B and A^T.B without a transpose or a copy,
   and A's rows may lie anywhere: the first layer's products read a
   mini-batch's inputs where they are in the training set.  Every product of the backward pass has this form,
   and so has the forward pass of a layer whose weights are held transposed.

   A register tile of rows of C by up to 4 vectors (32 doubles or 64
   floats) accumulates over a block of q; the last vector of a row is
   masked, so any N works without reading or writing past the row.  BLAS
   packs both operands before each call, which costs as much as the
   arithmetic when one dimension is a few dozen: these kernels read the
   operands where they lie.

   For S' = A, the rows of the next tile are fetched into cache while a
   tile runs, a cache line every LANES steps of q: the first layer's rows
   lie scattered over the training set, and each would otherwise start
   with a miss to memory.

   They need AVX-512F; nncore_kernels_available() says whether this CPU
   (and its operating system) has it.  Elsewhere the caller uses BLAS.
   beta == 0 never reads C, so C may start uninitialized. */
#ifndef NNCORE_KERNELS_H
#define NNCORE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Rows to fetch into cache while a product runs: the next mini-batch's
   inputs, during this one's weight gradient, so that its scan for zeros
   and its forward product find them in cache rather than in memory.  The
   tiles that read S' by q fetch one line each mask + 1 steps of q (a power
   of two), row after row (`lines` a row, from the line that holds its
   start); row and line are the cursor. */
typedef struct {
    const void *const *rows;
    ptrdiff_t n_rows, lines, mask, row, line, per;
    int low;
} nncore_fetch;

/* Where a product's C is one column block (N within 4 vectors: 784-30-10's
   layer 1), its steps are short and fewer than the lines of the rows to
   fetch: one line a step fetched 60 % of a chunk's rows (784-30-10, mini-
   batch 1000, float64), and more lines a step into L1 took the epoch 1.10-
   1.13x the time, the lines evicting the C rows the tiles work on.  There
   the lines are fetched into L2 only (prefetcht2), as many a step as it
   takes to fetch them all (per): 784-30-10 at mini-batch 1000 0.95-0.96x,
   at 100 0.92-0.98x (epochs alternated in one process); wider, into L2
   took 784-100-10 at 1000 in float64 1.05x and 784-800-10 at 100 1.03x,
   so they keep the fetch of one line a step into L1.  fetch_low turns it
   off (benchmarks). */
static int fetch_low = 1;

/* Whether the fused step of a mini-batch of one takes wide rows of W in
   groups of columns (see NNCORE_SF_GROUP; benchmarks). */
static int wide_groups = 1;

/* Whether the fused step's groups of columns load and store a row's last,
   partial vector whole where the row's stride holds it (ldw lanes): the
   lanes from N to ldw are then padding, zero, and stay zero (zero times
   the masked-loaded zeros of D; NaN if an input is not finite, where the
   real lanes are not finite too), and no lane of W is summed into
   another.  Every caller passes rows whose lanes past N up to ldw are
   such padding (layer 1's working copy, see working_copy), or ldw = N.
   Masked stores are slow here: the epoch at mini-batch 1, 784-30-10 in
   float32 (30 of 32 lanes), took 0.94x the time, 784-100-10 0.95x; in
   float64 0.98x and 1.00x.  Benchmarks turn it off. */
static int unmasked_rows = 1;

static inline ptrdiff_t nncore_fetch_plan(nncore_fetch *f, ptrdiff_t steps,
                                          int one_block) {
    ptrdiff_t total = f->n_rows * f->lines;
    f->row = f->line = 0;
    for (f->mask = 0; total > 0 && 2 * (f->mask + 1) * total <= steps;)
        f->mask = 2 * f->mask + 1;
    f->low = one_block && fetch_low;
    f->per = f->low && steps > 0 && total > steps ? (total + steps - 1) / steps : 1;
    return f->mask;
}

/* Lines of a column block of C's rows (a row every `stride` bytes from
   base, `lines` lines each) to fetch while the block before it runs (see
   nncore_gradient_tiles); block_fetch turns it off (benchmarks). */
typedef struct {
    const char *base;
    ptrdiff_t stride, n_rows, lines, mask, row, line;
} nncore_block_fetch;

static int block_fetch = 1;

static inline void nncore_block_fetch_line(nncore_block_fetch *f) {
    if (f->row < f->n_rows) {
        __builtin_prefetch(f->base + f->row * f->stride + 64 * f->line, 1, 3);
        if (++f->line == f->lines) { f->line = 0; f->row++; }
    }
}

static inline void nncore_fetch_line(nncore_fetch *f) {
    for (ptrdiff_t k = 0; k < f->per && f->row < f->n_rows; k++) {
        const char *a = (const char *) ((size_t) f->rows[f->row] & ~(size_t) 63)
                        + 64 * f->line;
        if (f->low)
            __builtin_prefetch(a, 0, 1);
        else
            __builtin_prefetch(a, 0, 3);
        if (++f->line == f->lines) { f->line = 0; f->row++; }
    }
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(NNCORE_NO_KERNELS)
#define NNCORE_HAVE_KERNELS 1
#include <immintrin.h>

static int nncore_kernels_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}

#define NNCORE_TARGET __attribute__((target("avx512f,fma")))

/* Rows of S per block of q: a block of S and of R stays in L1/L2 while
   the tiles of one block run. */
#define NNCORE_QBLOCK 128

/* One tile: PR rows by NV vectors, over qn values of q; the "qi" and "pi"
   variants take indices from idx (see nncore_bcast). */
#define NNCORE_TILE(T, V, MASK, SFX, LANES, PR, NV)                              \
    NNCORE_TILE_BY(T, V, MASK, SFX, LANES, PR, NV, p, 0, 0, 0)                   \
    NNCORE_TILE_BY(T, V, MASK, SFX, LANES, PR, NV, q, 1, 0, 0)                   \
    NNCORE_TILE_BY(T, V, MASK, SFX, LANES, PR, NV, qi, 1, 1, 0)                  \
    NNCORE_TILE_BY(T, V, MASK, SFX, LANES, PR, NV, pi, 0, 0, 1)

/* S'(p, q) is rows[p][off + q] (BY = p) or rows[q][off + p] (BY = q); with
   IDX (BY = q only), p stands for idx[p]: S'(idx[p], q), C's row idx[p];
   with QIDX (BY = p only), q stands for idx[q]: S'(p, idx[q]) times R's
   row idx[q]. */
#define NNCORE_TILE_BY(T, V, MASK, SFX, LANES, PR, NV, BY, BYQ, IDX, QIDX)       \
NNCORE_TARGET static void                                                        \
nncore_tile_##SFX##_##BY##_##PR##_##NV(ptrdiff_t qn, const T *const *rows,       \
        ptrdiff_t off, const T *R, ptrdiff_t ldr, T *C, ptrdiff_t ldc,           \
        MASK last, T alpha, T beta, int first, const T *const *ahead,            \
        int n_ahead, const int *idx, nncore_fetch *fetch) {                      \
    /* a small tile keeps K sums of alternate q, so that K * PR * NV     \
       chains of multiply-adds hide the instruction's latency */         \
    enum { K = PR * NV <= 2 ? 4 : PR * NV <= 6 ? 2 : 1 };                        \
    V acc[K][PR][NV];                                                            \
    const T *rp[PR];                                                             \
    ptrdiff_t pi[PR];                                                            \
    ptrdiff_t q = 0;                                                             \
    /* (qk & f_mask) == f_mask never holds without a fetch */             \
    const ptrdiff_t f_mask = BYQ && fetch ? fetch->mask : -1;                    \
    _Pragma("GCC unroll 16") for (int p = 0; p < PR; p++)                        \
        pi[p] = IDX ? idx[p] : p;                                                \
    if (!BYQ) {                                                                  \
        _Pragma("GCC unroll 16") for (int p = 0; p < PR; p++)                    \
            rp[p] = rows[p] + off;                                               \
    }                                                                            \
    _Pragma("GCC unroll 16") for (int k = 0; k < K; k++)                          \
    _Pragma("GCC unroll 16") for (int p = 0; p < PR; p++)                         \
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                         \
        acc[k][p][v] = NNCORE_ZERO_##SFX();                                      \
    for (; q < qn; q += K) {                                                     \
        int kn = qn - q < K ? (int) (qn - q) : K;                                \
        _Pragma("GCC unroll 4") for (int k = 0; k < K; k++) {                    \
            V r[NV];                                                             \
            ptrdiff_t qk = q + k;                                                \
            ptrdiff_t qx;                                                        \
            const T *sq;                                                         \
            if (k >= kn) break;                                                  \
            qx = QIDX ? (ptrdiff_t) idx[qk] : qk;                                \
            sq = BYQ ? rows[qk] + off : (const T *) 0;                           \
            /* the next tile's rows of S, a cache line each LANES steps (of   \
               the list: each LANES / 2, as its steps skip) */               \
            if (!BYQ && (qk & (QIDX ? LANES / 2 - 1 : LANES - 1)) == 0)          \
                for (int a = 0; a < n_ahead; a++)                                \
                    __builtin_prefetch(ahead[a] + off + qx, 0, 3);               \
            if (BYQ && (qk & f_mask) == f_mask)                                  \
                nncore_fetch_line(fetch);                                        \
            _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                 \
                r[v] = (v == NV - 1)                                             \
                    ? NNCORE_MLOAD_##SFX(last, R + qx * ldr + LANES * v)         \
                    : NNCORE_LOAD_##SFX(R + qx * ldr + LANES * v);               \
            _Pragma("GCC unroll 16") for (int p = 0; p < PR; p++) {               \
                V s = NNCORE_SET1_##SFX(BYQ ? sq[pi[p]] : rp[p][qx]);            \
                _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)             \
                    acc[k][p][v] = NNCORE_FMA_##SFX(s, r[v], acc[k][p][v]);      \
            }                                                                    \
        }                                                                        \
    }                                                                            \
    _Pragma("GCC unroll 4") for (int k = 1; k < K; k++)                          \
    _Pragma("GCC unroll 16") for (int p = 0; p < PR; p++)                         \
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                         \
        acc[0][p][v] = NNCORE_ADD_##SFX(acc[0][p][v], acc[k][p][v]);            \
    V va = NNCORE_SET1_##SFX(alpha), vb = NNCORE_SET1_##SFX(beta);               \
    _Pragma("GCC unroll 16") for (int p = 0; p < PR; p++)                         \
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) {                       \
        MASK mk = (v == NV - 1) ? last : (MASK) ~(MASK) 0;                       \
        T *c = C + pi[p] * ldc + LANES * v;                                      \
        V x = NNCORE_MUL_##SFX(va, acc[0][p][v]);                                \
        if (!first)                                                              \
            x = NNCORE_ADD_##SFX(x, NNCORE_MLOAD_##SFX(mk, c));                  \
        else if (beta != 0)                                                      \
            x = NNCORE_FMA_##SFX(vb, NNCORE_MLOAD_##SFX(mk, c), x);              \
        NNCORE_MSTORE_##SFX(c, mk, x);                                           \
    }                                                                            \
}

typedef void (*nncore_tile_d_fn)(ptrdiff_t, const double *const *, ptrdiff_t,
        const double *, ptrdiff_t, double *, ptrdiff_t, __mmask8, double, double, int,
        const double *const *, int, const int *, nncore_fetch *);
typedef void (*nncore_tile_s_fn)(ptrdiff_t, const float *const *, ptrdiff_t,
        const float *, ptrdiff_t, float *, ptrdiff_t, __mmask16, float, float, int,
        const float *const *, int, const int *, nncore_fetch *);

/* Tile heights by width: about 24 accumulators, and few enough loads per
   multiply-add (PR broadcasts and NV loads feed PR * NV of them). */
#define NNCORE_ROWS(NV) ((NV) <= 2 ? 12 : (NV) == 3 ? 8 : 6)
/* With S' = A each row of a tile needs a pointer of its own: 12 of them,
   with the loop's own registers, overflow the 16 general registers, and
   GCC kept some in vector registers and some on the stack (784-30-10 at
   mini-batch 100, float32: tiles of at most 10 rows took 0.93x the time
   on one thread, 0.84x on two). */
#define NNCORE_ROWS_BY(NV, BYQ) (!(BYQ) && (NV) <= 2 ? 10 : NNCORE_ROWS(NV))
/* The listed tiles' height on rows of more than 4 vectors (see
   nncore_tile_lists); the room the callers make for the tiles' lists takes
   this many rows a tile at least (listed_room in _core.pyx). */
#define NNCORE_LISTED_ROWS_WIDE 4

#define NNCORE_T(SFX, BY, PR, NV) nncore_tile_##SFX##_##BY##_##PR##_##NV
/* The tiles by width (NV - 1) and height (PR - 1). */
#define NNCORE_TABLE(SFX, BY) {                                                  \
    {NNCORE_T(SFX, BY, 1, 1), NNCORE_T(SFX, BY, 2, 1), NNCORE_T(SFX, BY, 3, 1),  \
     NNCORE_T(SFX, BY, 4, 1), NNCORE_T(SFX, BY, 5, 1), NNCORE_T(SFX, BY, 6, 1),  \
     NNCORE_T(SFX, BY, 7, 1), NNCORE_T(SFX, BY, 8, 1), NNCORE_T(SFX, BY, 9, 1),  \
     NNCORE_T(SFX, BY, 10, 1), NNCORE_T(SFX, BY, 11, 1), NNCORE_T(SFX, BY, 12, 1)}, \
    {NNCORE_T(SFX, BY, 1, 2), NNCORE_T(SFX, BY, 2, 2), NNCORE_T(SFX, BY, 3, 2),  \
     NNCORE_T(SFX, BY, 4, 2), NNCORE_T(SFX, BY, 5, 2), NNCORE_T(SFX, BY, 6, 2),  \
     NNCORE_T(SFX, BY, 7, 2), NNCORE_T(SFX, BY, 8, 2), NNCORE_T(SFX, BY, 9, 2),  \
     NNCORE_T(SFX, BY, 10, 2), NNCORE_T(SFX, BY, 11, 2), NNCORE_T(SFX, BY, 12, 2)}, \
    {NNCORE_T(SFX, BY, 1, 3), NNCORE_T(SFX, BY, 2, 3), NNCORE_T(SFX, BY, 3, 3),  \
     NNCORE_T(SFX, BY, 4, 3), NNCORE_T(SFX, BY, 5, 3), NNCORE_T(SFX, BY, 6, 3),  \
     NNCORE_T(SFX, BY, 7, 3), NNCORE_T(SFX, BY, 8, 3)},                          \
    {NNCORE_T(SFX, BY, 1, 4), NNCORE_T(SFX, BY, 2, 4), NNCORE_T(SFX, BY, 3, 4),  \
     NNCORE_T(SFX, BY, 4, 4), NNCORE_T(SFX, BY, 5, 4), NNCORE_T(SFX, BY, 6, 4)}}
#define NNCORE_TILES(T, V, MASK, SFX, LANES)                                     \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 1, 1) NNCORE_TILE(T, V, MASK, SFX, LANES, 2, 1) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 3, 1) NNCORE_TILE(T, V, MASK, SFX, LANES, 4, 1) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 5, 1) NNCORE_TILE(T, V, MASK, SFX, LANES, 6, 1) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 7, 1) NNCORE_TILE(T, V, MASK, SFX, LANES, 8, 1) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 9, 1) NNCORE_TILE(T, V, MASK, SFX, LANES, 10, 1) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 11, 1) NNCORE_TILE(T, V, MASK, SFX, LANES, 12, 1) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 1, 2) NNCORE_TILE(T, V, MASK, SFX, LANES, 2, 2) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 3, 2) NNCORE_TILE(T, V, MASK, SFX, LANES, 4, 2) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 5, 2) NNCORE_TILE(T, V, MASK, SFX, LANES, 6, 2) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 7, 2) NNCORE_TILE(T, V, MASK, SFX, LANES, 8, 2) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 9, 2) NNCORE_TILE(T, V, MASK, SFX, LANES, 10, 2) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 11, 2) NNCORE_TILE(T, V, MASK, SFX, LANES, 12, 2) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 1, 3) NNCORE_TILE(T, V, MASK, SFX, LANES, 2, 3) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 3, 3) NNCORE_TILE(T, V, MASK, SFX, LANES, 4, 3) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 5, 3) NNCORE_TILE(T, V, MASK, SFX, LANES, 6, 3) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 7, 3) NNCORE_TILE(T, V, MASK, SFX, LANES, 8, 3) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 1, 4) NNCORE_TILE(T, V, MASK, SFX, LANES, 2, 4) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 3, 4) NNCORE_TILE(T, V, MASK, SFX, LANES, 4, 4) \
    NNCORE_TILE(T, V, MASK, SFX, LANES, 5, 4) NNCORE_TILE(T, V, MASK, SFX, LANES, 6, 4) \
    static const nncore_tile_##SFX##_fn nncore_tiles_##SFX##_p[4][12] =        \
        NNCORE_TABLE(SFX, p);                                                    \
    static const nncore_tile_##SFX##_fn nncore_tiles_##SFX##_q[4][12] =        \
        NNCORE_TABLE(SFX, q);                                                    \
    static const nncore_tile_##SFX##_fn nncore_tiles_##SFX##_qi[4][12] =       \
        NNCORE_TABLE(SFX, qi);                                                   \
    static const nncore_tile_##SFX##_fn nncore_tiles_##SFX##_pi[4][12] =       \
        NNCORE_TABLE(SFX, pi);

/* The whole product: blocks of q outermost (a block of S's rows or columns
   is reused by every column block), then column blocks of 4 vectors, then
   tiles of rows.

   With by_q and idx (not NULL), the product computes C's rows idx[0..P-1]
   only, S' read at rows[q][idx[k]], and leaves C's other rows alone: the
   weight gradient X^T . delta of the inputs that are not zero throughout a
   mini-batch (the others' rows are zero).  With idx and by_q = 0, the sum
   runs over q = idx[0..Q-1] only, S' read at rows[p][idx[k]] and R at its
   rows idx[k]: the forward product over those inputs (the others add
   zeros).  With by_q and fetch (not NULL), fetch's rows are brought into
   cache meanwhile, a line every few steps of the tiles (nncore_fetch). */
#define NNCORE_PRODUCT(T, V, MASK, SFX, LANES)                                   \
    NNCORE_TILES(T, V, MASK, SFX, LANES)                                         \
NNCORE_TARGET static void nncore_bcast_##SFX(ptrdiff_t P, ptrdiff_t Q,           \
        ptrdiff_t N, T alpha, const T *const *rows, int by_q, const T *R,        \
        ptrdiff_t ldr, T beta, T *C, ptrdiff_t ldc, const int *idx,              \
        nncore_fetch *fetch) {                                                   \
    ptrdiff_t nblocks = (Q + NNCORE_QBLOCK - 1) / NNCORE_QBLOCK;                 \
    ptrdiff_t qb = nblocks > 0 ? (Q + nblocks - 1) / nblocks : 0;                \
    ptrdiff_t q0, n0, p0;                                                        \
    if (P <= 0 || N <= 0) return;                                                \
    if (fetch && !by_q) fetch = 0;                                               \
    if (fetch) {  /* spread the lines evenly over the tiles' steps of q */      \
        ptrdiff_t steps = 0;                                                     \
        for (n0 = 0; n0 < N; n0 += 4 * LANES) {                                  \
            ptrdiff_t nn = N - n0 < 4 * LANES ? N - n0 : 4 * LANES;              \
            int nv = (int) ((nn + LANES - 1) / LANES);                           \
            steps += (P + NNCORE_ROWS_BY(nv, 1) - 1) / NNCORE_ROWS_BY(nv, 1) * Q; \
        }                                                                        \
        nncore_fetch_plan(fetch, steps, N <= 4 * LANES);                         \
    }                                                                            \
    if (Q <= 0) {  /* an empty sum: C = beta C */                               \
        for (p0 = 0; p0 < P; p0++) {                                             \
            T *c = C + (idx && by_q ? idx[p0] : p0) * ldc;                       \
            for (n0 = 0; n0 < N; n0++)                                           \
                c[n0] = beta != 0 ? beta * c[n0] : 0;                            \
        }                                                                        \
        return;                                                                  \
    }                                                                            \
    for (q0 = 0; q0 < Q; q0 += qb) {                                             \
        ptrdiff_t qn = Q - q0 < qb ? Q - q0 : qb;                                \
        int first = q0 == 0;                                                     \
        for (n0 = 0; n0 < N; n0 += 4 * LANES) {                                  \
            ptrdiff_t nn = N - n0 < 4 * LANES ? N - n0 : 4 * LANES;              \
            int nv = (int) ((nn + LANES - 1) / LANES);                           \
            int tail = (int) (nn - LANES * (nv - 1));                            \
            /* as few tiles as the tallest allow, of even heights (50 rows  \
               as 5 of 10, not 4 of 12 and one of 2, which would run at a    \
               fraction of the speed for the same reads of R) */             \
            ptrdiff_t ntiles = (P + NNCORE_ROWS_BY(nv, by_q) - 1)                \
                / NNCORE_ROWS_BY(nv, by_q);                                      \
            int height = (int) ((P + ntiles - 1) / ntiles);                      \
            MASK last = (MASK) (tail == LANES ? ~(MASK) 0                        \
                                              : (MASK) ((1u << tail) - 1));      \
            const T *r = R + (idx && !by_q ? 0 : q0 * ldr) + n0;                 \
            for (p0 = 0; p0 < P; p0 += height) {                                 \
                int pr = (int) (P - p0 < height ? P - p0 : height);              \
                int ahead = (int) (P - p0 - pr < height ? P - p0 - pr : height); \
                T *c = C + (idx && by_q ? 0 : p0 * ldc) + n0;                    \
                if (by_q && idx)                                                 \
                    nncore_tiles_##SFX##_qi[nv - 1][pr - 1](qn, rows + q0, 0,    \
                        r, ldr, c, ldc, last, alpha, beta, first, rows, 0,       \
                        idx + p0, fetch);                                        \
                else if (idx)                                                    \
                    nncore_tiles_##SFX##_pi[nv - 1][pr - 1](qn, rows + p0, 0,    \
                        r, ldr, c, ldc, last, alpha, beta, first,                \
                        rows + p0 + pr, n0 == 0 ? ahead : 0, idx + q0, 0);       \
                else if (by_q)                                                   \
                    nncore_tiles_##SFX##_q[nv - 1][pr - 1](qn, rows + q0, p0,    \
                        r, ldr, c, ldc, last, alpha, beta, first, rows, 0, idx,  \
                        fetch);                                                  \
                else                                                             \
                    nncore_tiles_##SFX##_p[nv - 1][pr - 1](qn, rows + p0, q0,    \
                        r, ldr, c, ldc, last, alpha, beta, first,                \
                        rows + p0 + pr, n0 == 0 ? ahead : 0, idx, 0);            \
            }                                                                    \
        }                                                                        \
    }                                                                            \
}

#define NNCORE_ZERO_d() _mm512_setzero_pd()
#define NNCORE_LOAD_d(p) _mm512_loadu_pd(p)
#define NNCORE_MLOAD_d(m, p) _mm512_maskz_loadu_pd(m, p)
#define NNCORE_MSTORE_d(p, m, x) _mm512_mask_storeu_pd(p, m, x)
#define NNCORE_SET1_d(x) _mm512_set1_pd(x)
#define NNCORE_FMA_d(a, b, c) _mm512_fmadd_pd(a, b, c)
#define NNCORE_MUL_d(a, b) _mm512_mul_pd(a, b)
#define NNCORE_ADD_d(a, b) _mm512_add_pd(a, b)

#define NNCORE_ZERO_s() _mm512_setzero_ps()
#define NNCORE_LOAD_s(p) _mm512_loadu_ps(p)
#define NNCORE_MLOAD_s(m, p) _mm512_maskz_loadu_ps(m, p)
#define NNCORE_MSTORE_s(p, m, x) _mm512_mask_storeu_ps(p, m, x)
#define NNCORE_SET1_s(x) _mm512_set1_ps(x)
#define NNCORE_FMA_s(a, b, c) _mm512_fmadd_ps(a, b, c)
#define NNCORE_MUL_s(a, b) _mm512_mul_ps(a, b)
#define NNCORE_ADD_s(a, b) _mm512_add_ps(a, b)

NNCORE_PRODUCT(double, __m512d, __mmask8, d, 8)
NNCORE_PRODUCT(float, __m512, __mmask16, s, 16)

/* The inputs off..off+n-1 that are not zero in at least one of m rows
   (NaN counts as not zero), as indices from off, ascending, into idx;
   returns how many.  Row by row, each read from start to end (so that the
   hardware prefetcher streams it), into a mask per LANES inputs kept in
   idx's own room (n ints hold n / LANES masks), then the indices. */
#define NNCORE_NONZERO(T, MASK, SFX, LANES, PS)                                  \
NNCORE_TARGET static ptrdiff_t nncore_nonzero_##SFX(const T *const *rows,       \
        ptrdiff_t m, ptrdiff_t off, ptrdiff_t n, int *idx) {                     \
    ptrdiff_t j, i, count = 0, nb = (n + LANES - 1) / LANES;                     \
    int *any = idx + n - nb;  /* the masks, at the end of idx's room */         \
    for (j = 0; j < nb; j++) any[j] = 0;                                         \
    for (i = 0; i < m; i++) {                                                    \
        const T *row = rows[i] + off;                                            \
        for (j = 0; j < nb; j++) {                                               \
            MASK lim = n - j * LANES >= LANES ? (MASK) ~(MASK) 0                 \
                : (MASK) ((1u << (n - j * LANES)) - 1);                          \
            any[j] |= (int) _mm512_mask_cmp_##PS##_mask(lim,                     \
                _mm512_maskz_loadu_##PS(lim, row + j * LANES),                   \
                _mm512_setzero_##PS(), _CMP_NEQ_UQ);                             \
        }                                                                        \
    }                                                                            \
    /* indices go to the front while the masks are read from the back: */      \
    /* the j-th mask is read before any index can reach its place (the   */     \
    /* store below writes only the mask's count of lanes); compressed in */     \
    /* a register, as a compressing store to memory is slow on some CPUs */     \
    {                                                                            \
        __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7,                 \
                                         8, 9, 10, 11, 12, 13, 14, 15);          \
        for (j = 0; j < nb; j++) {                                               \
            __mmask16 a = (__mmask16) (unsigned) any[j];                         \
            int c = __builtin_popcount((unsigned) a);                            \
            __m512i ids = _mm512_maskz_compress_epi32(a, _mm512_add_epi32(lane,  \
                _mm512_set1_epi32((int) (j * LANES))));                          \
            _mm512_mask_storeu_epi32(idx + count, (__mmask16) ((1u << c) - 1), ids); \
            count += c;                                                          \
        }                                                                        \
    }                                                                            \
    return count;                                                                \
}

NNCORE_NONZERO(double, __mmask8, d, 8, pd)
NNCORE_NONZERO(float, __mmask16, s, 16, ps)

/* Layer 1's forward product Z (M x N, rows ldz apart) = A . W, A's M rows
   at rows[0..M-1] (P inputs each), W (P x N, rows ldw apart), where each
   tile of rows sums over only the inputs not zero in one of its own rows:
   an MNIST image has 150 of 784, four together 306, six 343, a mini-batch
   of 100 516.  nncore_tile_lists makes the tiles' lists (lists: room for P
   ints a tile, counts one a tile: nncore_listed_tiles tiles, at most M /
   NNCORE_LISTED_ROWS_WIDE rounded up), reading each tile's rows side by
   side, and from them the mini-batch's (into idx, as nncore_nonzero); it
   returns that one's length.  nncore_forward_tiles then runs the product column block by
   column block, the tiles inside: a block of W (its P rows by up to 4
   vectors) stays in L2 for all the tiles.  The tiles are as tall as the
   widest block's (NNCORE_ROWS_BY), of even heights, but rows of more than
   one block take tiles of NNCORE_LISTED_ROWS_WIDE rows, not 6: a taller
   tile loads fewer rows of W for its multiply-adds, but sums more zeros
   (the union of its rows' inputs is longer; four MNIST images add 306
   inputs a row, six 343), and makes more lists, which one block does not
   repay.  One thread, against tiles of 6 (the cores alternated): 784-800-10
   at mini-batch 100 0.97x in float64, 0.87x in float32, at 1000 0.83x in
   float32; 784-100-10 at 100 in float64 0.96x; but 784-30-10 in float64
   (one block) 0.98x at 100 and 1.04x-1.08x at 1000.  (With the height set
   in one process: 3 rows, 784-100-10 1.01x; 2 rows, 784-800-10 0.98x.)
   Where W and A are finite the values are the dense product's up to
   rounding: a zero input adds exactly nothing, but a tile sums its list in
   one chain where nncore_bcast sums blocks of NNCORE_QBLOCK. */
static ptrdiff_t nncore_listed_height(ptrdiff_t N, int lanes) {
    ptrdiff_t nv = (N + lanes - 1) / lanes;
    return nv > 4 ? NNCORE_LISTED_ROWS_WIDE : NNCORE_ROWS_BY(nv, 0);
}

static ptrdiff_t nncore_listed_tiles(ptrdiff_t M, ptrdiff_t N, int lanes) {
    ptrdiff_t h = nncore_listed_height(N, lanes);
    return M > 0 ? (M + h - 1) / h : 0;
}

#define NNCORE_FORWARD_TILES(T, MASK, SFX, LANES, PS)                           \
NNCORE_TARGET static ptrdiff_t nncore_tile_lists_##SFX(ptrdiff_t M, ptrdiff_t P, \
        ptrdiff_t N, const T *const *rows, int *lists, int *counts, int *idx) {  \
    ptrdiff_t ntiles = nncore_listed_tiles(M, N, LANES), t, j, height, count = 0; \
    ptrdiff_t nb = (P + LANES - 1) / LANES;                                      \
    int *any = idx + P - nb;  /* the union's masks, at the end of idx's room */ \
    __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7,                     \
                                     8, 9, 10, 11, 12, 13, 14, 15);              \
    if (M <= 0 || P <= 0) return 0;                                              \
    height = (M + ntiles - 1) / ntiles;                                          \
    for (j = 0; j < nb; j++) any[j] = 0;                                         \
    for (t = 0; t < ntiles; t++) {                                               \
        ptrdiff_t m0 = t * height, h = M - m0 < height ? M - m0 : height;        \
        int c = 0, *list = lists + t * P;                                        \
        for (j = 0; j < nb && h > 0; j++) {                                      \
            MASK lim = P - j * LANES >= LANES ? (MASK) ~(MASK) 0                 \
                : (MASK) ((1u << (P - j * LANES)) - 1);                          \
            MASK a = 0;                                                          \
            for (ptrdiff_t i = 0; i < h; i++)                                    \
                a |= _mm512_mask_cmp_##PS##_mask(lim,                            \
                    _mm512_maskz_loadu_##PS(lim, rows[m0 + i] + j * LANES),      \
                    _mm512_setzero_##PS(), _CMP_NEQ_UQ);                         \
            any[j] |= (int) a;                                                   \
            int k = __builtin_popcount((unsigned) a);                            \
            _mm512_mask_storeu_epi32(list + c, (__mmask16) ((1u << k) - 1),      \
                _mm512_maskz_compress_epi32((__mmask16) a, _mm512_add_epi32(     \
                    lane, _mm512_set1_epi32((int) (j * LANES)))));               \
            c += k;                                                              \
        }                                                                        \
        counts[t] = c;                                                           \
    }                                                                            \
    for (j = 0; j < nb; j++) {  /* (as nncore_nonzero's) */                      \
        __mmask16 a = (__mmask16) (unsigned) any[j];                             \
        int k = __builtin_popcount((unsigned) a);                                \
        _mm512_mask_storeu_epi32(idx + count, (__mmask16) ((1u << k) - 1),       \
            _mm512_maskz_compress_epi32(a, _mm512_add_epi32(lane,                \
                _mm512_set1_epi32((int) (j * LANES)))));                         \
        count += k;                                                              \
    }                                                                            \
    return count;                                                                \
}                                                                                \
                                                                                 \
NNCORE_TARGET static void nncore_forward_tiles_##SFX(ptrdiff_t M, ptrdiff_t P,   \
        ptrdiff_t N, const T *const *rows, const T *W, ptrdiff_t ldw, T *Z,      \
        ptrdiff_t ldz, const int *lists, const int *counts) {                    \
    ptrdiff_t ntiles = nncore_listed_tiles(M, N, LANES), t, n0, height;          \
    if (M <= 0 || N <= 0) return;                                                \
    height = (M + ntiles - 1) / ntiles;                                          \
    for (n0 = 0; n0 < N; n0 += 4 * LANES) {                                     \
        ptrdiff_t nn = N - n0 < 4 * LANES ? N - n0 : 4 * LANES;                  \
        int nv = (int) ((nn + LANES - 1) / LANES);                               \
        int tail = (int) (nn - LANES * (nv - 1));                                \
        MASK last = (MASK) (tail == LANES ? ~(MASK) 0 : (MASK) ((1u << tail) - 1)); \
        for (t = 0; t < ntiles; t++) {                                           \
            ptrdiff_t m0 = t * height, h = M - m0 < height ? M - m0 : height;    \
            if (h <= 0) break;                                                   \
            nncore_tiles_##SFX##_pi[nv - 1][h - 1](counts[t], rows + m0, 0,      \
                W + n0, ldw, Z + m0 * ldz + n0, ldz, last, (T) 1, (T) 0, 1,      \
                rows, 0, lists + t * P, 0);                                      \
        }                                                                        \
    }                                                                            \
}

NNCORE_FORWARD_TILES(double, __mmask8, d, 8, pd)
NNCORE_FORWARD_TILES(float, __mmask16, s, 16, ps)

/* Layer 1's weight gradient, C[p, 0:N] = beta C[p, 0:N] + alpha sum_q
   A[q, p] D[q, 0:N] for p < P (A's M rows at rows[0..M-1], D's rows ldd
   apart), by the tiles of rows of nncore_forward_tiles and their lists
   (lists, counts: as it left them): a tile's rows of D, times alpha, stay
   in registers (H rows by NV vectors) while it adds its share into the
   rows of C its list names, read and written once each.  A tile of six
   MNIST images reads 343 rows of C where the mini-batch's product sums
   516.  Column block by column block (C's P rows by up to 4 vectors stay in
   L2 for all the tiles), C first scaled by beta (set to 0 if beta is 0:
   C is not read).  The next block's rows are fetched into cache while a
   block's tiles run (block_fetch, a line every few steps): the fused
   step's C is layer 1's weights, which the decay scales block by block,
   and where they do not fit the L2 a block's rows, 6.4 KB apart at
   784-800-10 in float64, came from L3 one miss at a time.  There, at
   mini-batch 100, the epoch took 0.88x the time; at 1000, in float32, and
   at 784-100-10 (which fits) 0.99-1.01x.
   Where A and D are finite the values are the dense product's up to
   rounding (the terms are added in another order). */
#define NNCORE_GTILE(T, V, MASK, SFX, LANES, H, NV)                              \
NNCORE_TARGET static void nncore_gtile_##SFX##_##H##_##NV(ptrdiff_t count,       \
        const int *list, const T *const *rows, const T *D, ptrdiff_t ldd, T *C,  \
        ptrdiff_t ldc, MASK last, T alpha, nncore_fetch *fetch,                  \
        ptrdiff_t f_mask, nncore_block_fetch *bf) {                              \
    V d[H][NV];                                                                  \
    const T *rp[H];                                                              \
    V va = NNCORE_SET1_##SFX(alpha);                                             \
    _Pragma("GCC unroll 16") for (int r = 0; r < H; r++) {                        \
        rp[r] = rows[r];                                                         \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                     \
            d[r][v] = NNCORE_MUL_##SFX(va, (v == NV - 1)                         \
                ? NNCORE_MLOAD_##SFX(last, D + r * ldd + LANES * v)              \
                : NNCORE_LOAD_##SFX(D + r * ldd + LANES * v));                   \
    }                                                                            \
    for (ptrdiff_t k = 0; k < count; k++) {                                      \
        ptrdiff_t p = list[k];                                                   \
        T *c = C + p * ldc;                                                      \
        V g[NV];                                                                 \
        if ((k & f_mask) == f_mask)                                              \
            nncore_fetch_line(fetch);                                            \
        if ((k & bf->mask) == bf->mask)                                          \
            nncore_block_fetch_line(bf);                                         \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                     \
            g[v] = (v == NV - 1) ? NNCORE_MLOAD_##SFX(last, c + LANES * v)       \
                                 : NNCORE_LOAD_##SFX(c + LANES * v);             \
        _Pragma("GCC unroll 16") for (int r = 0; r < H; r++) {                    \
            V x = NNCORE_SET1_##SFX(rp[r][p]);                                   \
            _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                 \
                g[v] = NNCORE_FMA_##SFX(x, d[r][v], g[v]);                       \
        }                                                                        \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) {                   \
            if (v == NV - 1) NNCORE_MSTORE_##SFX(c + LANES * v, last, g[v]);      \
            else NNCORE_MSTORE_##SFX(c + LANES * v, (MASK) ~(MASK) 0, g[v]);     \
        }                                                                        \
    }                                                                            \
}

#define NNCORE_GT(SFX, H, NV) nncore_gtile_##SFX##_##H##_##NV
#define NNCORE_GTILES_NV(T, V, MASK, SFX, LANES, NV)                             \
    NNCORE_GTILE(T, V, MASK, SFX, LANES, 1, NV) NNCORE_GTILE(T, V, MASK, SFX, LANES, 2, NV) \
    NNCORE_GTILE(T, V, MASK, SFX, LANES, 3, NV) NNCORE_GTILE(T, V, MASK, SFX, LANES, 4, NV) \
    NNCORE_GTILE(T, V, MASK, SFX, LANES, 5, NV) NNCORE_GTILE(T, V, MASK, SFX, LANES, 6, NV)
#define NNCORE_GTILES(T, V, MASK, SFX, LANES)                                    \
    NNCORE_GTILES_NV(T, V, MASK, SFX, LANES, 1) NNCORE_GTILES_NV(T, V, MASK, SFX, LANES, 2) \
    NNCORE_GTILES_NV(T, V, MASK, SFX, LANES, 3) NNCORE_GTILES_NV(T, V, MASK, SFX, LANES, 4) \
    NNCORE_GTILE(T, V, MASK, SFX, LANES, 7, 1) NNCORE_GTILE(T, V, MASK, SFX, LANES, 8, 1) \
    NNCORE_GTILE(T, V, MASK, SFX, LANES, 9, 1) NNCORE_GTILE(T, V, MASK, SFX, LANES, 10, 1) \
    NNCORE_GTILE(T, V, MASK, SFX, LANES, 7, 2) NNCORE_GTILE(T, V, MASK, SFX, LANES, 8, 2) \
    NNCORE_GTILE(T, V, MASK, SFX, LANES, 9, 2) NNCORE_GTILE(T, V, MASK, SFX, LANES, 10, 2) \
    NNCORE_GTILE(T, V, MASK, SFX, LANES, 7, 3) NNCORE_GTILE(T, V, MASK, SFX, LANES, 8, 3) \
    typedef void (*nncore_gtile_##SFX##_fn)(ptrdiff_t, const int *, const T *const *, \
        const T *, ptrdiff_t, T *, ptrdiff_t, MASK, T, nncore_fetch *, ptrdiff_t, \
        nncore_block_fetch *);                                                   \
    static const nncore_gtile_##SFX##_fn nncore_gtiles_##SFX[4][10] = {          \
        {NNCORE_GT(SFX, 1, 1), NNCORE_GT(SFX, 2, 1), NNCORE_GT(SFX, 3, 1),       \
         NNCORE_GT(SFX, 4, 1), NNCORE_GT(SFX, 5, 1), NNCORE_GT(SFX, 6, 1),       \
         NNCORE_GT(SFX, 7, 1), NNCORE_GT(SFX, 8, 1), NNCORE_GT(SFX, 9, 1),       \
         NNCORE_GT(SFX, 10, 1)},                                                 \
        {NNCORE_GT(SFX, 1, 2), NNCORE_GT(SFX, 2, 2), NNCORE_GT(SFX, 3, 2),       \
         NNCORE_GT(SFX, 4, 2), NNCORE_GT(SFX, 5, 2), NNCORE_GT(SFX, 6, 2),       \
         NNCORE_GT(SFX, 7, 2), NNCORE_GT(SFX, 8, 2), NNCORE_GT(SFX, 9, 2),       \
         NNCORE_GT(SFX, 10, 2)},                                                 \
        {NNCORE_GT(SFX, 1, 3), NNCORE_GT(SFX, 2, 3), NNCORE_GT(SFX, 3, 3),       \
         NNCORE_GT(SFX, 4, 3), NNCORE_GT(SFX, 5, 3), NNCORE_GT(SFX, 6, 3),       \
         NNCORE_GT(SFX, 7, 3), NNCORE_GT(SFX, 8, 3)},                            \
        {NNCORE_GT(SFX, 1, 4), NNCORE_GT(SFX, 2, 4), NNCORE_GT(SFX, 3, 4),       \
         NNCORE_GT(SFX, 4, 4), NNCORE_GT(SFX, 5, 4), NNCORE_GT(SFX, 6, 4)}};     \
NNCORE_TARGET static void nncore_gradient_tiles_##SFX(ptrdiff_t M, ptrdiff_t P,  \
        ptrdiff_t N, T alpha, const T *const *rows, const T *D, ptrdiff_t ldd,   \
        T beta, T *C, ptrdiff_t ldc, const int *lists, const int *counts,        \
        nncore_fetch *fetch) {                                                   \
    ptrdiff_t ntiles = nncore_listed_tiles(M, N, LANES), t, n0, p, height;       \
    ptrdiff_t f_mask = -1;                                                       \
    if (P <= 0 || N <= 0) return;                                                \
    height = M > 0 ? (M + ntiles - 1) / ntiles : 1;                              \
    if (fetch) {  /* spread the lines over the tiles' steps */                  \
        ptrdiff_t steps = 0;                                                     \
        for (t = 0; t < ntiles; t++) steps += counts[t];                         \
        steps *= (N + 4 * LANES - 1) / (4 * LANES);                              \
        f_mask = nncore_fetch_plan(fetch, steps, N <= 4 * LANES);                \
    }                                                                            \
    for (n0 = 0; n0 < N; n0 += 4 * LANES) {                                      \
        ptrdiff_t nn = N - n0 < 4 * LANES ? N - n0 : 4 * LANES;                  \
        int nv = (int) ((nn + LANES - 1) / LANES);                               \
        int tail = (int) (nn - LANES * (nv - 1));                                \
        MASK last = (MASK) (tail == LANES ? ~(MASK) 0 : (MASK) ((1u << tail) - 1)); \
        V vb = NNCORE_SET1_##SFX(beta);                                          \
        nncore_block_fetch bf = {C + n0 + 4 * LANES, ldc * (ptrdiff_t) sizeof(T), \
                                 0, 0, -1, 0, 0};                                \
        if (n0 + 4 * LANES < N && block_fetch) {                                 \
            ptrdiff_t nx = N - n0 - 4 * LANES, steps = 0, total;                 \
            bf.n_rows = P;                                                       \
            bf.lines = ((nx < 4 * LANES ? nx : 4 * LANES) + LANES - 1) / LANES;  \
            total = P * bf.lines;                                                \
            for (t = 0; t < ntiles; t++) steps += counts[t];                     \
            for (bf.mask = 0; 2 * (bf.mask + 1) * total <= steps;)               \
                bf.mask = 2 * bf.mask + 1;                                       \
        }                                                                        \
        if (beta != 1)                                                           \
            for (p = 0; p < P; p++) {                                            \
                T *c = C + p * ldc + n0;                                         \
                for (int v = 0; v < nv; v++) {                                   \
                    MASK mk = v == nv - 1 ? last : (MASK) ~(MASK) 0;             \
                    V x = beta == 0 ? NNCORE_ZERO_##SFX()                        \
                        : NNCORE_MUL_##SFX(vb, NNCORE_MLOAD_##SFX(mk, c + LANES * v)); \
                    NNCORE_MSTORE_##SFX(c + LANES * v, mk, x);                   \
                }                                                                \
            }                                                                    \
        for (t = 0; t < ntiles; t++) {                                           \
            ptrdiff_t m0 = t * height, h = M - m0 < height ? M - m0 : height;    \
            if (h <= 0) break;                                                   \
            nncore_gtiles_##SFX[nv - 1][h - 1](counts[t], lists + t * P,         \
                rows + m0, D + m0 * ldd + n0, ldd, C + n0, ldc, last, alpha,     \
                fetch, f_mask, &bf);                                             \
        }                                                                        \
    }                                                                            \
}

NNCORE_GTILES(double, __m512d, __mmask8, d, 8)
NNCORE_GTILES(float, __m512, __mmask16, s, 16)

/* An order of a mini-batch's m rows (rows[i], P <= 1024 inputs each) in
   which layer 1's tiles of h rows sum fewer zeros: each tile's rows share
   most of their inputs.  Greedy, in windows of `window` rows (at least h;
   a multiple of h keeps every tile inside one): a tile starts with the
   first row left in its window and adds, h - 1 times, the row left that
   adds the fewest inputs (not zero, or NaN) to its union, the first such
   on a tie (so rows with no zero keep their order).  perm[i] gets the
   index of the row to take i-th, a permutation of 0..m-1; bits has room
   for m * nncore_group_words(P) words (each row's inputs, a bit each).
   On MNIST the tiles of 4 of a mini-batch of 100 list 257 inputs on
   average, in the examples' order 307. */
#define NNCORE_GROUP_WORDS 16
static ptrdiff_t nncore_group_words(ptrdiff_t P) { (void) P; return NNCORE_GROUP_WORDS; }

/* The inputs that row c adds to the union u: their count. */
__attribute__((target("avx512f,avx512vpopcntdq"))) static inline int
nncore_adds_vp(const uint64_t *c, const uint64_t *u) {
    __m512i a = _mm512_popcnt_epi64(_mm512_andnot_si512(_mm512_loadu_si512(u),
                                                        _mm512_loadu_si512(c)));
    __m512i b = _mm512_popcnt_epi64(_mm512_andnot_si512(_mm512_loadu_si512(u + 8),
                                                        _mm512_loadu_si512(c + 8)));
    return (int) _mm512_reduce_add_epi64(_mm512_add_epi64(a, b));
}

__attribute__((target("popcnt"))) static inline int
nncore_adds_sc(const uint64_t *c, const uint64_t *u) {
    int a = 0, b = 0;
    _Pragma("GCC unroll 16") for (int k = 0; k < NNCORE_GROUP_WORDS; k += 2) {
        a += __builtin_popcountll(c[k] & ~u[k]);
        b += __builtin_popcountll(c[k + 1] & ~u[k + 1]);
    }
    return a + b;
}

#define NNCORE_GROUP_ROWS_V(T, MASK, SFX, LANES, PS, V, TGT)                     \
__attribute__((target(TGT))) static void nncore_group_rows_##SFX##_##V(           \
        ptrdiff_t m, ptrdiff_t P, const T *const *rows, int h, ptrdiff_t window, \
        int *perm, uint64_t *bits) {                                             \
    ptrdiff_t i, j, w0, k;                                                       \
    for (i = 0; i < m; i++) {                                                    \
        uint64_t *b = bits + i * NNCORE_GROUP_WORDS;                             \
        for (k = 0; k < NNCORE_GROUP_WORDS; k++) b[k] = 0;                       \
        for (j = 0; j < P; j += LANES) {                                         \
            MASK lim = P - j >= LANES ? (MASK) ~(MASK) 0                         \
                                      : (MASK) ((1u << (P - j)) - 1);            \
            uint64_t a = (uint64_t) _mm512_mask_cmp_##PS##_mask(lim,             \
                _mm512_maskz_loadu_##PS(lim, rows[i] + j), _mm512_setzero_##PS(), \
                _CMP_NEQ_UQ);                                                    \
            b[j >> 6] |= a << (j & 63);                                          \
        }                                                                        \
    }                                                                            \
    if (window < h) window = h;                                                  \
    for (w0 = 0; w0 < m; w0 += window) {                                         \
        ptrdiff_t n = m - w0 < window ? m - w0 : window;                         \
        int *left = perm + w0;    /* the rows left, at the end of the window */  \
        ptrdiff_t done = 0;                                                      \
        for (i = 0; i < n; i++) left[i] = (int) (w0 + i);                        \
        while (done < n) {                                                       \
            uint64_t u[NNCORE_GROUP_WORDS];                                      \
            const uint64_t *b = bits + (ptrdiff_t) left[done] * NNCORE_GROUP_WORDS; \
            for (k = 0; k < NNCORE_GROUP_WORDS; k++) u[k] = b[k];                \
            done++;                                                              \
            for (int r = 1; r < h && done < n; r++) {                            \
                ptrdiff_t best = done;                                           \
                int fewest = 1 << 30;                                            \
                for (i = done; i < n; i++) {                                     \
                    int add = nncore_adds_##V(bits + (ptrdiff_t) left[i]         \
                                              * NNCORE_GROUP_WORDS, u);          \
                    if (add < fewest) { fewest = add; best = i; }                \
                }                                                                \
                {   /* move it to the front of what is left */                   \
                    int chosen = left[best];                                     \
                    const uint64_t *c = bits + (ptrdiff_t) chosen * NNCORE_GROUP_WORDS; \
                    for (i = best; i > done; i--) left[i] = left[i - 1];         \
                    left[done++] = chosen;                                       \
                    for (k = 0; k < NNCORE_GROUP_WORDS; k++) u[k] |= c[k];       \
                }                                                                \
            }                                                                    \
        }                                                                        \
    }                                                                            \
}
/* Whether the grouping counts with AVX-512's vector population count:
   -1 until the first call asks the CPU; 0 takes the scalar count (tests). */
static int nncore_group_vp = -1;

#define NNCORE_GROUP_ROWS(T, MASK, SFX, LANES, PS)                               \
NNCORE_GROUP_ROWS_V(T, MASK, SFX, LANES, PS, vp, "avx512f,avx512vpopcntdq")      \
NNCORE_GROUP_ROWS_V(T, MASK, SFX, LANES, PS, sc, "avx512f,popcnt")               \
static void nncore_group_rows_##SFX(ptrdiff_t m, ptrdiff_t P, const T *const *rows, \
        int h, ptrdiff_t window, int *perm, uint64_t *bits) {                    \
    if (nncore_group_vp < 0)                                                     \
        nncore_group_vp = __builtin_cpu_supports("avx512vpopcntdq");             \
    if (nncore_group_vp)                                                         \
        nncore_group_rows_##SFX##_vp(m, P, rows, h, window, perm, bits);         \
    else nncore_group_rows_##SFX##_sc(m, P, rows, h, window, perm, bits);        \
}

NNCORE_GROUP_ROWS(double, __mmask8, d, 8, pd)
NNCORE_GROUP_ROWS(float, __mmask16, s, 16, ps)

/* XT[p*m + q] = rows[q][p] for p < n, q < m <= 16: a mini-batch's inputs
   packed by input for the fused steps, 16 (or 8) inputs at a time by a
   transpose in registers, where element by element took a sixth of a
   784-30-10 epoch at mini-batch 10 in float32. */
NNCORE_TARGET static void nncore_pack_s(float *XT, const float *const *rows, int m,
                                        ptrdiff_t n) {
    __m512 r[16], t[16], u[16];
    for (ptrdiff_t p0 = 0; p0 < n; p0 += 16) {
        int w = n - p0 < 16 ? (int) (n - p0) : 16;
        __mmask16 lim = (__mmask16) (w == 16 ? 0xFFFF : (1u << w) - 1);
        for (int q = 0; q < 16; q++)
            r[q] = q < m ? _mm512_maskz_loadu_ps(lim, rows[q] + p0) : _mm512_setzero_ps();
        for (int k = 0; k < 16; k += 2) {
            t[k] = _mm512_unpacklo_ps(r[k], r[k + 1]);
            t[k + 1] = _mm512_unpackhi_ps(r[k], r[k + 1]);
        }
        for (int k = 0; k < 16; k += 4) {   /* u[k + c]: inputs c, c+4, c+8, c+12 */
            __m512d a = _mm512_castps_pd(t[k]), b = _mm512_castps_pd(t[k + 2]);
            __m512d c = _mm512_castps_pd(t[k + 1]), d = _mm512_castps_pd(t[k + 3]);
            u[k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            u[k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
            u[k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
            u[k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
        }
        __mmask16 keep = (__mmask16) (m >= 16 ? 0xFFFF : (1u << m) - 1);
        for (int c = 0; c < 4; c++) {
            __m512 v = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
            __m512 x = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
            __m512 v2 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
            __m512 x2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
            __m512 o[4] = {_mm512_shuffle_f32x4(v, x, 0x88), _mm512_shuffle_f32x4(v, x, 0xDD),
                           _mm512_shuffle_f32x4(v2, x2, 0x88),
                           _mm512_shuffle_f32x4(v2, x2, 0xDD)};
            for (int g = 0; g < 4; g++)   /* input c + 4g */
                if (c + 4 * g < w)
                    _mm512_mask_storeu_ps(XT + (p0 + c + 4 * g) * m, keep, o[g]);
        }
    }
}

NNCORE_TARGET static void nncore_pack_d(double *XT, const double *const *rows, int m,
                                        ptrdiff_t n) {
    __m512d r[8], t[8];
    for (ptrdiff_t p0 = 0; p0 < n; p0 += 8) {
        int w = n - p0 < 8 ? (int) (n - p0) : 8;
        __mmask8 lim = (__mmask8) (w == 8 ? 0xFF : (1u << w) - 1);
        for (int g0 = 0; g0 < m; g0 += 8) {   /* rows g0..g0+7 */
            int gm = m - g0 < 8 ? m - g0 : 8;
            __mmask8 keep = (__mmask8) (gm == 8 ? 0xFF : (1u << gm) - 1);
            for (int q = 0; q < 8; q++)
                r[q] = q < gm ? _mm512_maskz_loadu_pd(lim, rows[g0 + q] + p0)
                              : _mm512_setzero_pd();
            for (int k = 0; k < 8; k += 2) {   /* lane L: inputs 2L (even), 2L+1 */
                t[k] = _mm512_unpacklo_pd(r[k], r[k + 1]);
                t[k + 1] = _mm512_unpackhi_pd(r[k], r[k + 1]);
            }
            for (int e = 0; e < 2; e++) {
                __m512d v = _mm512_shuffle_f64x2(t[e], t[2 + e], 0x44);
                __m512d x = _mm512_shuffle_f64x2(t[4 + e], t[6 + e], 0x44);
                __m512d v2 = _mm512_shuffle_f64x2(t[e], t[2 + e], 0xEE);
                __m512d x2 = _mm512_shuffle_f64x2(t[4 + e], t[6 + e], 0xEE);
                __m512d o[4] = {_mm512_shuffle_f64x2(v, x, 0x88),
                                _mm512_shuffle_f64x2(v, x, 0xDD),
                                _mm512_shuffle_f64x2(v2, x2, 0x88),
                                _mm512_shuffle_f64x2(v2, x2, 0xDD)};
                for (int g = 0; g < 4; g++)   /* input e + 2g */
                    if (e + 2 * g < w)
                        _mm512_mask_storeu_pd(XT + (p0 + e + 2 * g) * m + g0, keep, o[g]);
            }
        }
    }
}

/* Whether x[0..n-1] are all finite (x - x is 0 exactly then). */
#define NNCORE_ALL_FINITE(T, V, MASK, SFX, LANES, PS)                            \
NNCORE_TARGET static int nncore_all_finite_##SFX(const T *x, ptrdiff_t n) {     \
    ptrdiff_t i;                                                                 \
    MASK bad = 0;                                                                \
    for (i = 0; i < n; i += LANES) {                                             \
        MASK m = n - i >= LANES ? (MASK) ~(MASK) 0                               \
                                : (MASK) ((1u << (n - i)) - 1);                  \
        V v = _mm512_maskz_loadu_##PS(m, x + i);                                 \
        bad |= _mm512_mask_cmp_##PS##_mask(m, _mm512_sub_##PS(v, v),             \
                                           _mm512_setzero_##PS(), _CMP_NEQ_UQ);  \
    }                                                                            \
    return bad == 0;                                                             \
}

NNCORE_ALL_FINITE(double, __m512d, __mmask8, d, 8, pd)
NNCORE_ALL_FINITE(float, __m512, __mmask16, s, 16, ps)

/* The logistic function over n values in place, eight or sixteen at a
   time: with e = exp(-|z|), sigma(z) = 1/(1+e) for z >= 0 and e/(1+e)
   below, as the scalar code computes it.  exp(a) for a <= 0 is 2^k exp(r)
   with k = round(a / ln 2) and r = a - k ln 2 (ln 2 in two parts, so r is
   exact to the last bit), exp(r) by its Taylor series, which on
   |r| <= ln(2)/2 is within an ulp after 13 terms for double (7 for float);
   2^k is applied by scalef, which gives 0 where the result underflows.
   a is clamped below at a point where exp(a) is 0 anyway, so infinite z
   gives 0 or 1; NaN stays NaN. */
NNCORE_TARGET static inline __m512d nncore_exp_neg_d(__m512d a) {
    __m512d k = _mm512_roundscale_pd(_mm512_mul_pd(a, _mm512_set1_pd(1.4426950408889634)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d r = _mm512_fnmadd_pd(k, _mm512_set1_pd(6.93147180369123816490e-01), a);
    __m512d p = _mm512_set1_pd(1.0 / 6227020800.0);              /* 1/13! */
    static const double c[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                               1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0,
                               1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
    int i;
    r = _mm512_fnmadd_pd(k, _mm512_set1_pd(1.90821492927058770002e-10), r);
    for (i = 0; i < 13; i++) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(c[i]));
    return _mm512_scalef_pd(p, k);
}

NNCORE_TARGET static inline __m512 nncore_exp_neg_s(__m512 a) {
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(a, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(6.93145752e-01f), a);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);                   /* 1/7! */
    static const float c[] = {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f,
                              0.5f, 1.0f, 1.0f};
    int i;
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.42860677e-06f), r);
    for (i = 0; i < 7; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c[i]));
    return _mm512_scalef_ps(p, k);
}

#define NNCORE_SIGMOID(T, V, MASK, SFX, LANES, LOWEST, PS)                    \
NNCORE_TARGET static void nncore_sigmoid_##SFX(T *x, ptrdiff_t n) {              \
    const V sign = _mm512_set1_##PS((T) -0.0), lo = _mm512_set1_##PS(LOWEST);    \
    const V one = _mm512_set1_##PS((T) 1.0);                                     \
    ptrdiff_t i;                                                                 \
    for (i = 0; i < n; i += LANES) {                                             \
        MASK m = n - i >= LANES ? (MASK) ~(MASK) 0                               \
                                : (MASK) ((1u << (n - i)) - 1);                  \
        V z = _mm512_maskz_loadu_##PS(m, x + i);                                 \
        /* -|z| (NaN kept by max's choice of its second operand) */             \
        V a = _mm512_max_##PS(lo, _mm512_castsi512_##PS(_mm512_or_si512(        \
            _mm512_cast##PS##_si512(z), _mm512_cast##PS##_si512(sign))));        \
        V e = nncore_exp_neg_##SFX(a);                                           \
        V inv = _mm512_div_##PS(one, _mm512_add_##PS(one, e));                   \
        MASK neg = _mm512_cmp_##PS##_mask(z, _mm512_setzero_##PS(), _CMP_LT_OQ); \
        _mm512_mask_storeu_##PS(x + i, m, _mm512_mask_mul_##PS(inv, neg, e, inv)); \
    }                                                                            \
}

NNCORE_SIGMOID(double, __m512d, __mmask8, d, 8, -800.0, pd)
NNCORE_SIGMOID(float, __m512, __mmask16, s, 16, -120.0f, ps)

/* The plain SGD step over n parameters, from a gradient summed in one or
   two parts (the two threads' halves of a mini-batch): x <- a x - s (g +
   g2), g2 may be NULL.  a is 1 - eta*lambda/n for weights, 1 for biases,
   and s = eta/m; (g + g2) is summed first, as the separate sum did. */
#define NNCORE_STEP(T, V, MASK, SFX, LANES, PS)                               \
NNCORE_TARGET static void nncore_step_##SFX(T *x, const T *g, const T *g2,     \
        ptrdiff_t n, T a, T s) {                                                 \
    const V va = _mm512_set1_##PS(a), vs = _mm512_set1_##PS(s);                \
    ptrdiff_t i;                                                                 \
    for (i = 0; i < n; i += LANES) {                                             \
        MASK m = n - i >= LANES ? (MASK) ~(MASK) 0                               \
                                : (MASK) ((1u << (n - i)) - 1);                  \
        V gv = _mm512_maskz_loadu_##PS(m, g + i);                                \
        if (g2)                                                                  \
            gv = _mm512_add_##PS(gv, _mm512_maskz_loadu_##PS(m, g2 + i));        \
        V xv = _mm512_maskz_loadu_##PS(m, x + i);                                \
        _mm512_mask_storeu_##PS(x + i, m, _mm512_sub_##PS(                       \
            _mm512_mul_##PS(va, xv), _mm512_mul_##PS(vs, gv)));                  \
    }                                                                            \
}

NNCORE_STEP(double, __m512d, __mmask8, d, 8, pd)
NNCORE_STEP(float, __m512, __mmask16, s, 16, ps)

/* The momentum step (the core's momentum_step, in the same order of
   operations) over n parameters: with weights != 0, for weights,
       v' = mu v - (cg g + c2 x + c1 sgn(x)),
   else (biases) v' = mu v - cg g; then x <- x + a v' - b v, v <- v'. */
#define NNCORE_MOMENTUM(T, V, MASK, SFX, LANES, PS)                           \
NNCORE_TARGET static void nncore_momentum_##SFX(T *x, T *v, const T *g,        \
        ptrdiff_t n, int weights, T mu, T cg, T c2, T c1, T a, T b) {            \
    const V vmu = _mm512_set1_##PS(mu), vcg = _mm512_set1_##PS(cg);           \
    const V vc2 = _mm512_set1_##PS(c2), vc1 = _mm512_set1_##PS(c1);           \
    const V va = _mm512_set1_##PS(a), vb = _mm512_set1_##PS(b);                \
    const V zero = _mm512_setzero_##PS(), one = _mm512_set1_##PS((T) 1.0);     \
    const V minus = _mm512_set1_##PS((T) -1.0);                                 \
    ptrdiff_t i;                                                                 \
    for (i = 0; i < n; i += LANES) {                                             \
        MASK m = n - i >= LANES ? (MASK) ~(MASK) 0                               \
                                : (MASK) ((1u << (n - i)) - 1);                  \
        V xv = _mm512_maskz_loadu_##PS(m, x + i);                                \
        V vo = _mm512_maskz_loadu_##PS(m, v + i);                                \
        V r = _mm512_mul_##PS(vcg, _mm512_maskz_loadu_##PS(m, g + i));          \
        if (weights) {                                                           \
            r = _mm512_add_##PS(r, _mm512_mul_##PS(vc2, xv));                    \
            if (c1 != 0) {                                                       \
                V sg = _mm512_mask_blend_##PS(                                   \
                    _mm512_cmp_##PS##_mask(xv, zero, _CMP_GT_OQ), zero, one);    \
                sg = _mm512_mask_blend_##PS(                                     \
                    _mm512_cmp_##PS##_mask(xv, zero, _CMP_LT_OQ), sg, minus);    \
                r = _mm512_add_##PS(r, _mm512_mul_##PS(vc1, sg));                \
            }                                                                    \
        }                                                                        \
        V vn = _mm512_sub_##PS(_mm512_mul_##PS(vmu, vo), r);                     \
        _mm512_mask_storeu_##PS(v + i, m, vn);                                   \
        _mm512_mask_storeu_##PS(x + i, m, _mm512_sub_##PS(                       \
            _mm512_add_##PS(xv, _mm512_mul_##PS(va, vn)), _mm512_mul_##PS(vb, vo))); \
    }                                                                            \
}

NNCORE_MOMENTUM(double, __m512d, __mmask8, d, 8, pd)
NNCORE_MOMENTUM(float, __m512, __mmask16, s, 16, ps)


/* A first layer held transposed, W (P inputs by N neurons, rows ldw
   apart), takes its step and, in the same pass, the next mini-batch's
   forward product:
       W[p, :] <- beta W[p, :] + alpha sum_q X(q, p) D[q, :]   (q < M)
       Z[r, :]  = sum_p Xn(r, p) W[p, :]                       (r < M, new W)
   with X(q, p) = XT[p*M + q] and Xn(r, p) = XTn[p*M + r] (each mini-batch's
   inputs packed by input); or momentum's step in place of the first line,
   with W's velocities beside it (nncore_wstep).  Apart, the two products
   read W twice and write it once a mini-batch; a layer larger than the
   L2 then streams from the L3 three times (784-800-10 at mini-batch 10:
   0.51x the epoch's time in float64, 0.47x in float32).  One column of vectors at a time:
   its M rows of D and M sums of Z stay in registers while p runs down
   the column, RB rows of it at once (each row's sum over q is a chain of
   M multiply-adds; side by side they overlap).  A W larger than
   NNCORE_L2_PART goes in blocks of NNCORE_PBLOCK rows, each fetching the
   next block's lines in the order they lie (down a column they lie ldw
   apart, beyond the hardware prefetcher's reach).  The first column's
   pass also fetches the n_ahead input rows `ahead` (the mini-batch after
   the next, which the caller packs then).  The step takes the product
   kernel's order of operations (a sum over q in order, times alpha, plus
   beta W), as its tiles of more than 6 vectors do.  A third variant (IDX)
   takes only the rows of W a list of indices names, the inputs packed for
   those rows alone: the steps that leave zero inputs' rows alone (sparse_suits in
   _core.pyx). */
#ifndef NNCORE_PBLOCK
#define NNCORE_PBLOCK 64
#endif
#define NNCORE_L2_PART (1 << 20)
#define NNCORE_FUSE_MAX 12
/* Layer 1's new weights from a row's sum over q (s): the plain step,
   beta w + alpha s (c = {alpha, beta}), or with MOM momentum's (the order
   of nncore_momentum's operations for weights without L1; c = {mu, cg,
   c2, a, b}): v' = mu v - (cg s + c2 w), w' = w + a v' - b v; v <- v'. */
#define NNCORE_WSTEP(T, V, MASK, SFX, PS)                                        \
NNCORE_TARGET static inline __attribute__((always_inline)) V                     \
nncore_wnew_##SFX(int mom, V wv, V vo, V s, const V *c, V *vn) {                 \
    if (mom) {                                                                   \
        *vn = _mm512_sub_##PS(_mm512_mul_##PS(c[0], vo), _mm512_add_##PS(        \
            _mm512_mul_##PS(c[1], s), _mm512_mul_##PS(c[2], wv)));              \
        return _mm512_sub_##PS(_mm512_add_##PS(wv, _mm512_mul_##PS(c[3], *vn)),  \
                               _mm512_mul_##PS(c[4], vo));                       \
    }                                                                            \
    return _mm512_fmadd_##PS(c[1], wv, _mm512_mul_##PS(c[0], s));                \
}                                                                                \
NNCORE_TARGET static inline __attribute__((always_inline)) V                     \
nncore_wstep_##SFX(int mom, MASK mk, T *w, T *v, V s, const V *c) {              \
    V vn = _mm512_setzero_##PS(), wn = nncore_wnew_##SFX(mom,                    \
        _mm512_maskz_loadu_##PS(mk, w),                                          \
        mom ? _mm512_maskz_loadu_##PS(mk, v) : _mm512_setzero_##PS(), s, c, &vn); \
    if (mom) _mm512_mask_storeu_##PS(v, mk, vn);                                 \
    _mm512_mask_storeu_##PS(w, mk, wn);                                          \
    return wn;                                                                   \
}

/* The fused kernel's fetches (the names are its locals): the rows of the
   mini-batch after the next, ahead of row `row` (IDX: spread over the
   list's rows); and one line of the next block of W's rows. */
#define NNCORE_SF_AHEAD(IDX, LANES, row)                                         \
    {                                                                            \
        if (IDX) {                                                               \
            for (; a_next < n_full && a_next * P <= (row) * n_full; a_next += LANES) \
                for (int a = 0; a < n_ahead; a++)                                \
                    __builtin_prefetch(ahead[a] + a_next, 0, 3);                 \
        } else if ((row) >= a_next) {                                            \
            for (int a = 0; a < n_ahead; a++)                                    \
                __builtin_prefetch(ahead[a] + a_next, 0, 3);                     \
            a_next += LANES;                                                     \
        }                                                                        \
    }
#define NNCORE_SF_NEXT_LINE(IDX, MOM, LANES)                                     \
    {                                                                            \
        if (f_row < P) {                                                         \
            if (IDX)                                                             \
                __builtin_prefetch(W + rowidx[f_row] * ldw + f_col * LANES, 1, 3); \
            else                                                                 \
                __builtin_prefetch(W + f_row * ldw + f_col * LANES, 1, 3);       \
            if (MOM)                                                             \
                __builtin_prefetch(Vel + f_row * ldw + f_col * LANES, 1, 3);     \
        }                                                                        \
        if (++f_col == ncols) { f_col = 0; f_row++; }                            \
    }

/* Vector k of a group of K: only the last one may be partial (the group
   ends at the row's end or before it), so the others' loads and stores
   need no mask; nor does the last where full_ (see unmasked_rows). */
#define NNCORE_SF_LOAD(PS, k, K, mk, p)                                          \
    ((k) < (K) - 1 || full_ ? _mm512_loadu_##PS(p) : _mm512_maskz_loadu_##PS(mk, p))
#define NNCORE_SF_STORE(PS, k, K, mk, p, x)                                      \
    do {                                                                         \
        if ((k) < (K) - 1 || full_) _mm512_storeu_##PS(p, x);                    \
        else _mm512_mask_storeu_##PS(p, mk, x);                                  \
    } while (0)

/* M = 1 or 2 (a mini-batch of one or two) on rows of at most 4 vectors:
   there the column-at-a-time order leaves each pass one or two chains of
   multiply-adds into Z, each row waiting on the last.  Instead the K = 1..4
   columns of vectors go down the rows together, K chains side by side;
   every value takes the same operations in the same order as before.
   Wider rows, at M = 1, go in groups of 4 vectors too where a row of W
   takes at most 4 KB (wide_groups): the epoch at mini-batch 1 took 0.87x
   the time at 784-100-10 in float64, 0.88x in float32, and 0.86x at
   784-800-10 in float32.  Rows of 6.4 KB, 784-800-10's in float64, whose
   steps stream W from L3, keep the column passes (groups there: 1.05x).
   Each row's loads are issued
   before the previous row's stores: consecutive rows share cache lines,
   and a load from a line a masked store has just written waits for it (in
   that order the grouping was slower than the column passes).  The sparse
   step at mini-batch 1 (784-30-10, about 230 rows listed): 1.5 -> 1.4 us
   in float64, 0.85 -> 0.7 us in float32, in cache. */
#define NNCORE_SF_GROUP(T, V, MASK, SFX, LANES, PS, M, MOM, IDX, K)              \
    {                                                                            \
        V d_[M][K], acc_[M][K];                                                  \
        MASK mk_[K];                                                             \
        const int full_ = unmasked_rows && ldw >= (j + K) * LANES;               \
        _Pragma("GCC unroll 4") for (int k = 0; k < K; k++) {                    \
            ptrdiff_t col = (j + k) * LANES;                                     \
            mk_[k] = N - col >= LANES ? (MASK) ~(MASK) 0                         \
                                      : (MASK) ((1u << (N - col)) - 1);          \
            _Pragma("GCC unroll 2") for (int q = 0; q < M; q++) {                \
                d_[q][k] = _mm512_maskz_loadu_##PS(mk_[k], D + q * ldd + col);   \
                acc_[q][k] = p0 == 0 ? _mm512_setzero_##PS()                     \
                    : _mm512_maskz_loadu_##PS(mk_[k], Z + q * ldz + col);        \
            }                                                                    \
        }                                                                        \
        /* the first row's loads; each row loads the next before storing */ \
        V wv_[K], vv_[K];                                                        \
        T *w_ = pn > 0 ? W + (IDX ? wr[0] : p0) * ldw + j * LANES : W;           \
        T *v_ = MOM ? Vel + p0 * ldw + j * LANES : (T *) 0;                      \
        _Pragma("GCC unroll 4") for (int k = 0; k < K; k++) {                    \
            wv_[k] = pn > 0 ? _mm512_maskz_loadu_##PS(mk_[k], w_ + k * LANES)    \
                            : _mm512_setzero_##PS();                             \
            vv_[k] = MOM && pn > 0 ? _mm512_maskz_loadu_##PS(mk_[k], v_ + k * LANES) \
                                   : _mm512_setzero_##PS();                      \
        }                                                                        \
        for (ptrdiff_t p = 0; p < pn; p++) {                                     \
            V xs_[M], xns_[M], wn_[K], vn_[K];                                   \
            T *w2_ = w_, *v2_ = v_;                                              \
            if (j == 0) NNCORE_SF_AHEAD(IDX, LANES, p0 + p)                      \
            if (f_row < P)  /* (none where W fits the L2's share) */            \
                _Pragma("GCC unroll 4") for (int k = 0; k < K; k++)              \
                    NNCORE_SF_NEXT_LINE(IDX, MOM, LANES)                         \
            _Pragma("GCC unroll 2") for (int q = 0; q < M; q++) {                \
                xs_[q] = _mm512_set1_##PS(x[(xi_ ? (ptrdiff_t) wr[p] : p) * M + q]); \
                xns_[q] = _mm512_set1_##PS(xn[(xi_ ? (ptrdiff_t) wr[p] : p) * M + q]); \
            }                                                                    \
            _Pragma("GCC unroll 4") for (int k = 0; k < K; k++) {                \
                V s_ = _mm512_setzero_##PS();                                    \
                _Pragma("GCC unroll 2") for (int q = 0; q < M; q++)              \
                    s_ = _mm512_fmadd_##PS(xs_[q], d_[q][k], s_);                \
                wn_[k] = nncore_wnew_##SFX(MOM, wv_[k], vv_[k], s_, c, &vn_[k]); \
                _Pragma("GCC unroll 2") for (int r = 0; r < M; r++)              \
                    acc_[r][k] = _mm512_fmadd_##PS(xns_[r], wn_[k], acc_[r][k]); \
            }                                                                    \
            if (p + 1 < pn) {                                                    \
                w_ = IDX ? W + wr[p + 1] * ldw + j * LANES : w_ + ldw;           \
                if (MOM) v_ += ldw;                                              \
                _Pragma("GCC unroll 4") for (int k = 0; k < K; k++) {            \
                    wv_[k] = NNCORE_SF_LOAD(PS, k, K, mk_[k], w_ + k * LANES);   \
                    if (MOM)                                                     \
                        vv_[k] = NNCORE_SF_LOAD(PS, k, K, mk_[k], v_ + k * LANES); \
                }                                                                \
            }                                                                    \
            _Pragma("GCC unroll 4") for (int k = 0; k < K; k++) {                \
                if (MOM) NNCORE_SF_STORE(PS, k, K, mk_[k], v2_ + k * LANES, vn_[k]); \
                NNCORE_SF_STORE(PS, k, K, mk_[k], w2_ + k * LANES, wn_[k]);      \
            }                                                                    \
        }                                                                        \
        _Pragma("GCC unroll 4") for (int k = 0; k < K; k++)                      \
            _Pragma("GCC unroll 2") for (int r = 0; r < M; r++)                  \
                _mm512_mask_storeu_##PS(Z + r * ldz + (j + k) * LANES, mk_[k],   \
                                        acc_[r][k]);                             \
    }

#define NNCORE_STEPFWD_M(T, V, MASK, SFX, LANES, PS, M, MOM, IDX, NAME)          \
NNCORE_TARGET static void NAME(ptrdiff_t P, ptrdiff_t N, const T *XT, const T *D, \
        ptrdiff_t ldd, const T *coef, const T *XTn, T *W, T *Vel, ptrdiff_t ldw, \
        T *Z, ptrdiff_t ldz, const T *const *ahead, int n_ahead,                 \
        const int *rowidx, ptrdiff_t n_full) {                                   \
    /* about 30 registers: M of D, M sums, RB rows (momentum: 3 more     \
       constants), at least 1 */                                             \
    enum { RB0 = (30 - 2 * M - 3 * MOM) / 2,                                     \
           RB = RB0 < 1 ? 1 : RB0 > 4 ? 4 : RB0 };                               \
    V c[5];                                                                      \
    for (int i = 0; i < 2 + 3 * MOM; i++) c[i] = _mm512_set1_##PS(coef[i]);     \
    ptrdiff_t ncols = (N + LANES - 1) / LANES, a_next = 0;                       \
    (void) rowidx; (void) n_full;                                                \
    /* listed rows of one example: XT and XTn are its input rows as they   \
       lie, read at the listed inputs (no packing); of more, packed for     \
       those inputs alone (sequential reads in every column pass) */        \
    const int xi_ = IDX && M == 1;                                               \
    /* listed rows with alpha = beta = 1 (blocked steps: D holds the scaled \
       deltas), W within the L2: each term is added to the row in turn,     \
       M multiply-adds where w + (the sum) took M + 2 */                     \
    const int chain_ = IDX && coef[0] == (T) 1 && coef[1] == (T) 1              \
        && P * ldw * (ptrdiff_t) sizeof(T) <= NNCORE_L2_PART;                    \
    /* W beyond the L2: blocks of rows, the next one fetched meanwhile */      \
    ptrdiff_t pb = P * ldw * (ptrdiff_t) sizeof(T) > NNCORE_L2_PART ? NNCORE_PBLOCK : P; \
    for (ptrdiff_t p0 = 0; p0 < P; p0 += pb) {                                   \
        ptrdiff_t pn = P - p0 < pb ? P - p0 : pb;                                \
        /* the next block's lines, in the order they lie */                     \
        ptrdiff_t f_row = p0 + pb, f_col = 0;                                    \
        if ((M <= 2 && ncols <= 4)                                               \
            || (M == 1 && wide_groups && N * (ptrdiff_t) sizeof(T) <= 4096)) {   \
            const T *x = xi_ ? XT : XT + p0 * M, *xn = xi_ ? XTn : XTn + p0 * M; \
            const int *wr = IDX ? rowidx + p0 : (const int *) 0;                    \
            for (ptrdiff_t j = 0; j < ncols; ) {                                 \
                ptrdiff_t kk = ncols - j < 4 ? ncols - j : 4;                    \
                if (kk == 4) NNCORE_SF_GROUP(T, V, MASK, SFX, LANES, PS, M, MOM, IDX, 4) \
                else if (kk == 3) NNCORE_SF_GROUP(T, V, MASK, SFX, LANES, PS, M, MOM, IDX, 3) \
                else if (kk == 2) NNCORE_SF_GROUP(T, V, MASK, SFX, LANES, PS, M, MOM, IDX, 2) \
                else NNCORE_SF_GROUP(T, V, MASK, SFX, LANES, PS, M, MOM, IDX, 1) \
                j += kk;                                                         \
            }                                                                    \
            continue;                                                            \
        }                                                                        \
        for (ptrdiff_t j = 0; j < N; j += LANES) {                               \
            MASK mk = N - j >= LANES ? (MASK) ~(MASK) 0                          \
                                     : (MASK) ((1u << (N - j)) - 1);             \
            V d[M], acc[M];                                                      \
            T *w = W + p0 * ldw + j;                                             \
            T *v = MOM ? Vel + p0 * ldw + j : (T *) 0;                           \
            const T *x = XT + p0 * M, *xn = XTn + p0 * M;                        \
            /* IDX: W's rows are rowidx[0..P-1] (xi_: XT's and XTn's too) */    \
            const int *wr = IDX ? rowidx + p0 : (const int *) 0;                    \
            _Pragma("GCC unroll 16") for (int q = 0; q < M; q++) {                \
                d[q] = _mm512_maskz_loadu_##PS(mk, D + q * ldd + j);             \
                acc[q] = p0 == 0 ? _mm512_setzero_##PS()                         \
                                 : _mm512_maskz_loadu_##PS(mk, Z + q * ldz + j); \
            }                                                                    \
            /* RB rows at a time: each row's sum over q is a chain of M      \
               multiply-adds, and rows side by side overlap them */              \
            for (ptrdiff_t p = 0; p < pn; p += RB) {                             \
                V sum[RB], wv[RB];                                               \
                int rb = pn - p < RB ? (int) (pn - p) : RB;                      \
                if (rb < RB) {  /* the block's last rows, one at a time */      \
                    for (int i = 0; i < rb; i++) {                               \
                        V s1 = _mm512_setzero_##PS(), w1;                        \
                        const T *xr = xi_ ? XT + (ptrdiff_t) wr[p + i] * M : x;  \
                        const T *xnr = xi_ ? XTn + (ptrdiff_t) wr[p + i] * M : xn; \
                        if (IDX) w = W + wr[p + i] * ldw + j;                    \
                        if (chain_) s1 = _mm512_maskz_loadu_##PS(mk, w);         \
                        _Pragma("GCC unroll 16") for (int q = 0; q < M; q++)      \
                            s1 = _mm512_fmadd_##PS(_mm512_set1_##PS(xr[q]), d[q], s1); \
                        if (chain_) {                                            \
                            _mm512_mask_storeu_##PS(w, mk, s1);                  \
                            w1 = s1;                                             \
                        } else                                                   \
                            w1 = nncore_wstep_##SFX(MOM, mk, w, v, s1, c);       \
                        _Pragma("GCC unroll 16") for (int r = 0; r < M; r++)      \
                            acc[r] = _mm512_fmadd_##PS(_mm512_set1_##PS(xnr[r]), w1, acc[r]); \
                        w += ldw; x += M; xn += M;                               \
                        if (MOM) v += ldw;                                       \
                    }                                                            \
                    break;                                                       \
                }                                                                \
                /* the first column's pass fetches the rows of the mini-    \
                   batch after the next, a cache line of each per LANES rows \
                   (IDX: spread over the list's rows) */                         \
                if (j == 0) NNCORE_SF_AHEAD(IDX, LANES, p0 + p)                  \
                _Pragma("GCC unroll 4") for (int i = 0; i < RB; i++) {            \
                    NNCORE_SF_NEXT_LINE(IDX, MOM, LANES)                         \
                    sum[i] = chain_                                              \
                        ? _mm512_maskz_loadu_##PS(mk, W + wr[p + i] * ldw + j)   \
                        : _mm512_setzero_##PS();                                 \
                }                                                                \
                _Pragma("GCC unroll 16") for (int q = 0; q < M; q++)              \
                _Pragma("GCC unroll 4") for (int i = 0; i < RB; i++)              \
                    sum[i] = _mm512_fmadd_##PS(_mm512_set1_##PS(                \
                        xi_ ? XT[(ptrdiff_t) wr[p + i] * M + q] : x[i * M + q]), d[q], sum[i]); \
                _Pragma("GCC unroll 4") for (int i = 0; i < RB; i++)              \
                    if (chain_) {                                                \
                        _mm512_mask_storeu_##PS(W + wr[p + i] * ldw + j, mk, sum[i]); \
                        wv[i] = sum[i];                                          \
                    } else                                                       \
                        wv[i] = nncore_wstep_##SFX(MOM, mk, IDX ? W + wr[p + i] * ldw + j : w + i * ldw, \
                                                   MOM ? v + i * ldw : v, sum[i], c); \
                _Pragma("GCC unroll 4") for (int i = 0; i < RB; i++)              \
                _Pragma("GCC unroll 16") for (int r = 0; r < M; r++)              \
                    acc[r] = _mm512_fmadd_##PS(_mm512_set1_##PS(               \
                        xi_ ? XTn[(ptrdiff_t) wr[p + i] * M + r] : xn[i * M + r]), wv[i], acc[r]); \
                w += RB * ldw; x += RB * M; xn += RB * M;                        \
                if (MOM) v += RB * ldw;                                          \
            }                                                                    \
            _Pragma("GCC unroll 16") for (int r = 0; r < M; r++)                  \
                _mm512_mask_storeu_##PS(Z + r * ldz + j, mk, acc[r]);            \
        }                                                                        \
    }                                                                            \
}
typedef void (*nncore_stepfwd_d_fn)(ptrdiff_t, ptrdiff_t, const double *, const double *,
        ptrdiff_t, const double *, const double *, double *, double *, ptrdiff_t,
        double *, ptrdiff_t, const double *const *, int, const int *, ptrdiff_t);
typedef void (*nncore_stepfwd_s_fn)(ptrdiff_t, ptrdiff_t, const float *, const float *,
        ptrdiff_t, const float *, const float *, float *, float *, ptrdiff_t,
        float *, ptrdiff_t, const float *const *, int, const int *, ptrdiff_t);
#define NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, M)                          \
    NNCORE_STEPFWD_M(T, V, MASK, SFX, LANES, PS, M, 0, 0, nncore_stepfwd_##SFX##_##M) \
    NNCORE_STEPFWD_M(T, V, MASK, SFX, LANES, PS, M, 1, 0, nncore_stepfwd_m_##SFX##_##M) \
    NNCORE_STEPFWD_M(T, V, MASK, SFX, LANES, PS, M, 0, 1, nncore_stepfwd_i_##SFX##_##M)
#define NNCORE_STEPFWD(T, V, MASK, SFX, LANES, PS)                               \
    NNCORE_WSTEP(T, V, MASK, SFX, PS)                                            \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 1)                              \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 2)                              \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 3)                              \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 4)                              \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 5)                              \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 6)                              \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 7)                              \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 8)                              \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 9)                              \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 10)                             \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 11)                             \
    NNCORE_STEPFWD_2(T, V, MASK, SFX, LANES, PS, 12)                             \
static const nncore_stepfwd_##SFX##_fn nncore_stepfwds_##SFX[3][NNCORE_FUSE_MAX] = { \
   {nncore_stepfwd_##SFX##_1, nncore_stepfwd_##SFX##_2, nncore_stepfwd_##SFX##_3, \
    nncore_stepfwd_##SFX##_4, nncore_stepfwd_##SFX##_5, nncore_stepfwd_##SFX##_6, \
    nncore_stepfwd_##SFX##_7, nncore_stepfwd_##SFX##_8, nncore_stepfwd_##SFX##_9, \
    nncore_stepfwd_##SFX##_10, nncore_stepfwd_##SFX##_11, nncore_stepfwd_##SFX##_12}, \
   {nncore_stepfwd_m_##SFX##_1, nncore_stepfwd_m_##SFX##_2, nncore_stepfwd_m_##SFX##_3, \
    nncore_stepfwd_m_##SFX##_4, nncore_stepfwd_m_##SFX##_5, nncore_stepfwd_m_##SFX##_6, \
    nncore_stepfwd_m_##SFX##_7, nncore_stepfwd_m_##SFX##_8, nncore_stepfwd_m_##SFX##_9, \
    nncore_stepfwd_m_##SFX##_10, nncore_stepfwd_m_##SFX##_11,                    \
    nncore_stepfwd_m_##SFX##_12},                                                \
   {nncore_stepfwd_i_##SFX##_1, nncore_stepfwd_i_##SFX##_2, nncore_stepfwd_i_##SFX##_3, \
    nncore_stepfwd_i_##SFX##_4, nncore_stepfwd_i_##SFX##_5, nncore_stepfwd_i_##SFX##_6, \
    nncore_stepfwd_i_##SFX##_7, nncore_stepfwd_i_##SFX##_8, nncore_stepfwd_i_##SFX##_9, \
    nncore_stepfwd_i_##SFX##_10, nncore_stepfwd_i_##SFX##_11,                    \
    nncore_stepfwd_i_##SFX##_12}};                                               \
/* coef: {alpha, beta} if Vel is NULL, else momentum's {mu, cg, c2, a, b}      \
   (Vel then holds W's velocities, in W's layout).  With rowidx (plain      \
   steps only), W's P rows are rows rowidx[0..P-1] of W, XT and XTn packed  \
   alike (m = 1: the input rows, of all n_full inputs, read at those rows), \
   and the ahead rows hold n_full inputs. */                                  \
static void nncore_step_forward_##SFX(ptrdiff_t P, ptrdiff_t N, int m,           \
        const T *XT, const T *D, ptrdiff_t ldd, const T *coef, const T *XTn,     \
        T *W, T *Vel, ptrdiff_t ldw, T *Z, ptrdiff_t ldz, const T *const *ahead, \
        int n_ahead, const int *rowidx, ptrdiff_t n_full) {                      \
    nncore_stepfwds_##SFX[rowidx ? 2 : Vel != 0][m - 1](P, N, XT, D, ldd, coef,  \
        XTn, W, Vel, ldw, Z, ldz, ahead, n_ahead, rowidx, n_full);               \
}

NNCORE_STEPFWD(double, __m512d, __mmask8, d, 8, pd)
NNCORE_STEPFWD(float, __m512, __mmask16, s, 16, ps)

/* A tiny product (the output layer's at mini-batch 1 or a few: 784-30-10
   has 300 multiply-adds), where a BLAS call costs more than the arithmetic:
   row-major C (M x N) = alpha op(A) . op(B) + beta C, op(B) = B (!tb: C's
   rows from B's rows, by vectors along N) or B^T (tb, with A not
   transposed: a dot product along K per entry).  C is not read where beta
   is 0, A and B not where alpha is 0.  Where C's rows come from B's, each
   entry is beta C + (alpha sum), the sum in the order of k, as the fused
   step rounds it (and BLAS did: an epoch that stops at a monitoring point
   gives the same weights as one that does not).  Returns 0, doing
   nothing, for op(A) = A^T with op(B) = B^T. */
#define NNCORE_SMALL_GEMM(T, V, MASK, SFX, LANES, PS)                            \
NNCORE_TARGET static int nncore_small_gemm_##SFX(int ta, int tb, ptrdiff_t M,    \
        ptrdiff_t N, ptrdiff_t K, T alpha, const T *A, ptrdiff_t lda,            \
        const T *B, ptrdiff_t ldb, T beta, T *C, ptrdiff_t ldc) {                \
    if (ta && tb && alpha != 0) return 0;                                        \
    V vb = _mm512_set1_##PS(beta);                                               \
    for (ptrdiff_t i = 0; i < M; i++) {                                          \
        T *c = C + i * ldc;                                                      \
        if (alpha == 0 || !tb) {                                                 \
            for (ptrdiff_t j = 0; j < N; j += LANES) {                           \
                MASK mk = N - j >= LANES ? (MASK) ~(MASK) 0                      \
                                         : (MASK) ((1u << (N - j)) - 1);         \
                V acc = _mm512_setzero_##PS();                                   \
                if (alpha != 0)                                                  \
                    for (ptrdiff_t k = 0; k < K; k++)                            \
                        acc = _mm512_fmadd_##PS(_mm512_set1_##PS(                \
                                  ta ? A[k * lda + i] : A[i * lda + k]),         \
                                  _mm512_maskz_loadu_##PS(mk, B + k * ldb + j), acc); \
                acc = _mm512_mul_##PS(_mm512_set1_##PS(alpha), acc);             \
                /* beta C + (alpha sum), as the fused step rounds it */          \
                if (beta != 0)                                                   \
                    acc = _mm512_fmadd_##PS(vb, _mm512_maskz_loadu_##PS(mk, c + j), acc); \
                _mm512_mask_storeu_##PS(c + j, mk, acc);                         \
            }                                                                    \
            continue;                                                            \
        }                                                                        \
        for (ptrdiff_t j = 0; j < N; j++) {                                      \
            V acc = _mm512_setzero_##PS();                                       \
            for (ptrdiff_t k = 0; k < K; k += LANES) {                           \
                MASK mk = K - k >= LANES ? (MASK) ~(MASK) 0                      \
                                         : (MASK) ((1u << (K - k)) - 1);         \
                acc = _mm512_fmadd_##PS(_mm512_maskz_loadu_##PS(mk, A + i * lda + k), \
                                        _mm512_maskz_loadu_##PS(mk, B + j * ldb + k), acc); \
            }                                                                    \
            T t = alpha * _mm512_reduce_add_##PS(acc);                           \
            c[j] = beta == 0 ? t : beta * c[j] + t;                              \
        }                                                                        \
    }                                                                            \
    return 1;                                                                    \
}

NNCORE_SMALL_GEMM(double, __m512d, __mmask8, d, 8, pd)
NNCORE_SMALL_GEMM(float, __m512, __mmask16, s, 16, ps)

#else  /* no kernels: the callers use BLAS */
#define NNCORE_HAVE_KERNELS 0
static int nncore_kernels_available(void) { return 0; }
static void nncore_bcast_d(ptrdiff_t P, ptrdiff_t Q, ptrdiff_t N, double alpha,
        const double *const *rows, int by_q, const double *R, ptrdiff_t ldr,
        double beta, double *C, ptrdiff_t ldc, const int *idx, nncore_fetch *fetch) {
    (void) P; (void) Q; (void) N; (void) alpha; (void) rows; (void) by_q;
    (void) R; (void) ldr; (void) beta; (void) C; (void) ldc; (void) idx; (void) fetch;
}
static void nncore_bcast_s(ptrdiff_t P, ptrdiff_t Q, ptrdiff_t N, float alpha,
        const float *const *rows, int by_q, const float *R, ptrdiff_t ldr,
        float beta, float *C, ptrdiff_t ldc, const int *idx, nncore_fetch *fetch) {
    (void) P; (void) Q; (void) N; (void) alpha; (void) rows; (void) by_q;
    (void) R; (void) ldr; (void) beta; (void) C; (void) ldc; (void) idx; (void) fetch;
}
static ptrdiff_t nncore_nonzero_d(const double *const *rows, ptrdiff_t m, ptrdiff_t off,
        ptrdiff_t n, int *idx) {
    (void) rows; (void) m; (void) off; (void) n; (void) idx;
    return -1;
}
static int nncore_all_finite_d(const double *x, ptrdiff_t n) {
    (void) x; (void) n;
    return 0;
}
static int nncore_group_vp = 0;
static ptrdiff_t nncore_group_words(ptrdiff_t P) { (void) P; return 16; }
static void nncore_group_rows_d(ptrdiff_t m, ptrdiff_t P, const double *const *rows, int h,
        ptrdiff_t window, int *perm, uint64_t *bits) {
    (void) P; (void) rows; (void) h; (void) window; (void) bits;
    for (ptrdiff_t i = 0; i < m; i++) perm[i] = (int) i;
}
static void nncore_group_rows_s(ptrdiff_t m, ptrdiff_t P, const float *const *rows, int h,
        ptrdiff_t window, int *perm, uint64_t *bits) {
    (void) P; (void) rows; (void) h; (void) window; (void) bits;
    for (ptrdiff_t i = 0; i < m; i++) perm[i] = (int) i;
}
static int nncore_all_finite_s(const float *x, ptrdiff_t n) {
    (void) x; (void) n;
    return 0;
}
static ptrdiff_t nncore_nonzero_s(const float *const *rows, ptrdiff_t m, ptrdiff_t off,
        ptrdiff_t n, int *idx) {
    (void) rows; (void) m; (void) off; (void) n; (void) idx;
    return -1;
}
static void nncore_step_d(double *x, const double *g, const double *g2, ptrdiff_t n,
        double a, double s) {
    (void) x; (void) g; (void) g2; (void) n; (void) a; (void) s;
}
static void nncore_step_s(float *x, const float *g, const float *g2, ptrdiff_t n,
        float a, float s) {
    (void) x; (void) g; (void) g2; (void) n; (void) a; (void) s;
}
static void nncore_momentum_d(double *x, double *v, const double *g, ptrdiff_t n,
        int weights, double mu, double cg, double c2, double c1, double a, double b) {
    (void) x; (void) v; (void) g; (void) n; (void) weights; (void) mu; (void) cg;
    (void) c2; (void) c1; (void) a; (void) b;
}
static void nncore_momentum_s(float *x, float *v, const float *g, ptrdiff_t n,
        int weights, float mu, float cg, float c2, float c1, float a, float b) {
    (void) x; (void) v; (void) g; (void) n; (void) weights; (void) mu; (void) cg;
    (void) c2; (void) c1; (void) a; (void) b;
}
static void nncore_step_forward_d(ptrdiff_t P, ptrdiff_t N, int m, const double *XT,
        const double *D, ptrdiff_t ldd, const double *coef, const double *XTn, double *W,
        double *Vel, ptrdiff_t ldw, double *Z, ptrdiff_t ldz, const double *const *ahead,
        int n_ahead, const int *rowidx, ptrdiff_t n_full) {
    (void) P; (void) N; (void) m; (void) XT; (void) D; (void) ldd; (void) coef;
    (void) XTn; (void) W; (void) Vel; (void) ldw; (void) Z; (void) ldz; (void) ahead;
    (void) n_ahead; (void) rowidx; (void) n_full;
}
static void nncore_step_forward_s(ptrdiff_t P, ptrdiff_t N, int m, const float *XT,
        const float *D, ptrdiff_t ldd, const float *coef, const float *XTn, float *W,
        float *Vel, ptrdiff_t ldw, float *Z, ptrdiff_t ldz, const float *const *ahead,
        int n_ahead, const int *rowidx, ptrdiff_t n_full) {
    (void) P; (void) N; (void) m; (void) XT; (void) D; (void) ldd; (void) coef;
    (void) XTn; (void) W; (void) Vel; (void) ldw; (void) Z; (void) ldz; (void) ahead;
    (void) n_ahead; (void) rowidx; (void) n_full;
}
static ptrdiff_t nncore_listed_tiles(ptrdiff_t M, ptrdiff_t N, int lanes) {
    (void) M; (void) N; (void) lanes;
    return 0;
}
static ptrdiff_t nncore_tile_lists_d(ptrdiff_t M, ptrdiff_t P, ptrdiff_t N,
        const double *const *rows, int *lists, int *counts, int *idx) {
    (void) M; (void) P; (void) N; (void) rows; (void) lists; (void) counts; (void) idx;
    return -1;
}
static void nncore_forward_tiles_d(ptrdiff_t M, ptrdiff_t P, ptrdiff_t N,
        const double *const *rows, const double *W, ptrdiff_t ldw, double *Z,
        ptrdiff_t ldz, const int *lists, const int *counts) {
    (void) M; (void) P; (void) N; (void) rows; (void) W; (void) ldw; (void) Z;
    (void) ldz; (void) lists; (void) counts;
}
static ptrdiff_t nncore_tile_lists_s(ptrdiff_t M, ptrdiff_t P, ptrdiff_t N,
        const float *const *rows, int *lists, int *counts, int *idx) {
    (void) M; (void) P; (void) N; (void) rows; (void) lists; (void) counts; (void) idx;
    return -1;
}
static void nncore_forward_tiles_s(ptrdiff_t M, ptrdiff_t P, ptrdiff_t N,
        const float *const *rows, const float *W, ptrdiff_t ldw, float *Z,
        ptrdiff_t ldz, const int *lists, const int *counts) {
    (void) M; (void) P; (void) N; (void) rows; (void) W; (void) ldw; (void) Z;
    (void) ldz; (void) lists; (void) counts;
}
static void nncore_gradient_tiles_d(ptrdiff_t M, ptrdiff_t P, ptrdiff_t N, double alpha,
        const double *const *rows, const double *D, ptrdiff_t ldd, double beta, double *C,
        ptrdiff_t ldc, const int *lists, const int *counts, nncore_fetch *fetch) {
    (void) M; (void) P; (void) N; (void) alpha; (void) rows; (void) D; (void) ldd;
    (void) beta; (void) C; (void) ldc; (void) lists; (void) counts; (void) fetch;
}
static void nncore_gradient_tiles_s(ptrdiff_t M, ptrdiff_t P, ptrdiff_t N, float alpha,
        const float *const *rows, const float *D, ptrdiff_t ldd, float beta, float *C,
        ptrdiff_t ldc, const int *lists, const int *counts, nncore_fetch *fetch) {
    (void) M; (void) P; (void) N; (void) alpha; (void) rows; (void) D; (void) ldd;
    (void) beta; (void) C; (void) ldc; (void) lists; (void) counts; (void) fetch;
}
static void nncore_pack_s(float *XT, const float *const *rows, int m, ptrdiff_t n) {
    (void) XT; (void) rows; (void) m; (void) n;
}
static void nncore_pack_d(double *XT, const double *const *rows, int m, ptrdiff_t n) {
    (void) XT; (void) rows; (void) m; (void) n;
}
static void nncore_sigmoid_d(double *x, ptrdiff_t n) { (void) x; (void) n; }
static void nncore_sigmoid_s(float *x, ptrdiff_t n) { (void) x; (void) n; }
static int nncore_small_gemm_d(int ta, int tb, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,
        double alpha, const double *A, ptrdiff_t lda, const double *B, ptrdiff_t ldb,
        double beta, double *C, ptrdiff_t ldc) {
    (void) ta; (void) tb; (void) M; (void) N; (void) K; (void) alpha; (void) A;
    (void) lda; (void) B; (void) ldb; (void) beta; (void) C; (void) ldc;
    return 0;
}
static int nncore_small_gemm_s(int ta, int tb, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,
        float alpha, const float *A, ptrdiff_t lda, const float *B, ptrdiff_t ldb,
        float beta, float *C, ptrdiff_t ldc) {
    (void) ta; (void) tb; (void) M; (void) N; (void) K; (void) alpha; (void) A;
    (void) lda; (void) B; (void) ldb; (void) beta; (void) C; (void) ldc;
    return 0;
}
#endif

#endif
