# Native core of nncore: feedforward, mini-batch backprop and whole SGD
# epochs for fully connected networks, in float32 or float64.
#
# Conventions (shared with src/nncore/native.py):
#   * examples are rows: X is (n_examples, sizes[0]), C-contiguous;
#   * all parameters live in one flat buffer `theta`: first every weight
#     matrix in layer order, each (sizes[l+1], sizes[l]) row-major (the
#     (out, in) shape of network2), then every bias vector in layer order;
#   * gradient and velocity buffers have the same layout as `theta`
#     (an epoch may compute on a working copy in which layer 1's weights
#     are held transposed, see first_transposed; callers never see it).
#
# The def functions check shapes and indices once, then run entirely in C
# with the GIL released.  Matrix products go to our own kernels where the
# CPU has AVX-512 and they measured faster (nncore_kernels.h), otherwise
# to BLAS through scipy's function pointers; everything element-wise is
# fused into single passes.

from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

import threading

import numpy as np

cdef extern from "Python.h":
    ctypedef struct PyObject
    int PyErr_CheckSignals() except -1

cdef extern from *:
    """
    /* A barrier for the two threads of a split epoch: spin briefly (the two
       halves of a mini-batch take about as long), then sleep on a condition
       variable, so a thread that lost its core does not burn the other. */
    #include <pthread.h>
    #if defined(__x86_64__) || defined(__i386__)
    #include <immintrin.h>
    #define NNCORE_PAUSE() _mm_pause()
    #else
    #define NNCORE_PAUSE() ((void)0)
    #endif
    #define NNCORE_SPIN 4000

    /* Ask for the cache lines of [p, p + bytes) ahead of use. */
    static inline void nncore_prefetch(const void *p, size_t bytes) {
        const char *c = (const char *) p;
        size_t o;
        for (o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, 3);
    }
    /* Subnormal numbers (below 1.2e-38 in float32) cost each instruction
       that meets them a microcode assist of about a hundred cycles.  Deep
       in saturated sigmoids they are common: a hidden neuron with z below
       about -75 gives a float32 delta below the normal range, and every
       product of layer 1's step that uses it is slowed.  An epoch therefore
       runs with subnormal results flushed to zero and subnormal operands
       read as zero (SSE's FTZ and DAZ bits); it restores the caller's mode
       when it returns and whenever Python code may run in between (signal
       handlers).  A subnormal number changes a sum only when multiplied by
       one above about 1e30 (float32; 1e290 in float64), which training never
       meets, so only the time changes.  Elsewhere this is a no-op. */
    #if defined(__x86_64__) || defined(__i386__)
    #define NNCORE_FTZ_DAZ 0x8040u
    #define NNCORE_FLUSHES 1
    static inline unsigned nncore_flush_subnormals(void) {
        unsigned old = _mm_getcsr();
        _mm_setcsr(old | NNCORE_FTZ_DAZ);
        return old;
    }
    static inline void nncore_restore_fp(unsigned old) { _mm_setcsr(old); }
    static inline int nncore_subnormals_flushed(void) {
        return (_mm_getcsr() & NNCORE_FTZ_DAZ) == NNCORE_FTZ_DAZ;
    }
    static inline void nncore_set_subnormals_flushed(int on) {
        unsigned mode = _mm_getcsr();
        _mm_setcsr(on ? mode | NNCORE_FTZ_DAZ : mode & ~NNCORE_FTZ_DAZ);
    }
    #else
    #define NNCORE_FLUSHES 0
    static inline unsigned nncore_flush_subnormals(void) { return 0; }
    static inline void nncore_restore_fp(unsigned old) { (void) old; }
    static inline int nncore_subnormals_flushed(void) { return 0; }
    static inline void nncore_set_subnormals_flushed(int on) { (void) on; }
    #endif

    typedef struct {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        int count, parties, gen;
    } nncore_barrier;

    static int nncore_barrier_init(nncore_barrier *b, int parties) {
        b->count = 0;
        b->parties = parties;
        b->gen = 0;
        if (pthread_mutex_init(&b->mu, NULL) != 0) return -1;
        if (pthread_cond_init(&b->cv, NULL) != 0) {
            pthread_mutex_destroy(&b->mu);
            return -1;
        }
        return 0;
    }

    static void nncore_barrier_destroy(nncore_barrier *b) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
    }

    static void nncore_barrier_wait(nncore_barrier *b) {
        /* No phase can end without this thread, so gen read here is ours. */
        int gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
        int i;
        pthread_mutex_lock(&b->mu);
        if (++b->count == b->parties) {
            b->count = 0;
            __atomic_store_n(&b->gen, gen + 1, __ATOMIC_RELEASE);
            pthread_cond_broadcast(&b->cv);
            pthread_mutex_unlock(&b->mu);
            return;
        }
        pthread_mutex_unlock(&b->mu);
        for (i = 0; i < NNCORE_SPIN; i++) {
            if (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) != gen) return;
            NNCORE_PAUSE();
        }
        pthread_mutex_lock(&b->mu);
        while (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen)
            pthread_cond_wait(&b->cv, &b->mu);
        pthread_mutex_unlock(&b->mu);
    }
    """
    ctypedef struct nncore_barrier:
        pass
    int nncore_barrier_init(nncore_barrier *b, int parties) nogil
    void nncore_barrier_destroy(nncore_barrier *b) nogil
    void nncore_barrier_wait(nncore_barrier *b) nogil
    void nncore_prefetch(const void *p, size_t bytes) nogil
    unsigned nncore_flush_subnormals() nogil
    void nncore_restore_fp(unsigned old) nogil
    int nncore_subnormals_flushed() nogil
    int NNCORE_FLUSHES
    void nncore_set_subnormals_flushed(int on) nogil

cdef extern from *:
    """
    #ifndef NNCORE_BOUNDSCHECK
    #define NNCORE_BOUNDSCHECK 0
    #endif
    #ifndef NNCORE_SANITIZE
    #define NNCORE_SANITIZE 0
    #endif
    """
    int NNCORE_BOUNDSCHECK
    int NNCORE_SANITIZE

cdef extern from "nncore_kernels.h":
    ctypedef struct nncore_fetch:
        const void **rows
        Py_ssize_t n_rows, lines, mask, row, line, per
        int low
    int NNCORE_HAVE_KERNELS
    int block_fetch
    int fetch_low
    int wide_groups
    int unmasked_rows
    int nncore_kernels_available() nogil
    void nncore_bcast_d(Py_ssize_t P, Py_ssize_t Q, Py_ssize_t N, double alpha,
                        const double **rows, int by_q, const double *R,
                        Py_ssize_t ldr, double beta, double *C, Py_ssize_t ldc,
                        const int *idx, nncore_fetch *fetch) nogil
    void nncore_bcast_s(Py_ssize_t P, Py_ssize_t Q, Py_ssize_t N, float alpha,
                        const float **rows, int by_q, const float *R,
                        Py_ssize_t ldr, float beta, float *C, Py_ssize_t ldc,
                        const int *idx, nncore_fetch *fetch) nogil
    Py_ssize_t nncore_nonzero_d(const double **rows, Py_ssize_t m, Py_ssize_t off,
                                Py_ssize_t n, int *idx) nogil
    Py_ssize_t nncore_nonzero_s(const float **rows, Py_ssize_t m, Py_ssize_t off,
                                Py_ssize_t n, int *idx) nogil
    Py_ssize_t nncore_listed_tiles(Py_ssize_t M, Py_ssize_t N, int lanes) nogil
    Py_ssize_t nncore_group_words(Py_ssize_t P) nogil
    int nncore_group_vp
    void nncore_group_rows_d(Py_ssize_t m, Py_ssize_t P, const double **rows, int h,
                             Py_ssize_t window, int *perm, uint64_t *bits) nogil
    void nncore_group_rows_s(Py_ssize_t m, Py_ssize_t P, const float **rows, int h,
                             Py_ssize_t window, int *perm, uint64_t *bits) nogil
    Py_ssize_t nncore_tile_lists_d(Py_ssize_t M, Py_ssize_t P, Py_ssize_t N,
                                   const double **rows, int *lists, int *counts,
                                   int *idx) nogil
    void nncore_forward_tiles_d(Py_ssize_t M, Py_ssize_t P, Py_ssize_t N,
                                const double **rows, const double *W, Py_ssize_t ldw,
                                double *Z, Py_ssize_t ldz, const int *lists,
                                const int *counts) nogil
    Py_ssize_t nncore_tile_lists_s(Py_ssize_t M, Py_ssize_t P, Py_ssize_t N,
                                   const float **rows, int *lists, int *counts,
                                   int *idx) nogil
    void nncore_forward_tiles_s(Py_ssize_t M, Py_ssize_t P, Py_ssize_t N,
                                const float **rows, const float *W, Py_ssize_t ldw,
                                float *Z, Py_ssize_t ldz, const int *lists,
                                const int *counts) nogil
    void nncore_gradient_tiles_d(Py_ssize_t M, Py_ssize_t P, Py_ssize_t N, double alpha,
                                 const double **rows, const double *D, Py_ssize_t ldd,
                                 double beta, double *C, Py_ssize_t ldc, const int *lists,
                                 const int *counts, nncore_fetch *fetch) nogil
    void nncore_gradient_tiles_s(Py_ssize_t M, Py_ssize_t P, Py_ssize_t N, float alpha,
                                 const float **rows, const float *D, Py_ssize_t ldd,
                                 float beta, float *C, Py_ssize_t ldc, const int *lists,
                                 const int *counts, nncore_fetch *fetch) nogil
    void nncore_pack_d(double *XT, const double **rows, int m, Py_ssize_t n) nogil
    void nncore_pack_s(float *XT, const float **rows, int m, Py_ssize_t n) nogil
    int nncore_all_finite_d(const double *x, Py_ssize_t n) nogil
    int nncore_all_finite_s(const float *x, Py_ssize_t n) nogil
    void nncore_step_d(double *x, const double *g, const double *g2, Py_ssize_t n,
                       double a, double s) nogil
    void nncore_step_s(float *x, const float *g, const float *g2, Py_ssize_t n,
                       float a, float s) nogil
    void nncore_momentum_d(double *x, double *v, const double *g, Py_ssize_t n,
                           int weights, double mu, double cg, double c2, double c1,
                           double a, double b) nogil
    void nncore_momentum_s(float *x, float *v, const float *g, Py_ssize_t n,
                           int weights, float mu, float cg, float c2, float c1,
                           float a, float b) nogil
    int NNCORE_FUSE_MAX
    void nncore_step_forward_d(Py_ssize_t P, Py_ssize_t N, int m, const double *XT,
                               const double *D, Py_ssize_t ldd, const double *coef,
                               const double *XTn, double *W, double *Vel, Py_ssize_t ldw,
                               double *Z, Py_ssize_t ldz, const double **ahead,
                               int n_ahead, const int *rowidx, Py_ssize_t n_full) nogil
    void nncore_step_forward_s(Py_ssize_t P, Py_ssize_t N, int m, const float *XT,
                               const float *D, Py_ssize_t ldd, const float *coef,
                               const float *XTn, float *W, float *Vel, Py_ssize_t ldw,
                               float *Z, Py_ssize_t ldz, const float **ahead,
                               int n_ahead, const int *rowidx, Py_ssize_t n_full) nogil
    void nncore_sigmoid_d(double *x, Py_ssize_t n) nogil
    int nncore_small_gemm_d(int ta, int tb, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                            double alpha, const double *A, Py_ssize_t lda, const double *B,
                            Py_ssize_t ldb, double beta, double *C, Py_ssize_t ldc) nogil
    int nncore_small_gemm_s(int ta, int tb, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                            float alpha, const float *A, Py_ssize_t lda, const float *B,
                            Py_ssize_t ldb, float beta, float *C, Py_ssize_t ldc) nogil
    void nncore_sigmoid_s(float *x, Py_ssize_t n) nogil

# Whether the products that suit them go to our own kernels (see
# nncore_kernels.h) or all go to BLAS: on when the CPU has AVX-512.
cdef bint use_kernels = nncore_kernels_available() != 0

#: How this copy of the core was compiled: with Cython's bounds checks, and
#: with AddressSanitizer (both off in a normal build).
BUILD_CHECKS = {"boundscheck": bool(NNCORE_BOUNDSCHECK), "sanitize": bool(NNCORE_SANITIZE)}

# Codes shared with the Python layer (src/nncore/native.py maps names to them).
COST_QUADRATIC = 0
COST_CROSS_ENTROPY = 1
COST_LOG_LIKELIHOOD = 2
ACT_SIGMOID = 0
ACT_TANH = 1
ACT_RELU = 2
ACT_LINEAR = 3
ACT_SOFTMAX = 4

cdef enum:
    QUADRATIC = 0
    CROSS_ENTROPY = 1
    LOG_LIKELIHOOD = 2

cdef enum:
    SIGMOID = 0
    TANH = 1
    RELU = 2
    LINEAR = 3
    SOFTMAX = 4

cdef enum:
    # Rows per block when evaluating many examples (bounds the workspace and
    # keeps each block's activations in cache).
    FORWARD_BLOCK = 512
    MAX_LAYERS = 64
    NNCORE_FUSE_MAX_C = 12       # = NNCORE_FUSE_MAX (nncore_kernels.h)
    # Mini-batches between two looks at pending signals (Ctrl-C) while
    # training on the main thread.
    SIGNAL_EVERY = 16
    # Rows of the next mini-batch whose inputs are fetched into cache while
    # the current one is computed, when it is gathered for BLAS (the
    # shuffled rows are scattered over the whole training set, so each
    # would otherwise start with a cache miss).  Our kernel fetches the
    # rows of its next tile itself, as it goes (see nncore_kernels.h).
    PREFETCH_ROWS = 32
    # Mini-batches of more examples than CHUNKED_ABOVE, when our kernel
    # reads the inputs in place, pass through the network CHUNK_ROWS
    # examples at a time: a chunk's rows (0.4 MB of 784 doubles), layer 1's
    # weights and its gradient (0.6 MB each at 100 neurons) stay in the 2 MB
    # L2 from the forward product to the weight gradient (chunks of 64 took
    # 0.89-0.95x the time of chunks of 128 at mini-batches 300 and 1000).
    CHUNK_ROWS = 64
    CHUNKED_ABOVE = 128
    # ... but only where layer 1's weights take at most CHUNK_W1_MAX bytes:
    # each chunk reads them and adds into their gradient, which together
    # stream through the L3 once a chunk; larger ones pass the whole
    # mini-batch at once, its gradient fused into the step as at 100 (one
    # thread, mini-batch 1000, against chunks of 64: 784-500-10 in float64
    # (3.1 MB) 0.92x, 784-800-10 in float64 (5.0 MB) 0.90x, 784-1200-10 and
    # 784-1600-10 in float32 (3.8 and 5.0 MB) 0.81x and 0.75x; 784-800-10 in
    # float32 (2.5 MB) 1.05x and 784-300-10 in float64 (1.9 MB) 1.23x).
    CHUNK_W1_MAX = 11 << 18   # 2.75 MB
    # Row pointers made at a time for our kernel on a strided matrix (see
    # bcast_strided): a kilobyte of stack, the kernel's block of the sum.
    POINTER_BLOCK = 128
    # The split by inputs of a network with one hidden layer shares the
    # layers above between its threads, half of the rows each, from
    # mini-batches of ROWS_ABOVE_MIN on (784-30-10 and 784-100-10: 0.90-0.97x
    # the time at 100 and 128 with thread 0 alone; at 10 and 16, 1.0-1.1x:
    # the products of half as many rows cost as much as the whole ones).
    ROWS_ABOVE_MIN = 32


cdef struct Net:
    # The shape of a network and the options of a training call.
    Py_ssize_t n_layers
    const Py_ssize_t *sizes
    const Py_ssize_t *w_off
    const Py_ssize_t *b_off
    Py_ssize_t n_weights         # weights occupy theta[0:n_weights]
    Py_ssize_t n_params
    int hidden                   # activation of the hidden layers
    int output                   # activation of the output layer
    int cost
    double dropout               # probability of dropping a hidden neuron
    uint64_t seed                # for the dropout masks
    bint first_t                 # layer 1's weights held transposed, (in, out)
    Py_ssize_t ld1               # ... in rows of ld1 >= sizes[1] values


# ---------------------------------------------------------------------------
# BLAS

# Products of at most GEMM_TINY multiply-adds go to nncore_small_gemm,
# where the CPU has our kernels: a BLAS call costs more than their
# arithmetic (the output layer's products at mini-batch 1 and 10).
cdef enum:
    GEMM_TINY = 4096


cdef inline void gemm(char ta, char tb, int M, int N, int K,
                      floating alpha, const floating *A, int lda,
                      const floating *B, int ldb, floating beta,
                      floating *C, int ldc) noexcept nogil:
    """Row-major C (M x N) = alpha * op(A) (M x K) . op(B) (K x N) + beta * C.

    BLAS is column-major: a row-major matrix is its transpose there, so we
    ask for C^T = op(B)^T . op(A)^T, which swaps the operands and keeps the
    transpose flags.  No copy is made.
    """
    if M <= 0 or N <= 0 or K <= 0:
        return
    if use_kernels and <Py_ssize_t> M * N * K <= GEMM_TINY:
        if floating is float:
            if nncore_small_gemm_s(ta == c'T', tb == c'T', M, N, K, alpha, A, lda, B, ldb,
                                   beta, C, ldc):
                return
        elif nncore_small_gemm_d(ta == c'T', tb == c'T', M, N, K, alpha, A, lda, B, ldb,
                                 beta, C, ldc):
            return
    if floating is float:
        sgemm(&tb, &ta, &N, &M, &K, &alpha, <float *> B, &ldb,
              <float *> A, &lda, &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &N, &M, &K, &alpha, <double *> B, &ldb,
              <double *> A, &lda, &beta, C, &ldc)


cdef inline bint kernel_suits(Py_ssize_t P, Py_ssize_t Q, Py_ssize_t N,
                              bint single) noexcept nogil:
    """Whether our kernel beats BLAS on this product (measured on the
    products and epochs of 784-h-10 networks, h = 30, 100, 800, with 5 to
    1000 rows): when the sum is long enough to hide the cost of writing C
    (Q >= 32) and either C's rows are at most 1 KB (four register tiles
    wide; BLAS's packing costs most there) or C has few rows."""
    return use_kernels and Q >= 32 and (N * (4 if single else 8) <= 1024 or P <= 16)


cdef inline bint first_transposed(Py_ssize_t width, Py_ssize_t mbs,
                                  bint single) noexcept nogil:
    """Whether an epoch computes on a working copy of theta that holds
    layer 1 transposed, (in, out), its rows padded to whole vectors (see
    working_copy), which puts its forward product, as its weight gradient
    X^T . delta, in our kernel's broadcast form (see direct_rows; larger
    mini-batches pass in chunks, see chunked_gradient): where the CPU has
    our kernels, any width.  Wide layers went to BLAS in network2's layout
    until the forward product, too, left out the zero inputs
    (forward_listed): 784-800-10 at mini-batch 100 then took 0.73x BLAS's
    epoch time in float64 and 0.57x in float32 on one thread, 0.72x and
    0.63x on two (split by inputs, not by neurons; see cols_suit); at 32
    0.58x, at 1000 0.88x and 0.78x (and on contiguous operands our kernel
    alone runs (100 x 784) . (784 x 800) as fast as OpenBLAS in float64,
    1.15x as fast in float32).  In float32, from mini-batches of 2: at 1,
    BLAS's matrix-vector code took 0.75-0.87x our kernel's time (784-30-10,
    784-100-10); in float64 our kernel's took 0.81-0.93x BLAS's there, and
    at 2 and 3 0.57-0.97x in both (784-800-10 at 2: 0.57-0.60x)."""
    return use_kernels and mbs >= (2 if single else 1)


cdef inline void bcast_rows(Py_ssize_t P, Py_ssize_t Q, Py_ssize_t N, floating alpha,
                            const floating **rows, bint by_q, const floating *R,
                            Py_ssize_t ldr, floating beta, floating *C,
                            Py_ssize_t ldc, const int *idx=NULL,
                            nncore_fetch *fetch=NULL) noexcept nogil:
    """Our kernel on S' given by row pointers: S'(p, q) = rows[p][q], or
    rows[q][p] if by_q (see nncore_kernels.h).  Only where kernel_suits.
    With by_q and idx, C's rows idx[0..P-1] only (see gradient_rows); with
    by_q and fetch, fetch's rows are brought into cache meanwhile."""
    if floating is float:
        nncore_bcast_s(P, Q, N, alpha, rows, by_q, R, ldr, beta, C, ldc, idx, fetch)
    else:
        nncore_bcast_d(P, Q, N, alpha, rows, by_q, R, ldr, beta, C, ldc, idx, fetch)


# Whether layer 1's weight gradient leaves out the inputs that are zero in
# every row of the mini-batch (see gradient_rows): on unless _set_skip_zeros.
cdef bint skip_zeros = True


cdef void scale_rows_except(floating *C, Py_ssize_t ldc, Py_ssize_t N, Py_ssize_t P,
                            const int *idx, Py_ssize_t count,
                            floating beta) noexcept nogil:
    """C's rows 0..P-1 but those in idx (ascending) times beta (N values
    each; 0 writes zeros)."""
    cdef Py_ssize_t p, j, k = 0
    cdef floating *row
    if beta == 1:
        return
    for p in range(P):
        if k < count and idx[k] == p:
            k += 1
            continue
        row = C + p * ldc
        if beta == 0:
            for j in range(N):
                row[j] = 0
        else:
            for j in range(N):
                row[j] = beta * row[j]


cdef void gradient_rows(Py_ssize_t P, Py_ssize_t Q, Py_ssize_t N, floating alpha,
                        const floating **rows, const floating *D, floating beta,
                        floating *C, Py_ssize_t ldc, int *nz,
                        Py_ssize_t listed=-1, const floating **ahead=NULL,
                        Py_ssize_t n_ahead=0) noexcept nogil:
    """C (P x N) = alpha * A^T . D + beta * C, where A (Q x P) is given by
    its row pointers and D is (Q x N) contiguous: layer 1's weight gradient
    X^T . delta over a mini-batch's Q input rows, or its step fused.

    An input that is zero in all Q rows has a zero row of the gradient, so
    with nz (room for P indices) the product runs over the other inputs
    only and the rest of C is scaled by beta: in an MNIST mini-batch of 100
    about a third of the 784 pixels are zero throughout (81 % of each
    image), 37 % in the chunks of 64 rows that larger mini-batches pass
    in.  The values are the dense product's: a zero input adds exactly
    nothing to a sum of finite terms, and where D is not all finite (0
    times infinity is NaN) every input is taken.  The rows were just read
    by the forward product, so the scan for zeros reads them from cache;
    listed >= 0 says the forward product's scan left the list in nz (see
    forward_listed).

    Where the next forward product lists its inputs (lists_forward, and
    its tiles' lists not paused, tiles_pause), the
    n_ahead rows ahead (of P inputs each: the next mini-batch's, or the
    next chunk's) are fetched into cache meanwhile, a line every few steps
    of the product.  Read first by the scan for zeros, they would otherwise
    come from memory with nothing to overlap them: at 784-100-10, mini-batch
    100, float32, the scan took 7 % of the epoch and the listed product
    saved 8 %.  Fetched, the epoch took 0.87x the dense one's time; all
    fetched at once before the gradient, 1.13x."""
    cdef Py_ssize_t count = -1
    cdef nncore_fetch fetch
    cdef nncore_fetch *fp = NULL
    if (n_ahead > 0 and fetch_ahead and lists_forward(N, D)
            and (row_vectors(N, D) >= listed_forward_min
                 or nz != NULL and tiles_pause(nz, P)[0] <= 0)):
        fetch.rows = <const void **> ahead
        fetch.n_rows = n_ahead
        fetch.lines = (P * <Py_ssize_t> sizeof(floating) + 63) // 64 + 1
        fp = &fetch
    cdef bint finite_d
    if nz != NULL and skip_zeros and use_kernels:
        finite_d = finite_values(D, Q * N)
        if finite_d and listed >= 0 and tiles_mark(nz, P)[0] == Q:
            # the forward product's lists of the same rows' tiles
            if floating is float:
                nncore_gradient_tiles_s(Q, P, N, alpha, rows, D, N, beta, C, ldc,
                                        tiles_lists(nz, P), tiles_counts(nz, P, Q), fp)
            else:
                nncore_gradient_tiles_d(Q, P, N, alpha, rows, D, N, beta, C, ldc,
                                        tiles_lists(nz, P), tiles_counts(nz, P, Q), fp)
            return
        count = listed if listed >= 0 else nonzero_inputs(rows, Q, P, nz)
        if count >= P or not finite_d:
            count = -1
    if count < 0:
        bcast_rows(P, Q, N, alpha, rows, True, D, N, beta, C, ldc, NULL, fp)
    else:
        bcast_rows(count, Q, N, alpha, rows, True, D, N, beta, C, ldc, nz, fp)
        scale_rows_except(C, ldc, N, P, nz, count, beta)


def _skip_zeros():
    """Whether layer 1's weight gradient leaves out the inputs that are zero
    throughout a mini-batch (see gradient_rows)."""
    return bool(skip_zeros)


def _set_skip_zeros(bint on):
    """Turn that off or on (for tests and benchmarks: the values are the
    same)."""
    global skip_zeros
    skip_zeros = on


# The forward product of layer 1 leaves out the inputs that are zero in
# every row of the mini-batch where a row of W1^T is at least this many
# vectors (of 8 doubles or 16 floats); see forward_listed.  A scan of the
# rows before the product meets their misses to memory, which the dense
# product's prefetching hides behind its arithmetic, unless the rows were
# fetched during the last mini-batch's gradient (gradient_rows, which then
# does so).  Listed and fetched over dense epochs, one thread, mini-batch
# 100, by vectors a row: 784-30-10 (2 in float32, 4 in float64) 1.00-1.05x;
# 784-50-10 (4) 0.97x and (7) 0.86x; 784-80-10 in float32 (5) 0.96x;
# 784-64-10 in float64 (8) 0.95x; 784-100-10 in float32 (7) 0.93x.  (The
# tiles' lists, tile_lists, are tried on rows of any width.)
cdef Py_ssize_t listed_forward_min = 5

# Whether layer 1's weight gradient fetches the next rows where the forward
# product lists them (see gradient_rows).
cdef bint fetch_ahead = True


def _set_block_fetch(bint on):
    """Turn the fetching of the next column block of layer 1's weight
    gradient (nncore_gradient_tiles) on or off (benchmarks: the values are
    the same).  Returns the value it replaces."""
    global block_fetch
    before, block_fetch = block_fetch, on
    return bool(before)


def _set_unmasked_rows(bint on):
    """Turn on or off whole loads and stores of a row's last vector in the
    fused step's groups of columns (see unmasked_rows in nncore_kernels.h;
    benchmarks: the values are the same).  Returns the value it replaces."""
    global unmasked_rows
    before, unmasked_rows = unmasked_rows, on
    return bool(before)


def _set_wide_groups(bint on):
    """Turn on or off the fused step's groups of columns on wide rows at
    mini-batch 1 (see NNCORE_SF_GROUP; benchmarks: the values are the
    same).  Returns the value it replaces."""
    global wide_groups
    before, wide_groups = wide_groups, on
    return bool(before)


def _set_fetch_low(bint on):
    """Turn on or off the fetching into L2, as many lines a step as it
    takes, of the rows that products of one column block fetch ahead (see
    nncore_fetch_plan; benchmarks: the values are the same).  Returns the
    value it replaces."""
    global fetch_low
    before, fetch_low = fetch_low, on
    return bool(before)


def _set_fetch_ahead(bint on):
    """Turn the gradient's fetching of the next rows on or off (benchmarks)."""
    global fetch_ahead
    fetch_ahead = on


cdef inline Py_ssize_t row_vectors(Py_ssize_t N, const floating *tag) noexcept nogil:
    """The vectors (8 doubles, 16 floats) that N values take."""
    return (N + 15) // 16 if floating is float else (N + 7) // 8


def _listed_forward_min():
    """The row width, in vectors, from which layer 1's forward product
    leaves out zero inputs (see forward_listed)."""
    return int(listed_forward_min)


def _set_listed_forward_min(Py_ssize_t vectors):
    """Set it (for tests and benchmarks: the values are the same; a huge
    number turns it off)."""
    global listed_forward_min
    listed_forward_min = vectors


# Whether layer 1's forward product tries the lists of its tiles of rows
# (forward_listed), on rows of any width: 784-30-10 at mini-batch 100 took
# 0.80x the time of the dense product in float32 (2 vectors a row), 0.74x
# in float64 (4), 0.75x at 1000.
cdef bint tile_lists = True
# The tiles' lists are taken where they average at most this share of the
# mini-batch's list: on MNIST 0.59 at mini-batch 100 in tiles of 4 rows
# (306 of 516), 0.66 in tiles of 6, 0.74 in tiles of 10, 0.62-0.75 in
# chunks of 64; on inputs with no zero (1.0) the tiles took 1.03-1.09x the
# time of the dense product at 784-100-10, 1.25x at 784-30-10.
cdef double TILES_SHARE = 0.8


cdef inline bint lists_forward(Py_ssize_t N, const floating *tag) noexcept nogil:
    """Whether layer 1's forward product (of rows of N) lists its inputs:
    by tiles, or by mini-batch on rows of listed_forward_min vectors."""
    return (skip_zeros and use_kernels
            and (tile_lists or row_vectors(N, tag) >= listed_forward_min))


def _set_tile_lists(bint on):
    """Whether layer 1's listed forward product lists the inputs of each
    tile of rows (True) or of the whole mini-batch (benchmarks and tests:
    the values are the same)."""
    global tile_lists
    tile_lists = on


# After two mini-batches in a row whose tiles' lists were too long
# (TILES_SHARE), the next TILES_PAUSE do not make them: a data set's share
# of zeros changes little from one mini-batch to the next, and on
# Fashion-MNIST (half its pixels zero) making them and leaving them cost
# 784-30-10 at mini-batch 100 7-10 % of its time.  (After one: on MNIST a
# few mini-batches in a thousand pass the share.)
cdef int TILES_PAUSE = 16
# The fewest rows a tile of the forward product's lists has
# (NNCORE_LISTED_ROWS_WIDE in nncore_kernels.h; taller on narrow rows).
cdef enum:
    LISTED_ROWS = 4


cdef inline Py_ssize_t listed_room(Py_ssize_t n_in, Py_ssize_t rows) noexcept nogil:
    """The ints of room forward_listed and gradient_rows take (their nz,
    zeroed before the first use) for up to `rows` input rows of n_in: the
    rows' list (n_in), the mark (tiles_mark) and the pause (tiles_pause),
    then a list for each tile of rows (at least LISTED_ROWS rows a tile,
    n_in each; tile_lists) and their counts (tile_counts)."""
    cdef Py_ssize_t tiles = (rows + LISTED_ROWS - 1) // LISTED_ROWS
    return n_in + 2 + tiles * (n_in + 1)


cdef inline int *tiles_mark(int *nz, Py_ssize_t n_in) noexcept nogil:
    """Where forward_listed leaves, in its nz, the number of rows whose tile
    lists it made (-1: none), for the weight gradient of the same rows."""
    return nz + n_in


cdef inline int *tiles_pause(int *nz, Py_ssize_t n_in) noexcept nogil:
    """Where forward_listed counts down the mini-batches it leaves out the
    tiles' lists for (TILES_PAUSE; -1 after one whose lists were too
    long)."""
    return nz + n_in + 1


cdef inline int *tiles_lists(int *nz, Py_ssize_t n_in) noexcept nogil:
    """Where the tiles' lists start (n_in ints each)."""
    return nz + n_in + 2


cdef inline int *tiles_counts(int *nz, Py_ssize_t n_in, Py_ssize_t rows) noexcept nogil:
    """Where the tiles' counts are, for `rows` rows."""
    return nz + n_in + 2 + (rows + LISTED_ROWS - 1) // LISTED_ROWS * n_in


cdef bint forward_listed(Py_ssize_t P, Py_ssize_t m, Py_ssize_t N,
                         const floating **rows, const floating *W, Py_ssize_t ldw,
                         floating *Z, Py_ssize_t ldz, int *nz,
                         Py_ssize_t *listed) noexcept nogil:
    """Z (m x N) = A . W over the m input rows A (rows[i], P values), W
    (P x N) layer 1's weights held transposed, over only the inputs that
    are not zero, where the inputs left out save more than finding them
    costs; returns whether it did (else the caller takes the dense
    product).  nz has listed_room(P, m) ints.  The inputs not zero in some
    row go to nz and their count to *listed, for the weight gradient of the
    same rows (gradient_rows), or -1 if no list was made.

    The product lists the inputs of each tile of rows (nncore_tile_lists
    and nncore_forward_tiles: six MNIST images have 343 of 784 pixels not
    zero, a mini-batch of 100 has 516) where those lists are short enough
    (TILES_SHARE; they are then left for the gradient, tiles_mark); else,
    or with tile_lists off, it sums over the mini-batch's list, on rows of
    listed_forward_min vectors or more.

    A zero input adds exactly nothing to a sum of finite terms.  Where a
    row of W is not finite (0 times infinity is NaN) the dense product is
    taken: a row left out by every tile is checked here; one that some
    tile takes makes that tile's sums not finite, which is checked after."""
    cdef Py_ssize_t count, p, k = 0, total = 0, ntiles = 0
    cdef int *lists = tiles_lists(nz, P)
    cdef int *counts = tiles_counts(nz, P, m)
    listed[0] = -1
    cdef bint by_batch = row_vectors(N, W) >= listed_forward_min
    cdef bint by_tiles = tile_lists
    cdef int *pause = tiles_pause(nz, P)
    if not lists_forward(N, W):
        return False
    tiles_mark(nz, P)[0] = -1
    if by_tiles and pause[0] > 0:
        pause[0] -= 1
        by_tiles = False
    if not (by_tiles or by_batch):
        return False
    if by_tiles:
        ntiles = nncore_listed_tiles(m, N, 16 if floating is float else 8)
        if floating is float:
            count = nncore_tile_lists_s(m, P, N, rows, lists, counts, nz)
        else:
            count = nncore_tile_lists_d(m, P, N, rows, lists, counts, nz)
        for p in range(ntiles):
            total += counts[p]
    else:
        count = nonzero_inputs(rows, m, P, nz)
    listed[0] = count
    if not by_tiles and (count >= P or not by_batch):
        return False
    for p in range(P):
        if k < count and nz[k] == p:
            k += 1
        elif not finite_values(W + p * ldw, N):
            return False
    if by_tiles and total > TILES_SHARE * count * ntiles:
        pause[0] = TILES_PAUSE if pause[0] < 0 else -1   # (-1: once)
    elif by_tiles:
        pause[0] = 0
        if floating is float:
            nncore_forward_tiles_s(m, P, N, rows, W, ldw, Z, ldz, lists, counts)
        else:
            nncore_forward_tiles_d(m, P, N, rows, W, ldw, Z, ldz, lists, counts)
        tiles_mark(nz, P)[0] = <int> m
        if ldz != N:
            for p in range(m):
                if not finite_values(Z + p * ldz, N):
                    return False
            return True
        return finite_values(Z, m * N)
    if count >= P or not by_batch:
        return False
    bcast_rows(m, count, N, <floating> 1.0, rows, False, W, ldw, <floating> 0.0, Z,
               ldz, nz)
    return True


cdef inline const floating **direct_rows(const Net *net, const floating *X,
                                         const Py_ssize_t *order, Py_ssize_t m,
                                         const floating **rows) noexcept nogil:
    """Point rows[i] at input row order[i] and return rows, if both of layer
    1's products (forward, and X^T . delta) go to our kernel, which reads
    the rows where they lie: on the transposed copy (first_transposed), of
    any width, where both sums are long enough to hide the cost of writing
    C (32 inputs and 32 rows: as kernel_suits); else NULL: the caller
    gathers them, for BLAS or our kernel as bcast chooses."""
    cdef Py_ssize_t i, n_in = net.sizes[0]
    if not (net.first_t and use_kernels and n_in >= 32 and m >= 32):
        return NULL
    for i in range(m):
        rows[i] = X + order[i] * n_in
    return rows


# Examples a chunk (see CHUNK_ROWS); a variable for benchmarks.
cdef Py_ssize_t chunk_rows = CHUNK_ROWS
# The largest layer 1 that passes in chunks (see CHUNK_W1_MAX); a variable
# for tests and benchmarks.
cdef Py_ssize_t chunk_w1_max = CHUNK_W1_MAX


def _set_chunk_w1_max(Py_ssize_t nbytes):
    """Set the bytes of layer 1's weights up to which one thread passes
    large mini-batches in chunks (tests and benchmarks: the values are the
    same, up to the order in which the gradient's terms are summed); -1
    never chunks.  Returns the value it replaces."""
    global chunk_w1_max
    before, chunk_w1_max = chunk_w1_max, nbytes
    return before


cdef inline bint in_chunks(const Net *net, Py_ssize_t m, const floating *tag) noexcept nogil:
    """Whether one thread passes a mini-batch of m rows read in place in
    chunks (see CHUNKED_ABOVE and CHUNK_W1_MAX)."""
    return (m > CHUNKED_ABOVE
            and net.sizes[0] * net.ld1 * <Py_ssize_t> sizeof(floating) <= chunk_w1_max)


def _set_chunk_rows(Py_ssize_t rows):
    """Set the rows of a chunk (benchmarks: the values are the same, up to
    the order in which the chunks' gradients are summed)."""
    global chunk_rows
    if rows < 1:
        raise ValueError(f"chunk rows must be at least 1, got {rows}")
    chunk_rows = rows


# Whether one thread regroups a mini-batch's rows into tiles of similar
# inputs (see group_suits); a variable for tests and benchmarks.
cdef bint group_rows = True
# The rows a window of the grouping takes where the mini-batch passes whole
# (a multiple of LISTED_ROWS, so that no tile straddles two windows): its
# cost grows with the window; on MNIST tiles of 4 in windows of 32 list 267
# inputs, of 100 257 (307 in the examples' order); at 784-800-10, mini-
# batch 100, float64, windows of 32 took 0.91x the ungrouped time, of 100
# 0.83x.
cdef Py_ssize_t GROUP_WINDOW = 100


def _set_group_rows(bint on):
    """Whether one thread regroups a mini-batch's rows (group_suits) before
    layer 1's tiles (tests and benchmarks: the values are the same up to the
    order in which the gradient's terms are summed).  Returns the value it
    replaces."""
    global group_rows
    before, group_rows = group_rows, on
    return before


def _set_group_window(Py_ssize_t rows):
    """Set the rows of the grouping's windows (benchmarks; a multiple of
    4 keeps the tiles inside them).  Returns the value it replaces."""
    global GROUP_WINDOW
    if rows < 1:
        raise ValueError(f"the window needs at least 1 row, got {rows}")
    before, GROUP_WINDOW = GROUP_WINDOW, rows
    return before


cdef inline bint group_suits(const Net *net, Py_ssize_t m, const floating *tag) noexcept nogil:
    """Whether one thread regroups a mini-batch of m rows (read in place,
    direct_rows) so that layer 1's tiles of LISTED_ROWS rows sum fewer
    zeros (nncore_group_rows): where the tiles are that tall (rows of more
    than 4 vectors, nncore_listed_height).  The examples and the sums are
    the same; the gradient's terms are added in another order.  A mini-
    batch passed whole is regrouped in windows of GROUP_WINDOW rows, one
    passed in chunks chunk by chunk, once its rows are in cache (the whole
    mini-batch of 1000 at once, read from memory, took 784-100-10 1.08-1.16x
    the time).  One thread, against the examples' order (epochs alternated
    in one process, medians of the pairs' ratios): 784-800-10 at 100 0.91x
    (float64) and 0.87x (float32), at 1000 0.87x (both); 784-100-10 at 100
    and 1000 0.96-0.97x."""
    return (group_rows and skip_zeros and use_kernels and tile_lists and net.first_t
            and m >= 32 and 32 <= net.sizes[0] <= 1024
            and row_vectors(net.sizes[1], tag) > 4)


cdef struct Grouping:
    # room for regroup, for up to a mini-batch's rows
    int *perm
    uint64_t *bits
    Py_ssize_t *order
    const void **rows


cdef const Py_ssize_t *regroup(const Py_ssize_t *order, Py_ssize_t m, Py_ssize_t P,
                               const floating **rows, Py_ssize_t window,
                               Grouping *g) noexcept nogil:
    """The m rows (rows[i]: input row order[i], P inputs) regrouped in place
    so that layer 1's tiles sum fewer zeros (nncore_group_rows, in windows
    of `window` rows; see group_suits); returns their order (in g)."""
    cdef Py_ssize_t i
    if floating is float:
        nncore_group_rows_s(m, P, rows, LISTED_ROWS, window, g.perm, g.bits)
    else:
        nncore_group_rows_d(m, P, rows, LISTED_ROWS, window, g.perm, g.bits)
    for i in range(m):
        g.rows[i] = rows[g.perm[i]]
        g.order[i] = order[g.perm[i]]
    for i in range(m):
        rows[i] = <const floating *> g.rows[i]
    return g.order


cdef bint chunked_gradient(const Net *net, floating *theta, floating *grad,
                           const floating *Y, const Py_ssize_t *order, Py_ssize_t m,
                           const floating **rows0, floating **acts, floating *delta,
                           floating *spare, floating **masks, int *nz,
                           const floating **after=NULL, Py_ssize_t n_after=0,
                           Grouping *grouping=NULL) noexcept nogil:
    """The summed gradient of m examples whose input rows are rows0 (see
    direct_rows), into grad, in chunks of equal size (at most chunk_rows
    examples, CHUNK_ROWS unless set; with grouping, each chunk's rows
    regrouped, see group_suits, once they are in cache): each chunk's
    rows are read by the forward product and again by the weight gradient
    while they are still in the core's cache, which a whole mini-batch of
    a thousand rows is not (nz: listed_room(sizes[0], m) ints, for
    gradient_rows).  Each chunk's gradient fetches the next chunk's rows,
    the last one the n_after rows after (the next mini-batch's).  Returns
    False, with grad incomplete, if an output error is not finite."""
    cdef Py_ssize_t c0 = 0, cm, n_last = net.sizes[net.n_layers - 1], listed, n_ahead
    cdef Py_ssize_t size = (m + (m + chunk_rows - 1) // chunk_rows - 1) // (
        (m + chunk_rows - 1) // chunk_rows)   # (chunks of equal size, at most chunk_rows)
    cdef const floating **ahead
    cdef const Py_ssize_t *targets
    while c0 < m:
        cm = min(size, m - c0)
        targets = order + c0
        if grouping != NULL:
            targets = regroup(targets, cm, net.sizes[0], rows0 + c0, cm, grouping)
        forward(net, theta, NULL, cm, acts, NULL, masks, rows0 + c0, 1, nz, &listed)
        output_delta(net, delta, acts[net.n_layers - 1], Y, targets, cm)
        if not all_finite(delta, cm * n_last):
            return False
        if c0 + cm < m:
            ahead, n_ahead = rows0 + c0 + cm, min(size, m - c0 - cm)
        else:
            ahead, n_ahead = after, min(chunk_rows, n_after)
        backward(net, theta, grad, cm, acts, delta, spare, masks, 1, 0, 0,
                 rows0 + c0, c0 > 0, 1, nz, listed, ahead, n_ahead)
        c0 += cm
    return True


cdef void bcast_strided(Py_ssize_t P, Py_ssize_t Q, Py_ssize_t N, floating alpha,
                        const floating *S, Py_ssize_t sp, Py_ssize_t sq, bint by_q,
                        const floating *R, Py_ssize_t ldr, floating beta,
                        floating *C, Py_ssize_t ldc) noexcept nogil:
    """Our kernel on S' read as S[p*sp + q*sq], by_q as in bcast_rows: the
    row pointers are made POINTER_BLOCK at a time on the stack, and the
    product runs in as many slices (of C's rows, or of the sum, the later
    slices adding to C)."""
    cdef const floating *rows[POINTER_BLOCK]
    cdef Py_ssize_t k0 = 0, kn, i
    cdef Py_ssize_t count = Q if by_q else P
    while True:  # once at least: an empty sum still scales C by beta
        kn = min(<Py_ssize_t> POINTER_BLOCK, count - k0)
        for i in range(kn):
            rows[i] = S + (k0 + i) * (sq if by_q else sp)
        if by_q:
            bcast_rows(P, kn, N, alpha, rows, True, R + k0 * ldr, ldr,
                       beta if k0 == 0 else <floating> 1, C, ldc)
        else:
            bcast_rows(kn, Q, N, alpha, rows, False, R, ldr, beta, C + k0 * ldc, ldc)
        k0 += kn
        if k0 >= count:
            break


cdef inline void bcast(Py_ssize_t P, Py_ssize_t Q, Py_ssize_t N, floating alpha,
                       const floating *S, Py_ssize_t sp, Py_ssize_t sq,
                       const floating *R, Py_ssize_t ldr, floating beta,
                       floating *C, Py_ssize_t ldc) noexcept nogil:
    """C (P x N) = alpha * S' . R + beta * C, all row-major, where S' (P x Q)
    is read as S[p*sp + q*sq]: S' = A for sq = 1 (sp its row length) and
    S' = A^T for sp = 1.  Our kernel where it suits the shape, else BLAS.
    beta = 0 never reads C."""
    cdef Py_ssize_t p, j
    if P <= 0 or N <= 0:
        return
    if Q <= 0:  # an empty sum (BLAS would leave C alone)
        for p in range(P):
            for j in range(N):
                C[p * ldc + j] = beta * C[p * ldc + j] if beta != 0 else 0
        return
    cdef bint plain = sq == 1 and (sp >= Q or P == 1)  # S' = A, rows sp apart
    if kernel_suits(P, Q, N, floating is float):
        bcast_strided(P, Q, N, alpha, S, sp, sq, not plain, R, ldr, beta, C, ldc)
    elif plain:
        gemm(c'N', c'N', <int> P, <int> N, <int> Q, alpha, S, <int> max(sp, Q, 1),
             R, <int> ldr, beta, C, <int> ldc)
    else:  # S' = A^T (sp = 1), A's rows sq apart
        gemm(c'T', c'N', <int> P, <int> N, <int> Q, alpha, S, <int> max(sq, P, 1),
             R, <int> ldr, beta, C, <int> ldc)


def product(double alpha, const floating[:, ::1] A, bint transpose_a,
            const floating[:, ::1] R, double beta, floating[:, ::1] C,
            str kernel="auto", const int[::1] inputs=None):
    """C <- alpha * op(A) . R + beta * C, op(A) = A^T if transpose_a, the
    way the training products run: kernel="auto" as they choose, "own" our
    kernel whatever the shape (only where the CPU has it), "blas" BLAS.
    With inputs (ascending indices of A's columns; our kernel on A, not
    A^T), the sum runs over those q only, as layer 1's forward product
    over the inputs not zero in a mini-batch (forward_listed).  For tests
    and benchmarks."""
    cdef Py_ssize_t P = A.shape[1] if transpose_a else A.shape[0]
    cdef Py_ssize_t Q = A.shape[0] if transpose_a else A.shape[1]
    cdef Py_ssize_t N = R.shape[1]
    global use_kernels
    if R.shape[0] != Q or C.shape[0] != P or C.shape[1] != N:
        raise ValueError(f"shapes do not match: op(A) is ({P}, {Q}), R "
                         f"({R.shape[0]}, {N}), C ({C.shape[0]}, {C.shape[1]})")
    if kernel not in ("auto", "own", "blas"):
        raise ValueError(f'kernel must be "auto", "own" or "blas", got {kernel!r}')
    if kernel == "own" and not nncore_kernels_available():
        raise RuntimeError("this CPU lacks AVX-512: the core's own kernels cannot run")
    if P == 0 or N == 0:
        return
    cdef bint saved = use_kernels
    cdef const floating *a = &A[0, 0] if A.shape[0] * A.shape[1] > 0 else NULL
    cdef const floating *r = &R[0, 0] if Q * N > 0 else NULL
    cdef Py_ssize_t i
    cdef const floating **arows
    if inputs is not None:
        if transpose_a or kernel != "own":
            raise ValueError('inputs= takes kernel="own" on A (transpose_a=False)')
        for i in range(inputs.shape[0]):
            if not (0 <= inputs[i] < Q) or (i > 0 and inputs[i] <= inputs[i - 1]):
                raise ValueError(f"inputs must be ascending indices in [0, {Q})")
        rows_arr = np.empty(P, dtype=np.intp)
        arows = <const floating **> <size_t> rows_arr.ctypes.data
        for i in range(P):
            arows[i] = a + i * Q
        with nogil:
            bcast_rows(P, inputs.shape[0], N, <floating> alpha, arows, False, r, N,
                       <floating> beta, &C[0, 0], N,
                       &inputs[0] if inputs.shape[0] > 0 else NULL)
        return
    cdef Py_ssize_t sp = 1 if transpose_a else A.shape[1]
    cdef Py_ssize_t sq = A.shape[1] if transpose_a else 1
    if kernel == "own":
        with nogil:
            bcast_strided(P, Q, N, <floating> alpha, a, sp, sq, transpose_a, r, N,
                          <floating> beta, &C[0, 0], N)
        return
    use_kernels = use_kernels and kernel == "auto"
    try:
        with nogil:
            bcast(P, Q, N, <floating> alpha, a, sp, sq, r, N, <floating> beta,
                  &C[0, 0], N)
    finally:
        use_kernels = saved


def step_forward(double alpha, const floating[:, ::1] XT, const floating[:, ::1] D,
                 double beta, const floating[:, ::1] XTn, floating[:, ::1] W,
                 floating[:, ::1] Z, floating[:, ::1] V=None, double mu=0.0,
                 bint nesterov=False, const int[::1] rows=None):
    """The fused step of a transposed first layer and the next forward
    product (see nncore_kernels.h): W <- beta W + alpha XT . D, then
    Z = XTn^T . W, with XT and XTn (P, m) the two mini-batches' inputs
    packed by input, D (m, N), W (P, N), Z (m, N), 1 <= m <= 12.  With
    velocities V (P, N), the step is momentum's (momentum_step, with
    eta/m = -alpha and eta*l2/n = 1 - beta):
    V <- mu V + alpha XT . D - (1 - beta) W, W <- W + V (Nesterov's
    look-ahead form if nesterov).  With rows (ascending indices < P, plain
    steps only), only those rows of W are stepped and summed over; the
    others are left alone.  For tests and benchmarks; only where the CPU
    has the core's kernels."""
    cdef Py_ssize_t P = W.shape[0], N = W.shape[1], m = XT.shape[1]
    cdef floating coef[5]
    if not nncore_kernels_available():
        raise RuntimeError("this CPU lacks AVX-512: the core's own kernels cannot run")
    if not 1 <= m <= NNCORE_FUSE_MAX:
        raise ValueError(f"m must lie in [1, {NNCORE_FUSE_MAX}], got {m}")
    if (XT.shape[0] != P or XTn.shape[0] != P or XTn.shape[1] != m
            or D.shape[0] != m or D.shape[1] != N or Z.shape[0] != m or Z.shape[1] != N
            or (V is not None and (V.shape[0] != P or V.shape[1] != N))):
        raise ValueError("shapes do not match: XT and XTn (P, m), D and Z (m, N), "
                         "W and V (P, N)")
    cdef Py_ssize_t count = 0, i
    if rows is not None:
        if V is not None:
            raise ValueError("rows are for plain steps only (V must be None)")
        count = rows.shape[0]
        for i in range(count):
            if not (0 <= rows[i] < P) or (i > 0 and rows[i] <= rows[i - 1]):
                raise ValueError(f"rows must be ascending indices in [0, {P})")
    if P == 0 or N == 0:
        return
    if rows is not None and count == 0:   # (no row: Z = 0)
        Z[:, :] = 0
        return
    if V is None:
        coef[0] = <floating> alpha
        coef[1] = <floating> beta
    else:
        momentum_coef(coef, 1, 1.0, 1.0, 1.0, mu, nesterov)
        coef[1] = <floating> -alpha
        coef[2] = <floating> (1.0 - beta)
    if rows is None:
        with nogil:
            step_forward1(P, N, m, &XT[0, 0], &D[0, 0], coef, &XTn[0, 0], &W[0, 0],
                          &V[0, 0] if V is not None else NULL, N, &Z[0, 0], NULL, 0)
        return
    # the listed inputs alone, packed as the sparse steps pack them (m > 1)
    cdef const floating[:, ::1] XS = XT    # (m = 1: the rows, read at the listed inputs)
    cdef const floating[:, ::1] XSn = XTn
    if m > 1:
        XS = np.ascontiguousarray(np.asarray(XT)[np.asarray(rows)])
        XSn = np.ascontiguousarray(np.asarray(XTn)[np.asarray(rows)])
    with nogil:
        step_forward1(P, N, m, &XS[0, 0], &D[0, 0], coef, &XSn[0, 0], &W[0, 0], NULL, N,
                      &Z[0, 0], NULL, 0, &rows[0], count)


def listed_forward(const floating[:, ::1] X, const floating[:, ::1] W,
                   const floating[:, ::1] D=None, floating[:, ::1] C=None,
                   double alpha=1.0, double beta=0.0):
    """Layer 1's forward product X . W over listed inputs (forward_listed,
    with the current tile_lists and listed_forward_min), then, given D and
    C, its weight gradient C = beta C + alpha X^T . D (gradient_rows) from
    the lists it left, as in an epoch; for tests.  Returns (Z, path): path
    "tiles" (each tile of rows over its own list), "mini-batch" (over the
    mini-batch's list), or None where it declined (rows too narrow, no zero
    to leave out, or a weight not finite), Z then its partial work.  Only
    where the CPU has the core's kernels."""
    cdef Py_ssize_t m = X.shape[0], P = X.shape[1], N = W.shape[1], i, listed
    if not nncore_kernels_available():
        raise RuntimeError("this CPU lacks AVX-512: the core's own kernels cannot run")
    if W.shape[0] != P:
        raise ValueError(f"W needs X's {P} columns as rows, got {W.shape[0]}")
    if m == 0 or P == 0 or N == 0:
        raise ValueError("X and W need at least one row and column each")
    if (D is None) != (C is None) or D is not None and (
            D.shape[0] != m or D.shape[1] != N or C.shape[0] != P or C.shape[1] != N):
        raise ValueError(f"D and C go together, shaped ({m}, {N}) and ({P}, {N})")
    dtype = np.float32 if floating is float else np.float64
    Z_arr = np.full((m, N), np.nan, dtype=dtype)
    cdef floating[:, ::1] Z = Z_arr
    nz_arr = np.zeros(listed_room(P, m), dtype=np.intc)
    cdef int[::1] nz = nz_arr
    rows_arr = np.empty(m, dtype=np.intp)
    cdef const floating **rows = <const floating **> <size_t> rows_arr.ctypes.data
    cdef bint taken
    with nogil:
        for i in range(m):
            rows[i] = &X[i, 0]
        taken = forward_listed(P, m, N, rows, &W[0, 0], N, &Z[0, 0], N, &nz[0], &listed)
        if D is not None:
            gradient_rows(P, m, N, <floating> alpha, rows, &D[0, 0], <floating> beta,
                          &C[0, 0], N, &nz[0], listed)
    if not taken:
        return Z_arr, None
    return Z_arr, "tiles" if tiles_mark(&nz[0], P)[0] == m else "mini-batch"


def pack_rows(const floating[:, ::1] X):
    """The fused steps' packing of m <= 16 input rows by input (nncore_pack)
    for tests: X^T flattened, in an array of 32 more values, the rest as
    they were before the call (-7).  Only where the CPU has the core's
    kernels."""
    cdef Py_ssize_t m = X.shape[0], n = X.shape[1], q
    if not nncore_kernels_available():
        raise RuntimeError("this CPU lacks AVX-512: the core's own kernels cannot run")
    if not 1 <= m <= 16 or n < 1:
        raise ValueError(f"X needs 1 to 16 rows and a column, got {(m, n)}")
    dtype = np.float32 if floating is float else np.float64
    out_arr = np.full(m * n + 32, -7, dtype=dtype)
    cdef floating[::1] out = out_arr
    cdef const floating *rows[16]
    for q in range(m):
        rows[q] = &X[q, 0]
    with nogil:
        if floating is float:
            nncore_pack_s(&out[0], rows, <int> m, n)
        else:
            nncore_pack_d(&out[0], rows, <int> m, n)
    return out_arr


def list_nonzero(const floating[:, ::1] X):
    """The listing of a sparse step (nonzero_inputs, nncore_nonzero on our
    kernels), for tests: the inputs p where a row of X is not zero (or is
    NaN), ascending.  Returns (count, idx): idx of X.shape[1] + 32 ints, the
    first count the listing's; it may write past them, but not past the
    first X.shape[1] (the rest stay -7, as before the call)."""
    cdef Py_ssize_t m = X.shape[0], P = X.shape[1], q
    if not 1 <= m <= 2 * NNCORE_FUSE_MAX_C or P == 0:
        raise ValueError(f"X needs 1 to {2 * NNCORE_FUSE_MAX_C} rows of at least 1 input, "
                         f"got {m} of {P}")
    idx_arr = np.full(P + 32, -7, dtype=np.intc)
    cdef int[::1] idx = idx_arr
    cdef const floating *rows[2 * NNCORE_FUSE_MAX_C]
    for q in range(m):
        rows[q] = &X[q, 0]
    cdef Py_ssize_t count
    with nogil:
        count = nonzero_inputs(rows, m, P, &idx[0])
    return count, idx_arr


def group_order(const floating[:, ::1] X, Py_ssize_t window):
    """The order in which one thread's epoch takes the rows of a mini-batch
    X (m rows of at most 1024 inputs) so that its tiles of LISTED_ROWS rows
    sum fewer zeros (nncore_group_rows, in windows of `window` rows), for
    tests: a permutation of range(m).  Only where the CPU has the core's
    kernels."""
    cdef Py_ssize_t m = X.shape[0], P = X.shape[1], i
    if not nncore_kernels_available():
        raise RuntimeError("this CPU lacks AVX-512: the core's own kernels cannot run")
    if m == 0 or not 1 <= P <= 1024:
        raise ValueError(f"X needs at least one row and 1 to 1024 columns, got {m} x {P}")
    if window < 1:
        raise ValueError(f"the window needs at least 1 row, got {window}")
    perm_arr = np.full(m, -1, dtype=np.intc)
    bits_arr = np.empty(m * nncore_group_words(P), dtype=np.uint64)
    rows_arr = np.empty(m, dtype=np.intp)
    cdef int[::1] perm = perm_arr
    cdef uint64_t *bits = <uint64_t *> <size_t> bits_arr.ctypes.data
    cdef const floating **rows = <const floating **> <size_t> rows_arr.ctypes.data
    with nogil:
        for i in range(m):
            rows[i] = &X[i, 0]
        if floating is float:
            nncore_group_rows_s(m, P, rows, LISTED_ROWS, window, &perm[0], bits)
        else:
            nncore_group_rows_d(m, P, rows, LISTED_ROWS, window, &perm[0], bits)
    return perm_arr


def _set_group_scalar(bint on):
    """Whether the grouping counts inputs with scalar population counts even
    where the CPU has AVX-512's vector one (tests: the same order)."""
    global nncore_group_vp
    nncore_group_vp = 0 if on else -1


def _two_thread_split(sizes, Py_ssize_t mbs, bint single, bint plain, double l1=0.0):
    """How sgd_epoch(threads=2) splits the mini-batches of mbs examples for
    this network: "rows", or "neurons" or "inputs" of layer 1 (plain: no
    momentum and no dropout, which the split by neurons needs)."""
    cdef _Layout lay = _Layout(sizes)
    cdef Net net = lay.net(SIGMOID, SIGMOID, QUADRATIC)
    if cols_suit(&net, mbs, plain, single, l1):
        return "neurons"
    # as sgd_epoch: a mini-batch of one fuses its steps on the copy
    net.first_t = (first_transposed(lay.sizes[1], mbs, single)
                   or (mbs < 2 and fused_suits(&net, mbs, l1)))
    return "inputs" if inputs_suit(&net, mbs) else "rows"


#: Whether epochs flush subnormal numbers to zero on this CPU (x86 only).
_flushes_subnormals = bool(NNCORE_FLUSHES)


def _subnormals_flushed():
    """Whether the calling thread now flushes subnormal numbers to zero (an
    epoch does so only while it runs; see nncore_flush_subnormals)."""
    return bool(nncore_subnormals_flushed())


def _set_subnormals_flushed(bint on):
    """Set the calling thread's mode (for the tests: an epoch must leave
    its caller's mode, whichever it is, as it found it)."""
    nncore_set_subnormals_flushed(on)


def kernels():
    """"avx512" when the core's own product kernels are in use, else "blas"."""
    return "avx512" if use_kernels else "blas"


def set_kernels(str name):
    """Choose the products' code for later calls: "auto" (our kernels where
    the CPU has AVX-512 and they suit the shape) or "blas" (BLAS for every
    product, as the benchmark's floor measures).  Returns the previous
    choice.  For tests and benchmarks; not thread-safe against running
    epochs."""
    global use_kernels
    previous = kernels()
    if name == "auto":
        use_kernels = nncore_kernels_available() != 0
    elif name == "blas":
        use_kernels = False
    else:
        raise ValueError(f'kernels must be "auto" or "blas", got {name!r}')
    return previous


# ---------------------------------------------------------------------------
# Neurons

cdef inline floating fexp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating sigmoid(floating z) noexcept nogil:
    """1 / (1 + e^-z) without overflow for any finite z: with e = e^-|z|
    (never above 1), sigma(z) = 1/(1+e) for z >= 0 and e/(1+e) below.
    Written without a branch on the sign, which is unpredictable."""
    cdef floating e = fexp(-z if z >= 0 else z)
    cdef floating r = 1 / (1 + e)
    return r if z >= 0 else e * r


cdef inline floating activate1(floating z, int act) noexcept nogil:
    if act == SIGMOID:
        return sigmoid(z)
    elif act == TANH:
        if floating is float:
            return tanhf(z)
        else:
            return tanh(z)
    elif act == RELU:
        return z if z > 0 else 0
    return z


cdef inline floating prime_from_a(floating a, int act) noexcept nogil:
    """f'(z) written in terms of a = f(z), so that z need not be kept."""
    if act == SIGMOID:
        return a * (1 - a)
    elif act == TANH:
        return 1 - a * a
    elif act == RELU:
        return 1 if a > 0 else 0
    return 1


cdef inline void add_bias(floating *row, const floating *row2, const floating *b,
                          Py_ssize_t n) noexcept nogil:
    """row <- (row + row2) + b, or row + b if row2 is NULL."""
    cdef Py_ssize_t j
    if row2 != NULL:
        for j in range(n):
            row[j] = (row[j] + row2[j]) + b[j]
    else:
        for j in range(n):
            row[j] = row[j] + b[j]


cdef inline void apply_mask(floating *A, Py_ssize_t m, Py_ssize_t n,
                            const floating *mask) noexcept nogil:
    """A <- A * mask, each of the m rows of n (dropout's kept and scaled
    neurons of a hidden layer)."""
    cdef Py_ssize_t i, j
    for i in range(m):
        for j in range(n):
            A[i * n + j] = A[i * n + j] * mask[j]


cdef void activate(floating *Z, const floating *b, Py_ssize_t m, Py_ssize_t n,
                   int act, floating *zcopy, Py_ssize_t ld=0,
                   const floating *Z2=NULL) noexcept nogil:
    """In place over an (m, n) block whose rows are ld apart (ld = 0: n):
    Z <- f(Z + b), one pass (softmax: per row, the maximum subtracted
    before exponentiating).  If zcopy is not NULL, the weighted input
    Z + b is stored there too, (m, n) contiguous.  Z2, if not NULL, is a
    second (m, n) contiguous part of the weighted input: Z <- f((Z + Z2) + b)
    (the split by inputs' two partial sums)."""
    cdef Py_ssize_t i, j
    cdef floating z, zmax, total
    cdef floating *row
    if ld == 0:
        ld = n
    if act == SIGMOID and use_kernels and zcopy == NULL:
        # the sums first, then the logistic over the whole block at once when
        # its rows are contiguous: row by row, a row of a few vectors left
        # each vector's long chain of dependent operations exposed
        for i in range(m):
            row = Z + i * ld
            add_bias(row, Z2 + i * n if Z2 != NULL else NULL, b, n)
        for i in range(1 if ld == n else m):
            if floating is float:
                nncore_sigmoid_s(Z + i * ld, m * n if ld == n else n)
            else:
                nncore_sigmoid_d(Z + i * ld, m * n if ld == n else n)
        return
    for i in range(m):
        row = Z + i * ld
        add_bias(row, Z2 + i * n if Z2 != NULL else NULL, b, n)
        if zcopy != NULL:
            memcpy(zcopy + i * n, row, n * sizeof(floating))
        if act == SOFTMAX:
            zmax = row[0]
            for j in range(1, n):
                if row[j] > zmax:
                    zmax = row[j]
            total = 0
            for j in range(n):
                row[j] = fexp(row[j] - zmax)
                total = total + row[j]
            for j in range(n):
                row[j] = row[j] / total
        elif act == SIGMOID and use_kernels:
            if floating is float:
                nncore_sigmoid_s(row, n)
            else:
                nncore_sigmoid_d(row, n)
        elif act == SIGMOID:
            for j in range(n):
                row[j] = sigmoid(row[j])
        elif act != LINEAR:
            for j in range(n):
                row[j] = activate1(row[j], act)


# ---------------------------------------------------------------------------
# Dropout masks: a counter-based hash, so that the mask of (mini-batch,
# layer, neuron) is known without any state.  nncore_reference.dropout
# computes the same masks in NumPy.

cdef inline uint64_t mix64(uint64_t x) noexcept nogil:
    """splitmix64: add the golden gamma, then finalize."""
    cdef uint64_t z = x + <uint64_t> 0x9E3779B97F4A7C15ULL
    z = (z ^ (z >> 30)) * <uint64_t> 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t> 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef void dropout_mask(floating *mask, uint64_t seed, Py_ssize_t batch,
                       Py_ssize_t layer, Py_ssize_t width, double p) noexcept nogil:
    """mask[j] = 1/(1-p) if neuron j of `layer` is kept in mini-batch
    `batch`, else 0 (inverted dropout)."""
    cdef Py_ssize_t j
    cdef uint64_t key, h
    cdef double u
    cdef floating keep = <floating> (1.0 / (1.0 - p))
    for j in range(width):
        key = ((<uint64_t> batch) << 40) | ((<uint64_t> layer) << 32) | (<uint64_t> j)
        h = mix64(mix64(key) ^ seed)
        u = <double> (h >> 11) * (1.0 / 9007199254740992.0)
        mask[j] = keep if u >= p else 0


def dropout_keep(uint64_t seed, Py_ssize_t batch, Py_ssize_t layer, Py_ssize_t width,
                 double p):
    """The core's dropout mask as a bool array (True = kept), for tests."""
    out = np.empty(width, dtype=np.float64)
    cdef double[::1] o = out
    if width > 0:
        dropout_mask(&o[0], seed, batch, layer, width, p)
    return out > 0


# ---------------------------------------------------------------------------
# Forward and backward passes

cdef void forward(const Net *net, const floating *theta, const floating *A0,
                  Py_ssize_t m, floating **acts, floating *zlast,
                  floating **masks, const floating **rows0=NULL,
                  Py_ssize_t first=1, int *nz=NULL,
                  Py_ssize_t *listed=NULL) noexcept nogil:
    """Feed m rows A0 forward; acts[l] (l = 1..n_layers-1) receives layer l's
    activations, (m, sizes[l]).  With first > 1, A0 is layer first-1's
    activations and only the layers from `first` on are computed.  zlast,
    if not NULL, receives the output layer's weighted inputs.  masks, if not NULL, holds a dropout mask per
    hidden layer (masks[l], sizes[l] entries), applied to its activations.
    rows0, if not NULL, points at the m input rows where they lie (A0 is
    then not read): only for an epoch with net.first_t whose layer-1
    products both suit our kernel (see direct_rows); with nz and listed
    too, layer 1's product may leave out zero inputs (forward_listed),
    whose list it then leaves for backward."""
    cdef Py_ssize_t l, i, j, L = net.n_layers
    cdef const floating *prev = A0
    cdef int n_in, n_out
    cdef floating *row
    for l in range(first, L):
        n_in = <int> net.sizes[l - 1]
        n_out = <int> net.sizes[l]
        if l == 1 and rows0 != NULL:
            if nz == NULL or listed == NULL or not forward_listed(
                    n_in, m, n_out, rows0, theta + net.w_off[0], net.ld1, acts[1],
                    n_out, nz, listed):
                bcast_rows(m, n_in, n_out, <floating> 1.0, rows0, False,
                           theta + net.w_off[0], net.ld1, <floating> 0.0, acts[1], n_out)
        elif l == 1 and net.first_t:
            # Z = A_prev . W^T with W^T held as an (n_in, n_out) matrix
            bcast(m, n_in, n_out, <floating> 1.0, prev, n_in, 1,
                  theta + net.w_off[0], net.ld1, <floating> 0.0, acts[1], n_out)
        else:
            # Z = A_prev . W^T  (W is (n_out, n_in) row-major)
            gemm(c'N', c'T', <int> m, n_out, n_in, <floating> 1.0, prev, n_in,
                 theta + net.w_off[l - 1], n_in, <floating> 0.0, acts[l], n_out)
        if l == L - 1:
            activate(acts[l], theta + net.b_off[l - 1], m, n_out, net.output, zlast)
        else:
            activate(acts[l], theta + net.b_off[l - 1], m, n_out, net.hidden,
                     <floating *> NULL)
            if masks != NULL:
                apply_mask(acts[l], m, n_out, masks[l])
        prev = acts[l]


cdef void output_delta(const Net *net, floating *delta, const floating *aL,
                       const floating *Y, const Py_ssize_t *rows, Py_ssize_t m) noexcept nogil:
    """delta^L (BP1) for m examples; row i's target is Y[rows[i]] (Y[i] when
    rows is NULL).  Cross-entropy with sigmoid outputs and log-likelihood
    with softmax outputs: a - y (eqs. 66, 84); quadratic: (a - y) f'(z), or
    for softmax outputs the Jacobian product a_j((a-y)_j - sum_k (a-y)_k a_k)."""
    cdef Py_ssize_t i, j, r, n = net.sizes[net.n_layers - 1]
    cdef floating a, s
    cdef const floating *y
    cdef floating *d
    cdef const floating *arow
    for i in range(m):
        r = rows[i] if rows != NULL else i
        y = Y + r * n
        d = delta + i * n
        arow = aL + i * n
        for j in range(n):
            d[j] = arow[j] - y[j]
        if net.cost == QUADRATIC:
            if net.output == SOFTMAX:
                s = 0
                for j in range(n):
                    s = s + d[j] * arow[j]
                for j in range(n):
                    d[j] = arow[j] * (d[j] - s)
            elif net.output != LINEAR:
                for j in range(n):
                    d[j] = d[j] * prime_from_a(arow[j], net.output)


cdef inline void prefetch_targets(const floating *Y, const Py_ssize_t *rows,
                                  Py_ssize_t count, Py_ssize_t n) noexcept nogil:
    """Fetch the target rows Y[rows[0..count)] into cache: the next mini-
    batch's, which lie scattered over the training set, while this one's
    backward pass runs."""
    cdef Py_ssize_t i
    for i in range(count):
        nncore_prefetch(Y + rows[i] * n, n * sizeof(floating))


cdef void times_prime(floating *D, const floating *A, Py_ssize_t m, Py_ssize_t n,
                      int act, const floating *mask, double p) noexcept nogil:
    """D <- D * f'(z) (BP2's Hadamard factor), f'(z) taken from the stored
    activations A.  With a dropout mask (inverted: kept activations were
    scaled by 1/(1-p)), D <- D * f'(z) * mask; the unscaled activation of a
    kept neuron is A * (1 - p)."""
    cdef Py_ssize_t i, j
    cdef floating *d
    cdef const floating *a
    cdef floating unscale = <floating> (1.0 - p)
    for i in range(m):
        d = D + i * n
        a = A + i * n
        if mask == NULL:
            if act == SIGMOID:
                for j in range(n):
                    d[j] = d[j] * (a[j] * (1 - a[j]))
            elif act != LINEAR:
                for j in range(n):
                    d[j] = d[j] * prime_from_a(a[j], act)
        else:
            for j in range(n):
                if mask[j] != 0:
                    d[j] = d[j] * prime_from_a(a[j] * unscale, act) * mask[j]
                else:
                    d[j] = 0


cdef inline bint all_finite(const floating *x, Py_ssize_t count) noexcept nogil:
    """True when no entry is NaN or infinite (x - x is 0 exactly then)."""
    cdef Py_ssize_t i
    cdef floating s = 0
    for i in range(count):
        s = s + (x[i] - x[i])
    return s == 0


cdef inline floating sgn(floating w) noexcept nogil:
    cdef floating one = 1
    cdef floating s = one if w > 0 else 0
    return s - (one if w < 0 else 0)


cdef floating *backward(const Net *net, floating *theta, floating *grad, Py_ssize_t m,
                        floating **acts, floating *delta, floating *spare,
                        floating **masks, floating w_scale, floating l1_step,
                        floating step, const floating **rows0=NULL,
                        bint accumulate=False, Py_ssize_t lowest=1,
                        int *nz=NULL, Py_ssize_t listed=-1,
                        const floating **ahead=NULL, Py_ssize_t n_ahead=0) noexcept nogil:
    """Back-propagate delta (the output layer's, (m, sizes[-1])) through
    the network whose forward pass left its activations in acts, down to
    layer `lowest`; returns the buffer (delta or spare) that then holds
    layer lowest-1's delta (meaningful for lowest > 1).

    If grad is not NULL, the gradients summed over the m examples are
    written into grad (theta's layout), or added to it if accumulate, and
    theta is left alone.
    Otherwise theta is updated in place by eqs. (93)-(94) with L1 (eq. 97):
        W <- w_scale W - l1_step sgn(W) - step sum_x dC_x/dW,
        b <- b - step sum_x dC_x/db
    with w_scale = 1 - eta*l2/n, l1_step = eta*l1/n and step = eta/m.
    Layer l's delta for the layer below is computed from W_l before W_l
    changes, so the result equals computing every gradient first.
    """
    cdef Py_ssize_t l, i, j, n_in, n_out, count
    cdef floating s, alpha, beta
    cdef floating *b
    cdef floating *W
    cdef floating *tmp
    cdef floating *target
    for l in range(net.n_layers - 1, lowest - 1, -1):
        n_in = net.sizes[l - 1]
        n_out = net.sizes[l]
        W = theta + net.w_off[l - 1]
        # bias: the column sums of delta (BP3)
        b = (grad if grad != NULL else theta) + net.b_off[l - 1]
        for j in range(n_out):
            s = 0
            for i in range(m):
                s = s + delta[i * n_out + j]
            if grad == NULL:
                b[j] = b[j] - step * s
            elif accumulate:
                b[j] = b[j] + s
            else:
                b[j] = s
        if l > 1:
            # delta_prev = (delta . W) * f'(z_prev)   (BP2)
            bcast(m, n_out, n_in, <floating> 1.0, delta, n_out, 1, W, n_in,
                  <floating> 0.0, spare, n_in)
            times_prime(spare, acts[l - 1], m, n_in, net.hidden,
                        masks[l - 1] if masks != NULL else <floating *> NULL,
                        net.dropout)
        # weights: delta^T . A_prev, summed over the m rows by the product
        # (BP4), written over grad or fused into the step of W
        target = grad + net.w_off[l - 1] if grad != NULL else W
        alpha = <floating> 1.0 if grad != NULL else -step
        beta = (<floating> accumulate) if grad != NULL else w_scale
        if grad == NULL and l1_step != 0:  # (over layer 1's zero padding too)
            count = (net.w_off[l] if l < net.n_layers - 1 else net.n_weights) - net.w_off[l - 1]
            for i in range(count):
                W[i] = w_scale * W[i] - l1_step * sgn(W[i])
            beta = 1
        if l == 1 and rows0 != NULL:  # as forward's rows0 (nz: see gradient_rows)
            gradient_rows(n_in, m, n_out, alpha, rows0, delta, beta, target, net.ld1,
                          nz, listed, ahead, n_ahead)
        elif l == 1 and net.first_t:  # held as W^T: A_prev^T . delta
            bcast(n_in, m, n_out, alpha, acts[0], 1, n_in, delta, n_out, beta,
                  target, net.ld1)
        else:
            bcast(n_out, m, n_in, alpha, delta, 1, n_out, acts[l - 1], n_in, beta,
                  target, n_in)
        tmp = delta
        delta = spare
        spare = tmp
    return delta


cdef inline void vector_momentum(floating *x, floating *v, const floating *g,
                                 Py_ssize_t n, bint weights, floating mu, floating cg,
                                 floating c2, floating c1, floating a,
                                 floating b) noexcept nogil:
    """momentum_step's loops over n weights (or biases) in one vector pass
    (nncore_kernels.h)."""
    if floating is float:
        nncore_momentum_s(x, v, g, n, weights, mu, cg, c2, c1, a, b)
    else:
        nncore_momentum_d(x, v, g, n, weights, mu, cg, c2, c1, a, b)


cdef void momentum_step(const Net *net, floating *theta, floating *vel,
                        const floating *grad, Py_ssize_t m, double eta,
                        double l2, double l1, double n, double mu,
                        bint nesterov, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """One step of momentum (eqs. 107-108) or Nesterov's method, from the
    summed gradient `grad` of this mini-batch:
        v <- mu v - eta (grad/m + (l2/n) w + (l1/n) sgn(w))   (weights)
        v <- mu v - eta grad/m                                (biases)
        w <- w + v.
    For Nesterov, theta holds the look-ahead point phi = w + mu v throughout
    a call (sgd_epoch shifts it in at the start and out at the end), where
    the gradient and the regularization term are taken; then
        phi <- w_new + mu v_new = phi + (1 + mu) v_new - mu v_old.
    One pass, with no branch inside the loops, so the compiler can
    vectorize them.  Only the parameters theta[lo:hi] are stepped."""
    cdef Py_ssize_t i
    cdef floating v_old, v_new, w
    cdef floating c_grad = <floating> (eta / m)
    cdef floating c_l2 = <floating> (eta * l2 / n)
    cdef floating c_l1 = <floating> (eta * l1 / n)
    cdef floating fmu = <floating> mu
    cdef floating a = <floating> (1.0 + mu) if nesterov else <floating> 1.0
    cdef floating b = fmu if nesterov else <floating> 0.0
    cdef Py_ssize_t nw = min(net.n_weights, hi), b0 = max(lo, net.n_weights)
    if use_kernels:  # the same, in one vector pass per part
        if nw > lo:
            vector_momentum(theta + lo, vel + lo, grad + lo, nw - lo, True, fmu,
                            c_grad, c_l2, c_l1, a, b)
        if hi > b0:
            vector_momentum(theta + b0, vel + b0, grad + b0, hi - b0, False, fmu,
                            c_grad, c_l2, c_l1, a, b)
        return
    if c_l1 != 0:
        for i in range(lo, nw):
            w = theta[i]
            v_old = vel[i]
            v_new = fmu * v_old - (c_grad * grad[i] + c_l2 * w + c_l1 * sgn(w))
            vel[i] = v_new
            theta[i] = w + a * v_new - b * v_old
    else:
        for i in range(lo, nw):
            w = theta[i]
            v_old = vel[i]
            v_new = fmu * v_old - (c_grad * grad[i] + c_l2 * w)
            vel[i] = v_new
            theta[i] = w + a * v_new - b * v_old
    for i in range(max(lo, net.n_weights), hi):
        v_old = vel[i]
        v_new = fmu * v_old - c_grad * grad[i]
        vel[i] = v_new
        theta[i] = theta[i] + a * v_new - b * v_old


cdef inline void vector_step(floating *x, const floating *g, const floating *g2,
                             Py_ssize_t n, floating a, floating s) noexcept nogil:
    """x <- a x - s (g + g2) in one vector pass (nncore_kernels.h)."""
    if floating is float:
        nncore_step_s(x, g, g2, n, a, s)
    else:
        nncore_step_d(x, g, g2, n, a, s)


cdef void plain_step(const Net *net, floating *theta, const floating *grad,
                     floating w_scale, floating l1_step, floating step,
                     Py_ssize_t lo, Py_ssize_t hi,
                     const floating *grad2=NULL) noexcept nogil:
    """Eqs. (93)-(94) with L1 (eq. 97) from a summed gradient, over
    theta[lo:hi]: W <- w_scale W - l1_step sgn(W) - step grad,
    b <- b - step grad (what backward fuses into its products).  The
    gradient is grad + grad2 if grad2 is given: only without L1 and with
    our kernels, which take the step in one vector pass (vector_step); the
    two-thread epoch passes its two halves' gradients so."""
    cdef Py_ssize_t i, nw = min(net.n_weights, hi), b0 = max(lo, net.n_weights)
    cdef floating w
    if use_kernels and l1_step == 0:
        if nw > lo:
            vector_step(theta + lo, grad + lo, grad2 + lo if grad2 != NULL else NULL,
                        nw - lo, w_scale, step)
        if hi > b0:
            vector_step(theta + b0, grad + b0, grad2 + b0 if grad2 != NULL else NULL,
                        hi - b0, 1, step)
        return
    if l1_step != 0:
        for i in range(lo, nw):
            w = theta[i]
            theta[i] = (w_scale * w - l1_step * sgn(w)) - step * grad[i]
    else:
        for i in range(lo, nw):
            theta[i] = w_scale * theta[i] - step * grad[i]
    for i in range(max(lo, net.n_weights), hi):
        theta[i] = theta[i] - step * grad[i]


cdef inline bint fused_suits(const Net *net, Py_ssize_t mbs, double l1) noexcept nogil:
    """Whether an epoch on the transposed copy takes layer 1's steps fused
    with the next mini-batch's forward product (step_forward1): SGD, with
    momentum or not, without L1, a hidden layer, mini-batches of at most
    NNCORE_FUSE_MAX examples (their deltas and sums stay in registers), on
    our kernels."""
    return use_kernels and l1 == 0 and net.n_layers >= 3 and mbs <= NNCORE_FUSE_MAX


# The fused steps (of one thread, or of two split by inputs) leave alone
# layer 1's rows whose input is zero in both the mini-batch stepped and the
# next one (81 % of an MNIST image's pixels are zero: 150 of 784 are not in
# one image, 382 in ten; over two mini-batches of one, about 250 rows of 784
# are touched).  Their weight gradient is zero, but the step's weight decay
# would still scale them; so while the epoch runs, layer 1's weights are
# held as W = s V, the decay is taken by the scalar s (s <- beta s) and the
# step by the touched rows of V (V <- V + alpha/s' x . delta), and V is
# scaled back into W before any other use of it and when s falls below
# SPARSE_RESCALE_BELOW.
# The result is the dense steps' up to rounding (without decay, beta = 1, it
# is theirs exactly: a zero input adds exactly nothing to a sum of finite
# terms).  A weight or input that is not finite would make the dense sums
# NaN (0 times infinity): the next mini-batch's sums are checked, and at the
# first that is not finite the epoch goes back to the dense steps, which
# recompute them.
cdef double SPARSE_RESCALE_BELOW = 1.0 / 1024
cdef double SPARSE_BETA_MIN = 0.5


cdef inline bint sparse_suits(bint fuse, bint use_momentum, double beta, Py_ssize_t n1,
                              Py_ssize_t mbs, bint single) noexcept nogil:
    """Whether an epoch that fuses layer 1's steps (fused_suits) leaves its
    zero inputs' rows alone (see above): plain SGD (its decay factor beta at
    least SPARSE_BETA_MIN, so that s stays far from 0), where the rows left
    out save more than listing and packing the others costs: a row's work
    grows with its vectors of n1 lanes, the packing with the mini-batch.
    One thread, sparse over dense steps (epochs alternated in one process):
    784-30-10 (4 vectors a row in float64, 2 in float32) at mini-batches 2,
    3, 4, 6, 8, 10, 12: 0.55x, 0.73x, 0.72x, 0.76x, 0.80x, 0.79x, 0.79x
    (float64), 0.57x, 0.68x, 0.71x, 0.81x, 0.84x, 0.87x, 0.87x (float32);
    784-10-10 (2 vectors in float64, 1 in float32) at 1, 4, 12: 0.53x,
    0.87x, 0.97x (float64), 0.53x, 0.87x, 1.10x (float32; 0.94x at 6,
    1.02x at 8); 784-100-10 (13 and 7 vectors) 0.44x-0.97x from 1 to 12 in
    both dtypes.  Two threads split by inputs, 784-30-10 at 10: 0.88x
    (float64), 0.90x (float32)."""
    cdef Py_ssize_t vectors = (n1 + 15) // 16 if single else (n1 + 7) // 8
    return (fuse and skip_zeros and not use_momentum and beta >= SPARSE_BETA_MIN
            and (vectors >= 2 or mbs <= 6))


cdef void scale_weights(floating *W, Py_ssize_t P, Py_ssize_t N, Py_ssize_t ld,
                        floating s) noexcept nogil:
    """W[p, :N] <- s W[p, :N] for p < P (rows ld apart)."""
    cdef Py_ssize_t p, j
    cdef floating *row
    for p in range(P):
        row = W + p * ld
        for j in range(N):
            row[j] = s * row[j]


cdef inline bint finite_values(const floating *x, Py_ssize_t count) noexcept nogil:
    """all_finite, on our kernels where the CPU has them."""
    if not use_kernels:
        return all_finite(x, count)
    if floating is float:
        return nncore_all_finite_s(x, count) != 0
    else:
        return nncore_all_finite_d(x, count) != 0


cdef inline Py_ssize_t nonzero_inputs(const floating **rows, Py_ssize_t m, Py_ssize_t P,
                                      int *idx) noexcept nogil:
    """The inputs p < P that are not zero (or are NaN) in one of the m rows,
    ascending, into idx; returns their count (nncore_nonzero)."""
    if floating is float:
        return nncore_nonzero_s(rows, m, 0, P, idx)
    else:
        return nncore_nonzero_d(rows, m, 0, P, idx)


cdef inline void step_forward1(Py_ssize_t P, Py_ssize_t N, Py_ssize_t m,
                               const floating *XT, const floating *D,
                               const floating *coef, const floating *XTn, floating *W,
                               floating *V, Py_ssize_t ldw, floating *Z,
                               const floating **ahead, Py_ssize_t n_ahead,
                               const int *rowidx=NULL, Py_ssize_t count=0) noexcept nogil:
    """Layer 1's step (W its transposed weights, D its delta, XT the mini-
    batch's inputs packed by input, m to an input), then from the new W the
    next mini-batch's weighted inputs Z = XTn^T . W (XTn packed alike), in
    one pass (nncore_kernels.h): plain, W <- beta W + alpha XT . D with
    coef = {alpha, beta}; or with momentum, V its velocities in W's layout
    and coef = {mu, eta/m, eta*l2/n, a, b} (see momentum_step).  The
    n_ahead rows ahead[i] (of P inputs) are fetched into cache meanwhile.
    With rowidx (plain steps only), only the count rows rowidx[0..count-1]
    of W are stepped and summed, XT and XTn packed for those inputs alone
    (pack_listed; at m = 1 the input rows themselves, read at those
    inputs): the other rows are left alone (see sparse_suits)."""
    if rowidx != NULL and count == 0:
        memset(Z, 0, m * N * sizeof(floating))
        return
    if floating is float:
        nncore_step_forward_s(count if rowidx != NULL else P, N, <int> m, XT, D, N, coef,
                              XTn, W, V, ldw, Z, N, ahead, <int> n_ahead, rowidx, P)
    else:
        nncore_step_forward_d(count if rowidx != NULL else P, N, <int> m, XT, D, N, coef,
                              XTn, W, V, ldw, Z, N, ahead, <int> n_ahead, rowidx, P)


cdef inline void momentum_coef(floating *coef, Py_ssize_t m, double eta, double l2,
                               double n, double mu, bint nesterov) noexcept nogil:
    """step_forward1's coefficients for momentum_step's update."""
    coef[0] = <floating> mu
    coef[1] = <floating> (eta / m)
    coef[2] = <floating> (eta * l2 / n)
    coef[3] = <floating> (1.0 + mu) if nesterov else <floating> 1.0
    coef[4] = <floating> mu if nesterov else <floating> 0.0


cdef inline void pack_inputs(floating *XT, const floating *X, const Py_ssize_t *order,
                             Py_ssize_t m, Py_ssize_t count, Py_ssize_t ld) noexcept nogil:
    """XT[p*m + q] = X[order[q]*ld + p] for p < count: m input rows packed
    by input (nncore_pack on our kernels; else written in order, each row
    read in order)."""
    cdef Py_ssize_t p, q
    cdef const floating *rows[NNCORE_FUSE_MAX_C]
    for q in range(m):
        rows[q] = X + order[q] * ld
    if use_kernels:
        if floating is float:
            nncore_pack_s(XT, rows, <int> m, count)
        else:
            nncore_pack_d(XT, rows, <int> m, count)
        return
    for p in range(count):
        for q in range(m):
            XT[p * m + q] = rows[q][p]


cdef void pack_listed(floating *XS, floating *XSn, const floating **rows,
                      Py_ssize_t m, const int *idx, Py_ssize_t count) noexcept nogil:
    """For the inputs idx[0..count-1] alone: XS[r*m + q] = rows[q][idx[r]]
    (a mini-batch's m rows packed by input), XSn likewise from rows[m + q]
    (the next one's)."""
    cdef Py_ssize_t r, q, p
    for r in range(count):
        p = idx[r]
        for q in range(m):
            XS[r * m + q] = rows[q][p]
            XSn[r * m + q] = rows[m + q][p]


cdef bint sparse_step(Py_ssize_t P, Py_ssize_t n1, Py_ssize_t m, const floating **urows,
                      int *nz, floating *XS, floating *XSn,
                      const floating *d1, floating step, double *w_s, double beta,
                      floating *W, Py_ssize_t ld, floating *Z, const floating **ahead,
                      Py_ssize_t n_ahead) noexcept nogil:
    """One sparse step (see sparse_suits) of layer 1's P rows of W (= w_s V,
    rows ld apart) for the mini-batch whose m input rows are urows[0..m-1],
    its delta d1, and the next mini-batch's sums Z from urows[m..2m-1]
    (nz, XS, XSn: room for P indices, P*m values twice).
    Returns False if Z is not all finite: V is then scaled back into W
    (w_s = 1), and the caller goes back to dense steps, recomputing Z."""
    cdef floating coef[5]
    cdef Py_ssize_t count = nonzero_inputs(urows, 2 * m, P, nz)
    cdef const floating *XT = urows[0]     # (m = 1: read where they lie)
    cdef const floating *XTn = urows[1]
    if m > 1:
        pack_listed(XS, XSn, urows, m, nz, count)
        XT = XS
        XTn = XSn
    w_s[0] = w_s[0] * beta
    coef[0] = <floating> (-step / w_s[0])
    coef[1] = 1
    step_forward1(P, n1, m, XT, d1, coef, XTn, W, NULL, ld, Z, ahead, n_ahead,
                  nz, count)
    if w_s[0] != 1:
        scale_weights(Z, m, n1, n1, <floating> w_s[0])
    cdef bint finite = finite_values(Z, m * n1)
    if (not finite or w_s[0] < SPARSE_RESCALE_BELOW) and w_s[0] != 1:
        scale_weights(W, P, n1, ld, <floating> w_s[0])
        w_s[0] = 1
    return finite


# At mini-batch 1 the sparse steps touch about 230 rows of layer 1's weights
# per example (its inputs not zero in one image or the next), each read,
# written and summed over once.  Where W1 lies beyond the L2 (784-800-10:
# 5 MB in float64) that traffic is the epoch's time.  Blocks of B examples
# take it down: the steps of a block's B examples go into W1 in one pass,
# which also computes the next block's B products with the new W1, over
# the rows not zero in one of the 2B images (about 360 of 784 at B = 4,
# 90 a step).  The products of the block's later examples are then
# brought up to date before they are used, with the steps the block has
# taken since, all known by then: with W' = beta W - eta d x^T a step,
#     W_(k+j) x_(k+j) = beta^j W_k x_(k+j)
#                       - eta sum_(i<j) beta^(j-1-i) (x_(k+i) . x_(k+j)) d_(k+i),
# a sum of j vectors of n1 (the inputs' dot products from the packed
# rows).  The layers above layer 1 step at every example, as before.  The
# pass takes the block's deltas scaled (alpha = beta = 1), and where the
# listed rows lie within the L2 adds each example's term to a row in turn,
# M multiply-adds where w + (their sum) took M + 2: 784-100-10 at
# mini-batch 1, float64, 0.94x.  The result is the example-by-example
# steps' up to rounding.
cdef Py_ssize_t sparse_block = 4


def _sparse_block():
    """Examples per block of the sparse steps at mini-batch 1 (1: none)."""
    return sparse_block


def _set_sparse_block(Py_ssize_t examples):
    """For tests and benchmarks: examples per block of the sparse steps at
    mini-batch 1 (see blocked_steps); 1 steps them one by one."""
    global sparse_block
    if not 1 <= examples <= NNCORE_FUSE_MAX_C:
        raise ValueError(f"examples must lie in [1, {NNCORE_FUSE_MAX_C}], got {examples}")
    sparse_block = examples


# Blocks pay where a row of W1 spans BLOCK_MIN_VECTORS vectors of 64 bytes
# or more.  One thread, blocks of 4 against examples one by one (epochs
# alternated in one process, median ratio): 784-800-10 (100 vectors a row
# in float64, 50 in float32; W1 beyond the L2) 0.61x and 0.86x; 784-100-10
# 0.92x (13 vectors, float64) and 1.00x (7, float32); 784-30-10 1.05x (4)
# and 0.98x (2), where the products brought up to date and the packing
# cost what the traffic saves.  Blocks of 6 and 8: 0.63x at 784-800-10 in
# float64, 0.87x and 0.91x in float32.
cdef Py_ssize_t BLOCK_MIN_VECTORS = 8


def _set_block_min_vectors(Py_ssize_t vectors):
    """For tests and benchmarks: the vectors of 64 bytes a row of W1 must
    span for mini-batch 1's sparse steps to go in blocks (0: any).
    Returns the value it replaces."""
    global BLOCK_MIN_VECTORS
    before, BLOCK_MIN_VECTORS = BLOCK_MIN_VECTORS, vectors
    return before


cdef inline Py_ssize_t block_suits(bint sparse, Py_ssize_t mbs, bint use_dropout,
                                   Py_ssize_t total, Py_ssize_t row_bytes) noexcept nogil:
    """Examples per block for blocked_steps (1: step one by one): the sparse
    steps of mini-batch 1 without dropout, over at least two blocks, where
    a row of W1 (row_bytes) is wide enough (see above)."""
    if sparse and mbs == 1 and not use_dropout and sparse_block > 1 \
            and total >= 2 * sparse_block and (row_bytes + 63) // 64 >= BLOCK_MIN_VECTORS:
        return sparse_block
    return 1


cdef inline void input_dots(const floating *XS, Py_ssize_t rows, Py_ssize_t B,
                            floating *G) noexcept nogil:
    """G (B x B) = XS^T XS: the dot products of XS's B columns (rows of B)."""
    gemm(c'T', c'N', <int> B, <int> B, <int> rows, <floating> 1.0, XS, <int> B, XS,
         <int> B, <floating> 0.0, G, <int> B)


cdef void late_steps(floating *W1, Py_ssize_t ld, Py_ssize_t n_in, Py_ssize_t n1,
                     const floating **urows, Py_ssize_t j, const floating *D,
                     double eta, const double *powb, double *w_s) noexcept nogil:
    """The steps of a block's first j examples (urows, deltas D) into W1 =
    w_s V, one input at a time (when the block stops early)."""
    cdef Py_ssize_t i, p, t
    cdef floating c
    cdef floating *w
    for i in range(j):
        c = <floating> (-eta / (w_s[0] * powb[i + 1]))
        for p in range(n_in):
            if urows[i][p] != 0:
                w = W1 + p * ld
                for t in range(n1):
                    w[t] = w[t] + (c * urows[i][p]) * D[i * n1 + t]
    w_s[0] = w_s[0] * powb[j]


cdef Py_ssize_t blocked_steps(const Net *net, floating *theta, const floating *X,
                              const floating *Yt, const Py_ssize_t *order,
                              Py_ssize_t total, Py_ssize_t B, double eta, double beta,
                              floating w_scale, floating **acts, floating *delta,
                              floating *spare, floating *room, int *nz,
                              const floating *zero_row, double *w_s, bint *finite,
                              bint *sparse, bint watch_signals, PyObject *pending,
                              unsigned fp_mode) noexcept nogil:
    """Mini-batch-1 sparse steps (see sparse_suits) of the examples order[0..],
    in blocks of B (see above), while a whole block is left; W1 = w_s V
    (w_s = 1 on entry).  room: 4 B n1 + 2 B n0 values; nz: n0 ints;
    zero_row: n0 zeros.  Returns the examples stepped.  Stops early, with
    every step taken so far in W1, where the output delta is not finite
    (finite = False), where a block's products are not (sparse = False:
    the caller recomputes them from W1, densely) or where a signal is
    pending (its exception appended to the list `pending`)."""
    cdef Py_ssize_t n_in = net.sizes[0], n1 = net.sizes[1], ld = net.ld1
    cdef Py_ssize_t L = net.n_layers, n_out = net.sizes[L - 1]
    cdef floating *W1 = theta + net.w_off[0]
    cdef floating *b1 = theta + net.b_off[0]
    cdef floating *Yc = room
    cdef floating *Yn = room + B * n1
    cdef floating *D = room + 2 * B * n1
    cdef floating *DS = room + 3 * B * n1
    cdef floating *XS = room + 4 * B * n1
    cdef floating *XSn = XS + B * n_in
    cdef floating *swap
    cdef floating *z = acts[1]
    cdef floating *d1
    cdef const floating *urows[2 * NNCORE_FUSE_MAX_C]
    cdef const floating *ahead[NNCORE_FUSE_MAX_C]
    cdef floating G[NNCORE_FUSE_MAX_C * NNCORE_FUSE_MAX_C]
    cdef double powb[NNCORE_FUSE_MAX_C + 1]
    cdef floating coef[2]
    cdef floating step = <floating> eta
    cdef floating c
    cdef Py_ssize_t k = 0, i, j, t, count, n_next, n_ahead
    cdef bint stop = False
    powb[0] = 1
    for j in range(B):
        powb[j + 1] = powb[j] * beta
    # the first block's products, from W1 itself
    pack_inputs(XS, X, order, B, n_in, n_in)
    bcast(B, n_in, n1, <floating> 1.0, XS, 1, B, W1, ld, <floating> 0.0, Yc, n1)
    if not finite_values(Yc, B * n1):   # (an input not finite: the dense steps)
        sparse[0] = False
        return 0
    input_dots(XS, n_in, B, G)
    while k + B <= total:
        for j in range(B):
            # this example's sums: the block's first product, brought up to date
            c = <floating> powb[j]
            for t in range(n1):
                z[t] = c * Yc[j * n1 + t]
            for i in range(j):
                c = <floating> (-eta * powb[j - 1 - i] * G[i * B + j])
                if c != 0:
                    for t in range(n1):
                        z[t] = z[t] + c * D[i * n1 + t]
            activate(z, b1, 1, n1, net.hidden, <floating *> NULL)
            forward(net, theta, z, 1, acts, NULL, NULL, NULL, 2)
            output_delta(net, delta, acts[L - 1], Yt, &order[k + j], 1)
            if k + j + 1 < total:
                prefetch_targets(Yt, &order[k + j + 1], 1, n_out)
            if not all_finite(delta, n_out):
                for i in range(j):
                    urows[i] = X + order[k + i] * n_in
                late_steps(W1, ld, n_in, n1, urows, j, D, eta, powb, w_s)
                finite[0] = False
                return k + j
            d1 = backward(net, theta, NULL, 1, acts, delta, spare, NULL, w_scale, 0, step,
                          NULL, False, 2)
            bias_step(b1, d1, 1, n1, n1, step)
            memcpy(D + j * n1, d1, n1 * sizeof(floating))
        # the block's steps, and the next block's products (zero rows past
        # the end), in one pass over the rows not zero in one of them
        n_next = min(B, total - k - B)
        n_ahead = max(0, min(B, total - k - 2 * B))
        for i in range(B):
            urows[i] = X + order[k + i] * n_in
            urows[B + i] = X + order[k + B + i] * n_in if i < n_next else zero_row
        for i in range(n_ahead):
            ahead[i] = X + order[k + 2 * B + i] * n_in
        count = nonzero_inputs(urows, 2 * B, n_in, nz)
        pack_listed(XS, XSn, urows, B, nz, count)
        for j in range(B):
            c = <floating> (-eta / (w_s[0] * powb[j + 1]))
            for t in range(n1):
                DS[j * n1 + t] = c * D[j * n1 + t]
        w_s[0] = w_s[0] * powb[B]
        coef[0] = 1
        coef[1] = 1
        step_forward1(n_in, n1, B, XS, DS, coef, XSn, W1, NULL, ld, Yn, ahead, n_ahead,
                      nz, count)
        k += B
        if n_next < B:
            return k
        scale_weights(Yn, B, n1, n1, <floating> w_s[0])
        if not finite_values(Yn, B * n1):
            sparse[0] = False
            return k
        if w_s[0] < SPARSE_RESCALE_BELOW:
            scale_weights(W1, n_in, n1, ld, <floating> w_s[0])
            w_s[0] = 1
        input_dots(XSn, count, B, G)
        swap = Yc
        Yc = Yn
        Yn = swap
        if watch_signals and k // SIGNAL_EVERY != (k - B) // SIGNAL_EVERY:
            nncore_restore_fp(fp_mode)
            with gil:
                try:
                    PyErr_CheckSignals()
                except BaseException as e:
                    (<list> pending).append(e)
                    stop = True
            nncore_flush_subnormals()
            if stop:
                return k
    return k


cdef void working_copy(const Net *net, floating *theta, floating *work,
                       bint into) noexcept nogil:
    """Copy parameters (or velocities) between network2's layout (theta)
    and an epoch's working copy (work, net's layout; see first_transposed)
    in which layer 1's weights are held transposed in rows of net.ld1:
    into the copy if `into`, else back.  The copy's padding is left alone
    (zero from its allocation, and kept zero by every step -- but for 0
    times an input that is not finite, NaN, which no real lane reads)."""
    cdef Py_ssize_t i, j, n0 = net.sizes[0], n1 = net.sizes[1], ld = net.ld1
    cdef Py_ssize_t rest = net.n_params - n0 * ld    # the other layers, the biases
    for j in range(n1):
        for i in range(n0):
            if into:
                work[i * ld + j] = theta[j * n0 + i]
            else:
                theta[j * n0 + i] = work[i * ld + j]
    if into:
        memcpy(work + n0 * ld, theta + n0 * n1, rest * sizeof(floating))
    else:
        memcpy(theta + n0 * n1, work + n0 * ld, rest * sizeof(floating))


cdef void shift(floating *theta, const floating *vel, Py_ssize_t count,
                floating c) noexcept nogil:
    """theta <- theta + c v (into and out of Nesterov's look-ahead point)."""
    cdef Py_ssize_t i
    for i in range(count):
        theta[i] = theta[i] + c * vel[i]


# ---------------------------------------------------------------------------
# An epoch on two threads.  Each mini-batch is split by rows: thread 0 takes
# the first ceil(m/2) examples, thread 1 the rest; each runs the forward and
# backward passes of its rows into its own gradient buffer.  After a barrier
# each thread adds the two gradients and steps its half of the parameters;
# after a second barrier the next mini-batch starts.  The products are half
# as wide, but they run at the same time -- which a single BLAS call of a
# small mini-batch cannot do by itself.  The split is fixed, so the result
# is deterministic (it differs from one thread's only by rounding).

cdef struct Shared:
    Net net
    void *theta
    void *vel
    const void *X
    const void *Y
    const Py_ssize_t *order
    Py_ssize_t total, mbs, batch_offset, max_width
    double eta, lmbda, l1, n, mu
    bint nesterov, use_momentum, use_dropout, watch_signals
    void *work[2]                # per thread: activations, deltas, masks
    void *grad[2]                # per thread: its rows' summed gradient
    void *rows[2]                # per thread: pointers to its input rows
    nncore_barrier bar
    int finite[2]
    int stop
    Py_ssize_t done
    PyObject *pending            # a list: the signal's exception, if any
    # the split by layer 1's neurons (see epoch_cols) or inputs (epoch_inputs)
    bint by_cols
    bint by_inputs
    Py_ssize_t col_lo[2]         # thread t's neurons or inputs of layer 1:
    Py_ssize_t col_hi[2]         # [col_lo[t], col_hi[t])
    void *delta1                 # layer 1's delta, from thread 0 to both
    bint fuse                    # epoch_inputs: steps fused with the next sums
    void *xt[2]                  # ... per thread: two mini-batches' inputs, packed
    int *nz[2]                   # per thread: listed_room(sizes[0], mbs) ints
    bint sparse                  # epoch_inputs: fused steps leave zero inputs alone
    unsigned fp_mode             # thread 0's caller's floating-point mode


cdef void check_signals(Shared *s) noexcept nogil:
    """On thread 0 (the main thread): a pending signal's exception (Ctrl-C)
    is kept for the caller, and both threads stop after this mini-batch.
    The handlers run in the caller's floating-point mode."""
    nncore_restore_fp(s.fp_mode)
    with gil:
        try:
            PyErr_CheckSignals()
        except BaseException as e:
            (<list> s.pending).append(e)
            s.stop = 1
    nncore_flush_subnormals()


cdef void epoch_part(Shared *s, int t, floating *theta) noexcept nogil:
    """Thread t's share of a two-thread epoch (see above)."""
    cdef const Net *net = &s.net
    cdef Py_ssize_t L = net.n_layers, n_in = net.sizes[0]
    cdef Py_ssize_t n_last = net.sizes[L - 1], P = net.n_params
    cdef Py_ssize_t cap = s.mbs - s.mbs // 2
    cdef Py_ssize_t lo = 0 if t == 0 else P // 2
    cdef Py_ssize_t hi = P // 2 if t == 0 else P
    cdef floating *work = <floating *> s.work[t]
    cdef floating *grad = <floating *> s.grad[t]
    cdef floating *g0 = <floating *> s.grad[0]
    cdef const floating *g1 = <const floating *> s.grad[1]
    cdef floating *vel = <floating *> s.vel
    cdef const floating *X = <const floating *> s.X
    cdef const floating *Y = <const floating *> s.Y
    cdef floating *acts[MAX_LAYERS]
    cdef floating *masks[MAX_LAYERS]
    cdef floating *delta
    cdef floating *spare
    cdef floating *mask_base
    cdef const floating **rows = <const floating **> s.rows[t]
    cdef const floating **rows0
    cdef floating w_scale = <floating> (1.0 - s.eta * s.lmbda / s.n)
    cdef floating l1_step = <floating> (s.eta * s.l1 / s.n)
    cdef Py_ssize_t k = 0, m, h0, first, cnt, i, l, batch = s.batch_offset
    cdef Py_ssize_t m2, first2, n2   # (the next mini-batch's rows to fetch)
    # the two halves' gradients are summed in the step's pass where
    # plain_step can (no momentum, no L1, our kernels)
    cdef bint fused = use_kernels and not s.use_momentum and l1_step == 0
    carve(work, net, cap, 0, acts)
    delta = acts[L - 1] + cap * n_last
    spare = delta + cap * s.max_width
    mask_base = spare + cap * s.max_width
    for l in range(L):
        masks[l] = mask_base
        mask_base += net.sizes[l]
    while k < s.total:
        m = min(s.mbs, s.total - k)
        h0 = m - m // 2
        first = k if t == 0 else k + h0
        cnt = h0 if t == 0 else m - h0
        s.finite[t] = 1
        if cnt > 0:
            rows0 = direct_rows(net, X, &s.order[first], cnt, rows)
            if rows0 == NULL:
                for i in range(cnt):
                    memcpy(acts[0] + i * n_in, X + s.order[first + i] * n_in,
                           n_in * sizeof(floating))
                # this thread's rows of the next mini-batch (the same split)
                for i in range(first + m, min(first + m + min(cnt, PREFETCH_ROWS), s.total)):
                    nncore_prefetch(X + s.order[i] * n_in, n_in * sizeof(floating))
            if s.use_dropout:
                for l in range(1, L - 1):
                    dropout_mask(masks[l], net.seed, batch, l, net.sizes[l], net.dropout)
            if rows0 != NULL:
                # this thread's first rows of the next mini-batch (the same split)
                m2 = min(s.mbs, s.total - k - m)
                first2 = k + m if t == 0 else k + m + m2 - m2 // 2
                n2 = min(m2 - m2 // 2 if t == 0 else m2 // 2, chunk_rows)
                for i in range(n2):
                    rows[2 * cap - n2 + i] = X + s.order[first2 + i] * n_in
                s.finite[t] = chunked_gradient(net, theta, grad, Y, &s.order[first], cnt,
                                               rows0, acts, delta, spare,
                                               masks if s.use_dropout else NULL, s.nz[t],
                                               rows + 2 * cap - n2, n2)
            else:
                forward(net, theta, acts[0], cnt, acts, NULL,
                        masks if s.use_dropout else NULL)
                output_delta(net, delta, acts[L - 1], Y, &s.order[first], cnt)
                if first + m < s.total:
                    prefetch_targets(Y, &s.order[first + m],
                                     min(cnt, s.total - first - m), n_last)
                if all_finite(delta, cnt * n_last):
                    backward(net, theta, grad, cnt, acts, delta, spare,
                             masks if s.use_dropout else NULL, 1, 0, 0)
                else:
                    s.finite[t] = 0
        nncore_barrier_wait(&s.bar)
        if not (s.finite[0] and s.finite[1]):
            break
        # thread 1 had rows if m > 1 (it takes floor(m/2))
        if m > 1 and not fused:
            for i in range(lo, hi):
                g0[i] = g0[i] + g1[i]
        if s.use_momentum:
            momentum_step(net, theta, vel, g0, m, s.eta, s.lmbda, s.l1, s.n, s.mu,
                          s.nesterov, lo, hi)
        else:
            plain_step(net, theta, g0, w_scale, l1_step, <floating> (s.eta / m), lo, hi,
                       g1 if fused and m > 1 else NULL)
        k += m
        batch += 1
        if t == 0 and s.watch_signals and (batch - s.batch_offset) % SIGNAL_EVERY == 0 \
                and k < s.total:
            check_signals(s)
        nncore_barrier_wait(&s.bar)
        if s.stop:
            break
    if t == 0:
        s.done = k


# The other split, for plain SGD on a network whose first layer is wide
# (BLAS computes it) and holds most of the weights: by layer 1's neurons.
# Thread 1 takes the first neurons (about half, a multiple of 8), thread 0
# the rest.  Per mini-batch: each thread gathers half of the input rows
# into a shared block (two blocks, used in turn by successive mini-
# batches); barrier; each computes its neurons' activations for every
# row; barrier; thread 0 alone runs the layers above (forward, output
# error, back-propagation to layer 1's delta, and their steps); barrier;
# each takes its own neurons' weight and bias steps.  Layer 1's gradient,
# most of the parameters, is never summed across the threads: with 800
# neurons that sum moved megabytes between the cores per mini-batch.

cdef void layers_above(Shared *s, floating *theta, floating **acts, floating *delta,
                       floating *spare, Py_ssize_t k, Py_ssize_t m, floating w_scale,
                       floating l1_step, floating step, floating **masks=NULL,
                       floating *grad=NULL) noexcept nogil:
    """Thread 0's part of a split by layer 1's neurons or inputs, for the m
    examples from k on, from layer 1's activations acts[1] (masked already
    if masks is given): the layers above, forward and back, their steps
    fused into their products -- or, with grad, their summed gradients
    written there (theta's layout) and no step taken; layer 1's delta is
    left in s.delta1, or s.finite[0] cleared (nothing stepped) if the output
    error is not finite."""
    cdef const Net *net = &s.net
    cdef Py_ssize_t L = net.n_layers
    forward(net, theta, acts[1], m, acts, NULL, masks, NULL, 2)
    output_delta(net, delta, acts[L - 1], <const floating *> s.Y, &s.order[k], m)
    if k + m < s.total:
        prefetch_targets(<const floating *> s.Y, &s.order[k + m],
                         min(s.mbs, s.total - k - m), net.sizes[L - 1])
    if all_finite(delta, m * net.sizes[L - 1]):
        s.delta1 = backward(net, theta, grad, m, acts, delta, spare, masks,
                            w_scale, l1_step, step, NULL, False, 2)
    else:
        s.finite[0] = 0


cdef void bias_step(floating *b, const floating *D, Py_ssize_t m, Py_ssize_t n,
                    Py_ssize_t ld, floating step, floating keep=1) noexcept nogil:
    """b <- keep * b - step * (the column sums of D, m rows of n, ld apart):
    a bias step from its delta (BP3), for a split epoch's block of layer 1;
    with keep = 0 and step = -1, the bias gradient."""
    cdef Py_ssize_t i, j
    cdef floating acc
    for j in range(n):
        acc = 0
        for i in range(m):
            acc = acc + D[i * ld + j]
        b[j] = keep * b[j] - step * acc


cdef inline Py_ssize_t cols_split(Py_ssize_t n1) noexcept nogil:
    """Thread 1's share of layer 1's neurons: half, rounded up to 8."""
    return min(n1, ((n1 + 1) // 2 + 7) // 8 * 8)


cdef inline bint cols_suit(const Net *net, Py_ssize_t mbs, bint plain,
                           bint single, double l1) noexcept nogil:
    """Whether a two-thread epoch splits by layer 1's neurons (above): plain
    SGD (no momentum, no dropout), a hidden layer, mini-batches of 2 to 128
    (above, summing the gradient costs less than the extra barrier and the
    narrower products: measured on 784-800-10 at 32, 100, 300 and 1000),
    layer 1 wider than our kernel's 1 KB rows (it is computed by BLAS, in
    network2's layout) and holding four times the weights of the layers
    above it or more -- unless the split by inputs can take it (our
    kernels, 64 inputs or more; see inputs_suit), which on the transposed
    copy leaves out zero inputs in both of layer 1's products: against
    this split, 784-800-10 took 0.72x the time at mini-batch 100 in
    float64, 0.63x in float32, 0.61x at 20, 0.72x at 10 with L1;
    784-300-10 at 64 0.62x and 0.54x, 784-200-10 at 100 0.66x."""
    cdef Py_ssize_t l, above = 0
    if (not plain or net.n_layers < 3 or mbs < 2 or mbs > 128
            or net.sizes[1] * (4 if single else 8) <= 1024
            or (use_kernels and net.sizes[0] >= 64)):
        return False
    for l in range(2, net.n_layers):
        above += net.sizes[l - 1] * net.sizes[l]
    return net.sizes[0] * net.sizes[1] >= 4 * above


cdef void epoch_cols(Shared *s, int t, floating *theta) noexcept nogil:
    """Thread t's share of a two-thread epoch split by layer 1's neurons."""
    cdef const Net *net = &s.net
    cdef Py_ssize_t L = net.n_layers, n0 = net.sizes[0], n1 = net.sizes[1]
    cdef Py_ssize_t n_last = net.sizes[L - 1], mbs = s.mbs
    cdef Py_ssize_t c0 = s.col_lo[t], nc = s.col_hi[t] - s.col_lo[t]
    cdef floating *work = <floating *> s.work[0]
    cdef const floating *X = <const floating *> s.X
    cdef floating *acts[MAX_LAYERS]
    cdef floating *delta
    cdef floating *spare
    cdef floating *d1
    cdef floating *W = theta + net.w_off[0] + c0 * n0   # this thread's neurons
    cdef floating *b = theta + net.b_off[0] + c0
    cdef floating w_scale = <floating> (1.0 - s.eta * s.lmbda / s.n)
    cdef floating l1_step = <floating> (s.eta * s.l1 / s.n)
    cdef floating step, beta
    cdef Py_ssize_t k = 0, m, m2, h, i, lo, hi, batch = s.batch_offset
    cdef int turn = 0
    carve(work + 2 * mbs * n0, net, mbs, 1, acts)
    delta = acts[L - 1] + mbs * n_last
    spare = delta + mbs * s.max_width
    while k < s.total:
        m = min(mbs, s.total - k)
        step = <floating> (s.eta / m)
        # this thread's half of the rows, into this mini-batch's block
        acts[0] = work + turn * mbs * n0
        h = m - m // 2
        lo = 0 if t == 0 else h
        hi = h if t == 0 else m
        for i in range(lo, hi):
            memcpy(acts[0] + i * n0, X + s.order[k + i] * n0, n0 * sizeof(floating))
        m2 = min(mbs, s.total - k - m)   # and the same half of the next one
        lo = k + m + (0 if t == 0 else m2 - m2 // 2)
        for i in range(lo, lo + min(m2 // 2 if t else m2 - m2 // 2, PREFETCH_ROWS)):
            nncore_prefetch(X + s.order[i] * n0, n0 * sizeof(floating))
        nncore_barrier_wait(&s.bar)
        if nc > 0:  # this thread's neurons, every row
            gemm(c'N', c'T', <int> m, <int> nc, <int> n0, <floating> 1.0, acts[0],
                 <int> n0, W, <int> n0, <floating> 0.0, acts[1] + c0, <int> n1)
            activate(acts[1] + c0, b, m, nc, net.hidden, <floating *> NULL, n1)
        # a pending signal stops both threads after this mini-batch (stop
        # changes only here, or before the threads start)
        if t == 0 and s.watch_signals and k + m < s.total \
                and (batch + 1 - s.batch_offset) % SIGNAL_EVERY == 0:
            check_signals(s)
        nncore_barrier_wait(&s.bar)
        if t == 0:
            layers_above(s, theta, acts, delta, spare, k, m, w_scale, l1_step, step)
        nncore_barrier_wait(&s.bar)
        if not s.finite[0]:
            break
        d1 = <floating *> s.delta1
        if nc > 0:  # this thread's neurons' steps (BP3, BP4), as backward's
            beta = w_scale
            if l1_step != 0:
                for i in range(nc * n0):
                    W[i] = w_scale * W[i] - l1_step * sgn(W[i])
                beta = 1
            bcast(nc, m, n0, -step, d1 + c0, 1, n1, acts[0], n0, beta, W, n0)
            bias_step(b, d1 + c0, m, nc, n1, step)
        k += m
        batch += 1
        turn = 1 - turn
        if s.stop:
            break
    if t == 0:
        s.done = k


cdef bint rows_above(Shared *s, floating *theta, floating **acts, floating *delta,
                     floating *spare, Py_ssize_t k, Py_ssize_t r0, Py_ssize_t c,
                     floating **masks, const floating *Z1) noexcept nogil:
    """A thread's part of the layers above layer 1 in a split by inputs of a
    network with one hidden layer: for the c examples from row r0 of the
    mini-batch at k, layer 1's activations from the two partial sums
    (acts[1] + Z1), the output layer, its error and layer 1's delta (in
    spare), all row by row, as forward and backward compute them; no step.
    False if the output error of these rows is not finite."""
    cdef const Net *net = &s.net
    cdef Py_ssize_t n1 = net.sizes[1], n2 = net.sizes[2], i, j
    cdef floating *a1 = acts[1] + r0 * n1
    cdef floating *a2 = acts[2] + r0 * n2
    cdef floating *d2 = delta + r0 * n2
    cdef floating *d1 = spare + r0 * n1
    cdef const floating *W2 = theta + net.w_off[1]
    if c == 0:
        return True
    activate(a1, theta + net.b_off[0], c, n1, net.hidden, <floating *> NULL, 0,
             Z1 + r0 * n1)
    if masks != NULL:
        apply_mask(a1, c, n1, masks[1])
    gemm(c'N', c'T', <int> c, <int> n2, <int> n1, <floating> 1.0, a1, <int> n1, W2,
         <int> n1, <floating> 0.0, a2, <int> n2)
    activate(a2, theta + net.b_off[1], c, n2, net.output, <floating *> NULL)
    output_delta(net, d2, a2, <const floating *> s.Y, &s.order[k + r0], c)
    if not all_finite(d2, c * n2):
        return False
    bcast(c, n2, n1, <floating> 1.0, d2, n2, 1, W2, n1, <floating> 0.0, d1, n1)
    times_prime(d1, a1, c, n1, net.hidden, masks[1] if masks != NULL else <floating *> NULL,
                net.dropout)
    return True


cdef void steps_above(Shared *s, floating *theta, floating **acts, const floating *delta,
                      const floating *d1, Py_ssize_t m, floating w_scale,
                      floating l1_step, floating step, floating *grad) noexcept nogil:
    """After rows_above on both threads (one hidden layer): the output
    layer's steps and layer 1's bias step from the whole mini-batch's
    deltas, as backward takes them -- or, with grad, those gradients and
    their momentum steps."""
    cdef const Net *net = &s.net
    cdef Py_ssize_t n1 = net.sizes[1], n2 = net.sizes[2], i
    cdef floating *W2 = theta + net.w_off[1]
    cdef floating beta = w_scale
    if grad != NULL:
        bias_step(grad + net.b_off[1], delta, m, n2, n2, -1, 0)
        bcast(n2, m, n1, <floating> 1.0, delta, 1, n2, acts[1], n1, <floating> 0.0,
              grad + net.w_off[1], n1)
        bias_step(grad + net.b_off[0], d1, m, n1, n1, -1, 0)
        momentum_step(net, theta, <floating *> s.vel, grad, m, s.eta, s.lmbda, s.l1, s.n,
                      s.mu, s.nesterov, net.w_off[1], net.n_params)
        return
    bias_step(theta + net.b_off[1], delta, m, n2, n2, step)
    if l1_step != 0:
        for i in range(n2 * n1):
            W2[i] = w_scale * W2[i] - l1_step * sgn(W2[i])
        beta = 1
    bcast(n2, m, n1, -step, delta, 1, n2, acts[1], n1, beta, W2, n1)
    bias_step(theta + net.b_off[0], d1, m, n1, n1, step)


# The split for a narrow first layer held transposed (first_transposed),
# with mini-batches up to CHUNKED_ABOVE: by layer 1's inputs.  Thread 0
# takes the first inputs (about half, a multiple of 16), thread 1 the rest;
# each owns those rows of W1^T.  Per mini-batch: each multiplies its
# inputs' columns of every row by its rows of W1^T, a partial sum of layer
# 1's weighted input; barrier; thread 0 adds the two partial sums and runs
# everything above (activations and dropout's masks, the layers above and
# their steps, layer 1's delta and bias step); barrier; each takes the steps
# of its rows of W1^T, fused into X[:, its inputs]^T . delta1 (with
# momentum, that gradient is written first and each thread steps its rows
# and their velocities).  With one hidden layer and mini-batches of
# ROWS_ABOVE_MIN or more, the work above is shared instead: after the first
# barrier each thread takes half of the rows (their activations, output,
# output error and layer 1's delta: rows_above), and after the second,
# thread 0 takes the steps above from the whole mini-batch's deltas
# (steps_above) before its rows of W1^T.  Each thread reads half of every
# input row, and no gradient crosses between the cores, only the partial
# sums and layer 1's delta (mbs x sizes[1] each): split by rows, each
# mini-batch moved the two halves of the gradient and of the stepped
# weights across (1.25 MB for
# 784-100-10 in float64; with momentum at mini-batch 10, two threads took
# 1.13-1.30x one thread's time split by rows, 0.44-0.53x by inputs).

cdef inline Py_ssize_t inputs_split(Py_ssize_t n0) noexcept nogil:
    """Thread 0's share of layer 1's inputs: half, rounded to 16."""
    return min(n0, (n0 // 2 + 8) // 16 * 16)


cdef inline bint inputs_suit(const Net *net, Py_ssize_t mbs) noexcept nogil:
    """Whether a two-thread epoch splits by layer 1's inputs (above): on a
    working copy with layer 1 held transposed, a hidden layer, 64 inputs or
    more, and mini-batches up to CHUNKED_ABOVE -- from one example, which no
    other split can share (784-30-10, 784-100-10 and 784-800-10 at
    mini-batch 1: 0.68x, 0.62x and 0.51x one thread's time in float64,
    0.84x, 0.69x and 0.40x in float32) (beyond, the split by rows
    sums its gradients once per chunked mini-batch, while this split needs
    two barriers per chunk: at 1000 it took 1.06-1.16x the split by rows'
    time, 784-30-10 and 784-100-10, both dtypes).  Any update rule: with
    momentum each thread steps its own rows of W1^T (and thread 0 the rest)
    from gradients written first; dropout's masks are thread 0's."""
    return (net.first_t and net.n_layers >= 3 and net.sizes[0] >= 64
            and 1 <= mbs <= CHUNKED_ABOVE)


cdef void epoch_inputs(Shared *s, int t, floating *theta) noexcept nogil:
    """Thread t's share of a two-thread epoch split by layer 1's inputs."""
    cdef const Net *net = &s.net
    cdef Py_ssize_t L = net.n_layers, n0 = net.sizes[0], n1 = net.sizes[1]
    cdef Py_ssize_t n_last = net.sizes[L - 1], ld = net.ld1
    cdef Py_ssize_t k0 = s.col_lo[t], nk = s.col_hi[t] - s.col_lo[t]
    cdef floating *work = <floating *> s.work[0]
    cdef floating *Z1 = <floating *> s.work[1]         # thread 1's partial sums
    cdef const floating *X = <const floating *> s.X
    cdef const floating **rows = <const floating **> s.rows[t]
    cdef floating *acts[MAX_LAYERS]
    cdef floating *masks[MAX_LAYERS]
    cdef floating **use_masks = masks if s.use_dropout else NULL
    cdef floating *delta
    cdef floating *spare
    cdef floating *d1
    cdef floating *mask_base
    cdef Py_ssize_t w_lo = net.w_off[0] + k0 * ld        # this thread's rows
    cdef floating *W = theta + w_lo
    cdef floating *b1 = theta + net.b_off[0]
    # with momentum: gradients first, in theta's layout (thread t's rows;
    # thread 0's also the layers above and the biases), then the steps
    cdef floating *grad = <floating *> s.grad[t] if s.use_momentum else NULL
    cdef floating w_scale = <floating> (1.0 - s.eta * s.lmbda / s.n)
    cdef floating l1_step = <floating> (s.eta * s.l1 / s.n)
    cdef floating step, beta
    cdef Py_ssize_t k = 0, m, i, l, batch = s.batch_offset, listed, n2
    # with s.fuse (no L1, mini-batches up to NNCORE_FUSE_MAX) a step of this
    # thread's rows computes its part of the next mini-batch's sums, as the
    # one-thread epoch does (step_forward1)
    cdef floating coef[5]
    cdef floating *Zt
    cdef floating *XTc = <floating *> s.xt[t]
    cdef floating *XTn = XTc + nk * s.mbs if s.fuse else NULL
    cdef floating *swap
    cdef bint z_ready = False
    # with one hidden layer, both threads take the layers above, half of
    # the rows each (rows_above), and thread 0 their steps with its rows
    # of W1^T; deeper, thread 0 takes them alone (layers_above) while
    # thread 1 waits
    cdef bint by_rows = L == 3 and s.mbs >= ROWS_ABOVE_MIN
    cdef Py_ssize_t h
    # the fused steps leave this thread's rows of zero inputs alone, as the
    # one-thread epoch's do (sparse_suits): its rows of W1^T are w_s V, and
    # each thread keeps its own w_s and goes back to dense steps on its own
    cdef bint sparse = s.sparse and finite_values(W, nk * ld)
    cdef double beta_d = 1.0 - s.eta * s.lmbda / s.n
    cdef double w_s = 1.0
    cdef const floating *urows[2 * NNCORE_FUSE_MAX_C]
    carve(work, net, s.mbs, 1, acts)
    Zt = acts[1] if t == 0 else Z1
    delta = acts[L - 1] + s.mbs * n_last
    spare = delta + s.mbs * s.max_width
    mask_base = spare + s.mbs * s.max_width
    for l in range(L):
        masks[l] = mask_base
        mask_base += net.sizes[l]
    while k < s.total:
        m = min(s.mbs, s.total - k)
        step = <floating> (s.eta / m)
        for i in range(m):
            rows[i] = X + s.order[k + i] * n0 + k0
        if t == 0 and s.use_dropout:
            for l in range(1, L - 1):
                dropout_mask(masks[l], net.seed, batch, l, net.sizes[l], net.dropout)
        # this thread's part of layer 1's weighted input, every row
        # (over the inputs not zero in some row, but in fused epochs, whose
        # steps compute the sums from the second mini-batch on)
        listed = -1
        if not z_ready and (s.fuse or not forward_listed(nk, m, n1, rows, W, ld, Zt, n1,
                                                         s.nz[t], &listed)):
            bcast_rows(m, nk, n1, <floating> 1.0, rows, False, W, ld, <floating> 0.0,
                       Zt, n1)
        nncore_barrier_wait(&s.bar)
        # a pending signal stops both threads after this mini-batch (stop
        # changes only here, after thread 1 has read it at the end of the
        # last mini-batch)
        if t == 0 and s.watch_signals and k + m < s.total \
                and (batch + 1 - s.batch_offset) % SIGNAL_EVERY == 0:
            check_signals(s)
        if by_rows:  # the layers above, half of the rows each
            h = m // 2
            s.finite[t] = rows_above(s, theta, acts, delta, spare, k, 0 if t == 0 else h,
                                     h if t == 0 else m - h, use_masks, Z1)
        elif t == 0:
            activate(acts[1], b1, m, n1, net.hidden, <floating *> NULL, 0, Z1)
            if s.use_dropout:
                apply_mask(acts[1], m, n1, masks[1])
            layers_above(s, theta, acts, delta, spare, k, m, w_scale, l1_step, step,
                         use_masks, grad)
            if s.finite[0] and grad == NULL:  # layer 1's bias
                bias_step(b1, <floating *> s.delta1, m, n1, n1, step)
            elif s.finite[0]:  # its gradient, then every step but W1^T's
                bias_step(grad + net.b_off[0], <floating *> s.delta1, m, n1, n1, -1, 0)
                momentum_step(net, theta, <floating *> s.vel, grad, m, s.eta, s.lmbda,
                              s.l1, s.n, s.mu, s.nesterov, net.w_off[1], net.n_params)
        nncore_barrier_wait(&s.bar)
        if not (s.finite[0] and s.finite[1]):
            break
        if by_rows:
            d1 = spare
            if t == 0:
                steps_above(s, theta, acts, delta, d1, m, w_scale, l1_step, step, grad)
        else:
            d1 = <floating *> s.delta1
        # this thread's rows of W1^T: their steps (BP4), as backward's
        if sparse and s.fuse and m == s.mbs and k + 2 * m <= s.total:
            # the inputs (of this thread's) not zero in this mini-batch or
            # the next, packed by input, and their rows of W1^T
            for i in range(m):
                urows[i] = X + s.order[k + i] * n0 + k0
                urows[m + i] = X + s.order[k + m + i] * n0 + k0
            l = min(m, s.total - (k + 2 * m))  # rows of the one after
            for i in range(l):
                rows[i] = X + s.order[k + 2 * m + i] * n0 + k0
            if not sparse_step(nk, n1, m, urows, s.nz[t], XTc, XTn, d1, step,
                               &w_s, beta_d, W, ld, Zt, rows, l):
                # back to dense steps, which recompute this thread's sums
                sparse = False
                for i in range(m):
                    rows[i] = X + s.order[k + m + i] * n0 + k0
                bcast_rows(m, nk, n1, <floating> 1.0, rows, False, W, ld, <floating> 0.0,
                           Zt, n1)
                # (the dense steps find the next mini-batch packed in XTc)
                pack_inputs(XTc, X + k0, &s.order[k + m], m, nk, n0)
            z_ready = True
        elif s.fuse and m == s.mbs and k + 2 * m <= s.total:
            if not z_ready:
                pack_inputs(XTc, X + k0, &s.order[k], m, nk, n0)
            pack_inputs(XTn, X + k0, &s.order[k + m], m, nk, n0)
            l = min(m, s.total - (k + 2 * m))  # rows of the one after
            for i in range(l):
                rows[i] = X + s.order[k + 2 * m + i] * n0 + k0
            if grad != NULL:
                momentum_coef(coef, m, s.eta, s.lmbda, s.n, s.mu, s.nesterov)
            else:
                coef[0] = -step
                coef[1] = w_scale
            step_forward1(nk, n1, m, XTc, d1, coef, XTn, W,
                          <floating *> s.vel + w_lo if grad != NULL else NULL, ld, Zt,
                          rows, l)
            swap = XTc
            XTc = XTn
            XTn = swap
            z_ready = True
        elif grad != NULL:
            gradient_rows(nk, m, n1, <floating> 1.0, rows, d1, <floating> 0.0,
                          grad + w_lo, ld, s.nz[t], listed)
            momentum_step(net, theta, <floating *> s.vel, grad, m, s.eta, s.lmbda, s.l1,
                          s.n, s.mu, s.nesterov, w_lo, w_lo + nk * ld)
            z_ready = False
        else:
            if w_s != 1:   # (after sparse steps: W itself)
                scale_weights(W, nk, n1, ld, <floating> w_s)
                w_s = 1
            beta = w_scale
            if l1_step != 0:  # (over the zero padding too)
                for i in range(nk * ld):
                    W[i] = w_scale * W[i] - l1_step * sgn(W[i])
                beta = 1
            # this thread's inputs of the next mini-batch, fetched meanwhile
            n2 = min(s.mbs, s.total - k - m)
            for i in range(n2):
                rows[s.mbs + i] = X + s.order[k + m + i] * n0 + k0
            gradient_rows(nk, m, n1, -step, rows, d1, beta, W, ld, s.nz[t], listed,
                          rows + s.mbs, n2)
            z_ready = False
        k += m
        batch += 1
        if s.stop:
            break
    if w_s != 1:   # (stopped early)
        scale_weights(W, nk, n1, ld, <floating> w_s)
    if t == 0:
        s.done = k


def _second_thread(size_t shared_address, bint single):
    """Thread 1 of a two-thread epoch (started by sgd_epoch)."""
    cdef Shared *s = <Shared *> shared_address
    cdef unsigned fp_mode
    with nogil:
        fp_mode = nncore_flush_subnormals()
        if single:
            if s.by_cols:
                epoch_cols(s, 1, <float *> s.theta)
            elif s.by_inputs:
                epoch_inputs(s, 1, <float *> s.theta)
            else:
                epoch_part(s, 1, <float *> s.theta)
        elif s.by_cols:
            epoch_cols(s, 1, <double *> s.theta)
        elif s.by_inputs:
            epoch_inputs(s, 1, <double *> s.theta)
        else:
            epoch_part(s, 1, <double *> s.theta)
        nncore_restore_fp(fp_mode)


# ---------------------------------------------------------------------------
# Python-facing entry points.  They check what would make the C code read or
# write out of bounds, then release the GIL for all of the work.

cdef class _Layout:
    """Offsets of each layer's weights and biases in theta; with ld1 > 0,
    in an epoch's working copy whose layer 1 is held transposed, (sizes[0],
    ld1), the columns past sizes[1] zero (see first_transposed)."""
    cdef Py_ssize_t n_layers, n_params, n_weights, max_width, act_total, ld1
    cdef Py_ssize_t[::1] sizes, w_off, b_off

    def __cinit__(self, sizes, Py_ssize_t ld1=0):
        cdef Py_ssize_t l, off = 0
        sz = np.ascontiguousarray(sizes, dtype=np.intp)
        if sz.ndim != 1 or sz.shape[0] < 2:
            raise ValueError("sizes must list at least two layer widths")
        if sz.shape[0] > MAX_LAYERS:
            raise ValueError(f"at most {MAX_LAYERS} layers are supported")
        if (sz < 1).any():
            raise ValueError(f"every layer width must be at least 1, got {list(sz)}")
        self.sizes = sz
        self.n_layers = sz.shape[0]
        self.ld1 = max(ld1, sz[1])
        self.w_off = np.empty(self.n_layers - 1, dtype=np.intp)
        self.b_off = np.empty(self.n_layers - 1, dtype=np.intp)
        for l in range(self.n_layers - 1):
            self.w_off[l] = off
            off += (self.ld1 if l == 0 else sz[l + 1]) * sz[l]
        self.n_weights = off
        for l in range(self.n_layers - 1):
            self.b_off[l] = off
            off += sz[l + 1]
        self.n_params = off
        self.max_width = int(sz[1:].max())
        self.act_total = int(sz.sum())

    cdef Net net(self, int hidden, int output, int cost) except *:
        cdef Net net
        if hidden not in (SIGMOID, TANH, RELU, LINEAR):
            raise ValueError(f"unknown hidden activation code {hidden}")
        if output not in (SIGMOID, TANH, RELU, LINEAR, SOFTMAX):
            raise ValueError(f"unknown output activation code {output}")
        if cost not in (QUADRATIC, CROSS_ENTROPY, LOG_LIKELIHOOD):
            raise ValueError(f"unknown cost code {cost}")
        if cost == CROSS_ENTROPY and output != SIGMOID:
            raise ValueError("the cross-entropy cost needs sigmoid output neurons")
        if cost == LOG_LIKELIHOOD and output != SOFTMAX:
            raise ValueError("the log-likelihood cost needs a softmax output layer")
        net.n_layers = self.n_layers
        net.sizes = &self.sizes[0]
        net.w_off = &self.w_off[0]
        net.b_off = &self.b_off[0]
        net.n_weights = self.n_weights
        net.n_params = self.n_params
        net.hidden = hidden
        net.output = output
        net.cost = cost
        net.dropout = 0
        net.seed = 0
        net.first_t = False
        net.ld1 = self.ld1
        return net


cdef aligned_zeros(Py_ssize_t n, dtype):
    """n zeros of dtype from a 64-byte boundary: a working copy's padded
    rows then start on cache lines, as the kernel's vectors do."""
    cdef Py_ssize_t size = np.dtype(dtype).itemsize
    buf = np.zeros(n + 64 // size, dtype=dtype)
    cdef Py_ssize_t off = (-buf.ctypes.data % 64) // size
    return buf[off:off + n]


def n_params(sizes):
    """Length of the flat parameter buffer for a network of these sizes."""
    return _Layout(sizes).n_params


cdef _check_theta(_Layout lay, Py_ssize_t n, str what="theta"):
    if n != lay.n_params:
        raise ValueError(f"{what} has {n} entries; sizes {list(lay.sizes)} "
                         f"need {lay.n_params}")


cdef _check_rows(_Layout lay, Py_ssize_t n_cols, Py_ssize_t layer, str what):
    if n_cols != lay.sizes[layer]:
        raise ValueError(f"{what} has {n_cols} columns; layer {layer} of the "
                         f"network has {lay.sizes[layer]} neurons")


cdef void carve(floating *work, const Net *net, Py_ssize_t rows, Py_ssize_t first,
                floating **acts) noexcept nogil:
    """Point acts[first..n_layers-1] at consecutive (rows, sizes[l]) blocks
    of work."""
    cdef Py_ssize_t l, off = 0
    for l in range(first, net.n_layers):
        acts[l] = work + off
        off += rows * net.sizes[l]


def feedforward(const floating[::1] theta, sizes, const floating[:, ::1] X,
                floating[:, ::1] out, floating[:, ::1] z_out=None,
                int hidden=SIGMOID, int output=SIGMOID):
    """Write the network's outputs for the rows of X into out, (n, sizes[-1]).
    If z_out is given it receives the output layer's weighted inputs z."""
    cdef _Layout lay = _Layout(sizes)
    cdef Net net = lay.net(hidden, output, QUADRATIC)
    cdef Py_ssize_t n = X.shape[0], L = lay.n_layers
    cdef Py_ssize_t n_out = lay.sizes[L - 1]
    cdef Py_ssize_t start, rows
    _check_theta(lay, theta.shape[0])
    _check_rows(lay, X.shape[1], 0, "X")
    if out.shape[0] != n or out.shape[1] != n_out:
        raise ValueError(f"out must have shape ({n}, {n_out})")
    if z_out is not None and (z_out.shape[0] != n or z_out.shape[1] != n_out):
        raise ValueError(f"z_out must have shape ({n}, {n_out})")
    if n == 0:
        return
    cdef Py_ssize_t block = min(n, FORWARD_BLOCK)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] work = np.empty(block * lay.act_total, dtype=dtype)
    cdef floating *acts[MAX_LAYERS]
    cdef floating *zp = NULL
    cdef bint want_z = z_out is not None
    with nogil:
        carve(&work[0], &net, block, 1, acts)
        start = 0
        while start < n:
            rows = min(block, n - start)
            zp = &z_out[start, 0] if want_z else NULL
            forward(&net, &theta[0], &X[start, 0], rows, acts, zp, NULL)
            memcpy(&out[start, 0], acts[L - 1], rows * n_out * sizeof(floating))
            start += rows


def backprop(const floating[::1] theta, sizes, const floating[:, ::1] X,
             const floating[:, ::1] Y, int cost, floating[::1] grad,
             int hidden=SIGMOID, int output=SIGMOID):
    """Gradients of the cost summed over the rows of X (targets Y), as
    matrix products over the whole mini-batch, written into grad (theta's
    layout)."""
    cdef _Layout lay = _Layout(sizes)
    cdef Net net = lay.net(hidden, output, cost)
    cdef Py_ssize_t m = X.shape[0], L = lay.n_layers
    _check_theta(lay, theta.shape[0])
    _check_theta(lay, grad.shape[0], "grad")
    _check_rows(lay, X.shape[1], 0, "X")
    _check_rows(lay, Y.shape[1], L - 1, "Y")
    if Y.shape[0] != m:
        raise ValueError(f"X has {m} rows but Y has {Y.shape[0]}")
    if m == 0:
        grad[:] = 0
        return
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] work = np.empty(m * (lay.act_total + 2 * lay.max_width),
                                       dtype=dtype)
    cdef floating *acts[MAX_LAYERS]
    cdef floating *delta
    cdef floating *spare
    with nogil:
        acts[0] = <floating *> &X[0, 0]
        carve(&work[0], &net, m, 1, acts)
        delta = acts[L - 1] + m * lay.sizes[L - 1]
        spare = delta + m * lay.max_width
        forward(&net, &theta[0], &X[0, 0], m, acts, NULL, NULL)
        output_delta(&net, delta, acts[L - 1], &Y[0, 0], NULL, m)
        backward(&net, <floating *> &theta[0], &grad[0], m, acts, delta, spare,
                 NULL, 1, 0, 0)


def sgd_epoch(floating[::1] theta, sizes, const floating[:, ::1] X,
              const floating[:, ::1] Y, const Py_ssize_t[::1] order,
              Py_ssize_t mini_batch_size, double eta, double lmbda,
              Py_ssize_t n, int cost, *, int hidden=SIGMOID, int output=SIGMOID,
              double l1=0.0, double dropout=0.0, uint64_t seed=0,
              Py_ssize_t batch_offset=0, double mu=0.0, bint nesterov=False,
              floating[::1] velocity=None, Py_ssize_t[::1] status=None,
              int threads=1):
    """One epoch (or part of one) of mini-batch SGD, in place on theta.

    The mini-batches are order[k : k + mini_batch_size] for k = 0,
    mini_batch_size, ...; the last may be shorter, and its own size m is
    used in its update.  n is the size of the training set (for the
    regularization terms).  Nothing returns to Python between mini-batches.

    Plain SGD (mu = 0, no Nesterov): eqs. (93)-(94) with L1 (eq. 97), the
    decay fused into the weight-gradient product.  With mu > 0 or Nesterov,
    `velocity` (theta's layout) holds the velocities and is updated too.
    dropout = p drops each hidden neuron with probability p, a new subset
    per mini-batch, from the hash of (seed, batch_offset + batch index,
    layer, neuron); kept activations are scaled by 1/(1 - p).  Without L1,
    at mini-batches of up to 12 and where the CPU has the core's kernels,
    the step of layer 1's weights also computes the next mini-batch's
    weighted inputs, in one pass over the weights (the same result up to
    rounding); without momentum, that pass leaves out the inputs that are
    zero in both mini-batches, the weight decay held in a scalar meanwhile
    (see sparse_suits); at mini-batch 1 on wide layers, in blocks of
    examples (see blocked_steps).

    threads=2 splits every mini-batch of two or more examples between two
    threads (each runs the passes of half its rows; the parameter update is
    split too), or half of layer 1's inputs or neurons each (see
    _two_thread_split); mini-batches of one example only by inputs, else
    one thread takes them.  BLAS should then run one thread per call.

    Returns (examples_done, finite).  Training stops early, before updating
    anything for that mini-batch, when a mini-batch's output error is NaN or
    infinite (finite is then False), and on a pending signal such as Ctrl-C
    when called from the main thread: the signal's exception is raised
    after the last completed mini-batch, with examples_done written to
    status[0] if status is given.

    The work runs with subnormal numbers flushed to zero (see
    nncore_flush_subnormals); the caller's mode is restored.
    """
    cdef _Layout lay = _Layout(sizes)
    cdef Net net = lay.net(hidden, output, cost)
    cdef Py_ssize_t N = X.shape[0], L = lay.n_layers, n_in = lay.sizes[0]
    cdef Py_ssize_t total = order.shape[0], mbs = mini_batch_size
    cdef Py_ssize_t k, m, i, l, batch
    _check_theta(lay, theta.shape[0])
    _check_rows(lay, X.shape[1], 0, "X")
    _check_rows(lay, Y.shape[1], L - 1, "Y")
    if Y.shape[0] != N:
        raise ValueError(f"X has {N} rows but Y has {Y.shape[0]}")
    if mbs < 1:
        raise ValueError(f"mini_batch_size must be at least 1, got {mbs}")
    if not (0.0 <= dropout < 1.0):
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    if not (0.0 <= mu < 1.0):
        raise ValueError(f"mu must lie in [0, 1), got {mu}")
    if lmbda < 0 or l1 < 0:
        raise ValueError("the regularization parameters must be >= 0")
    cdef bint use_momentum = mu > 0 or nesterov
    if use_momentum:
        if velocity is None:
            raise ValueError("momentum needs a velocity buffer")
        _check_theta(lay, velocity.shape[0], "velocity")
    if batch_offset < 0:
        raise ValueError("batch_offset must be >= 0")
    if status is not None and status.shape[0] < 1:
        raise ValueError("status needs room for one entry")
    if total == 0:
        return 0, True
    if n < 1:
        raise ValueError(f"n (the training set size) must be at least 1, got {n}")
    order_arr = np.asarray(order)
    if order_arr.min() < 0 or order_arr.max() >= N:
        raise IndexError(f"order holds indices outside [0, {N})")
    if batch_offset + (total + mbs - 1) // mbs > (1 << 24):
        raise ValueError("too many mini-batches in one epoch for the dropout hash (2**24)")
    if threads not in (1, 2):
        raise ValueError(f"threads must be 1 or 2, got {threads}")
    net.dropout = dropout
    net.seed = seed
    mbs = min(mbs, total)
    dtype = np.float32 if floating is float else np.float64
    # a narrow first layer computes on a working copy (see first_transposed):
    # from here on theta, velocity and lay are the copy's, and the caller's
    # arrays receive the result on every return
    cdef bint plain = not use_momentum and not (dropout > 0 and L > 2)
    cdef bint by_cols = threads == 2 and cols_suit(&net, mbs, plain, floating is float, l1)
    # one thread fuses layer 1's steps with the next forward product where
    # they suit (fused_suits), on the transposed copy in both dtypes
    cdef bint fuse = (threads == 1 or mbs < 2) and fused_suits(&net, mbs, l1)
    cdef bint first_t = ((first_transposed(lay.sizes[1], mbs, floating is float) or fuse)
                         and not by_cols)
    cdef floating[::1] user_theta = theta
    cdef floating[::1] user_vel = velocity
    cdef Py_ssize_t lanes = 64 // sizeof(floating)
    if first_t:
        lay = _Layout(sizes, (lay.sizes[1] + lanes - 1) // lanes * lanes)
        net = lay.net(hidden, output, cost)
        net.dropout = dropout
        net.seed = seed
        net.first_t = True
        theta = aligned_zeros(lay.n_params, dtype)
        with nogil:
            working_copy(&net, &user_theta[0], &theta[0], True)
        if use_momentum:
            velocity = aligned_zeros(lay.n_params, dtype)
            with nogil:
                working_copy(&net, &user_vel[0], &velocity[0], True)
    if threads == 2 and (mbs >= 2 or inputs_suit(&net, mbs)):
        try:
            return _two_thread_epoch(theta, lay, net, X, Y, order, mbs, eta, lmbda, n, l1,
                                     batch_offset, mu, nesterov, velocity, status, by_cols,
                                     inputs_suit(&net, mbs))
        finally:
            if first_t:
                with nogil:
                    working_copy(&net, &user_theta[0], &theta[0], False)
                    if use_momentum:
                        working_copy(&net, &user_vel[0], &velocity[0], False)
    # activations of every layer (layer 0: the gathered inputs), two delta
    # buffers, a mask per layer, and a gradient buffer for momentum
    cdef Py_ssize_t n_work = (mbs * (lay.act_total + 2 * lay.max_width)
                              + lay.act_total
                              + (lay.n_params if use_momentum or net.first_t else 0))
    cdef floating[::1] work = np.zeros(n_work, dtype=dtype)   # (grad's padding: 0)
    cdef floating *acts[MAX_LAYERS]
    cdef floating *masks[MAX_LAYERS]
    cdef floating *delta
    cdef floating *spare
    cdef floating *grad = NULL
    cdef floating *mask_base
    cdef floating *vel = &velocity[0] if use_momentum else NULL
    rows_arr = np.empty(2 * mbs, dtype=np.intp)    # this mini-batch's rows, the next's
    cdef const floating **rows = <const floating **> <size_t> rows_arr.ctypes.data
    cdef const floating **rows0
    cdef bint use_dropout = dropout > 0 and L > 2
    cdef floating w_scale = <floating> (1.0 - eta * lmbda / n)
    cdef floating l1_step = <floating> (eta * l1 / n)
    cdef Py_ssize_t j
    nz_arr = np.zeros(listed_room(n_in, mbs), dtype=np.intc)   # forward_listed's
    cdef int[::1] nz_view = nz_arr
    cdef int *nz = &nz_view[0]
    cdef Py_ssize_t listed, n_next   # (see forward_listed; the next rows to fetch)
    # with fuse: two mini-batches' inputs packed by input (this one's, the next's)
    xt_arr = np.empty(2 * n_in * mbs if fuse else 1, dtype=dtype)
    cdef floating[::1] xt = xt_arr
    cdef floating *XTc = &xt[0]
    cdef floating *XTn = &xt[0] + n_in * mbs if fuse else NULL
    cdef floating *swap
    cdef floating *d1
    cdef floating *W1 = &theta[0] + net.w_off[0]
    cdef floating *b1 = &theta[0] + net.b_off[0]
    cdef Py_ssize_t n1 = lay.sizes[1]
    cdef floating step
    cdef floating coef[5]
    cdef bint z_ready = False    # acts[1] holds this mini-batch's layer-1 sums
    # the fused steps leave zero inputs' rows alone (sparse_suits): W1 = w_s V
    cdef double beta = 1.0 - eta * lmbda / n
    cdef bint sparse = sparse_suits(fuse, use_momentum, beta, n1, mbs, floating is float)
    cdef double w_s = 1.0
    urows_arr = np.empty(2 * mbs if sparse else 1, dtype=np.intp)
    cdef const floating **urows = <const floating **> <size_t> urows_arr.ctypes.data
    # room to regroup a mini-batch's rows (group_suits)
    cdef bint group = group_suits(&net, mbs, <floating *> NULL)
    cdef Py_ssize_t g_room = mbs if group else 1
    perm_arr = np.empty(g_room, dtype=np.intc)
    bits_arr = np.empty(g_room * nncore_group_words(n_in), dtype=np.uint64)
    gorder_arr = np.empty(g_room, dtype=np.intp)
    grows_arr = np.empty(g_room, dtype=np.intp)
    cdef Grouping grouping
    grouping.perm = <int *> <size_t> perm_arr.ctypes.data
    grouping.bits = <uint64_t *> <size_t> bits_arr.ctypes.data
    grouping.order = <Py_ssize_t *> <size_t> gorder_arr.ctypes.data
    grouping.rows = <const void **> <size_t> grows_arr.ctypes.data
    cdef Grouping *chunk_grouping
    cdef const Py_ssize_t *ok
    # mini-batch 1's sparse steps in blocks (blocked_steps)
    cdef Py_ssize_t n_block = block_suits(sparse, mbs, use_dropout, total,
                                               n1 * sizeof(floating))
    cdef Py_ssize_t b_room = n_block if n_block > 1 else 0
    cdef floating[::1] block_room = np.empty(4 * b_room * n1 + 2 * b_room * n_in + 1,
                                             dtype=dtype)
    cdef floating[::1] block_zero = np.zeros(n_in if b_room else 1, dtype=dtype)
    cdef int[::1] block_nz = np.empty(n_in if b_room else 1, dtype=np.intc)
    block_pending = []
    cdef bint finite = True
    cdef bint watch_signals = threading.current_thread() is threading.main_thread()
    cdef object pending = None
    cdef unsigned fp_mode
    with nogil:
        fp_mode = nncore_flush_subnormals()   # (see nncore_flush_subnormals)
        carve(&work[0], &net, mbs, 0, acts)
        delta = acts[L - 1] + mbs * lay.sizes[L - 1]
        spare = delta + mbs * lay.max_width
        mask_base = spare + mbs * lay.max_width
        for l in range(L):
            masks[l] = mask_base
            mask_base += lay.sizes[l]
        if use_momentum or net.first_t:  # (first_t: for chunked_gradient)
            grad = mask_base
        if nesterov:  # to the look-ahead point w + mu v
            shift(&theta[0], vel, lay.n_params, <floating> mu)
        if sparse and not finite_values(W1, n_in * net.ld1):
            sparse = False   # (the dense sums take the NaN where they meet it)
        k = 0
        batch = batch_offset
        if n_block > 1 and sparse:
            k = blocked_steps(&net, &theta[0], &X[0, 0], &Y[0, 0], &order[0], total,
                              n_block, eta, beta, w_scale, acts, delta, spare,
                              &block_room[0], &block_nz[0], &block_zero[0], &w_s,
                              &finite, &sparse, watch_signals, <PyObject *> block_pending,
                              fp_mode)
            batch += k
            if w_s != 1:
                scale_weights(W1, n_in, n1, net.ld1, <floating> w_s)
                w_s = 1
            with gil:
                if block_pending:
                    pending = block_pending[0]
        while k < total and finite and pending is None:
            m = min(mbs, total - k)
            step = <floating> (eta / m)
            if use_dropout:
                for l in range(1, L - 1):
                    dropout_mask(masks[l], seed, batch, l, lay.sizes[l], dropout)
            if fuse and m == mbs:
                # layer 1's sums come from the last mini-batch's step (or
                # are computed here), its step computes the next one's
                if not z_ready:
                    pack_inputs(XTc, &X[0, 0], &order[k], m, n_in, n_in)
                    bcast(m, n_in, n1, <floating> 1.0, XTc, 1, m, W1, net.ld1,
                          <floating> 0.0, acts[1], n1)
                activate(acts[1], b1, m, n1, net.hidden, <floating *> NULL)
                if use_dropout:
                    apply_mask(acts[1], m, n1, masks[1])
                forward(&net, &theta[0], acts[1], m, acts, NULL,
                        masks if use_dropout else NULL, NULL, 2)
                output_delta(&net, delta, acts[L - 1], &Y[0, 0], &order[k], m)
                if k + m < total:
                    prefetch_targets(&Y[0, 0], &order[k + m], min(mbs, total - k - m),
                                     lay.sizes[L - 1])
                if not all_finite(delta, m * lay.sizes[L - 1]):
                    finite = False
                    break
                if use_momentum:  # the gradients above layer 1's weights, their steps
                    d1 = backward(&net, &theta[0], grad, m, acts, delta, spare,
                                  masks if use_dropout else NULL, 1, 0, 0, NULL, False, 2)
                    bias_step(grad + net.b_off[0], d1, m, n1, n1, -1, 0)
                    momentum_step(&net, &theta[0], vel, grad, m, eta, lmbda, l1,
                                  <double> n, mu, nesterov, net.w_off[1], lay.n_params)
                    momentum_coef(coef, m, eta, lmbda, <double> n, mu, nesterov)
                else:
                    d1 = backward(&net, &theta[0], NULL, m, acts, delta, spare,
                                  masks if use_dropout else NULL, w_scale, 0, step,
                                  NULL, False, 2)
                    bias_step(b1, d1, m, n1, n1, step)
                    coef[0] = -step
                    coef[1] = w_scale
                z_ready = k + 2 * m <= total
                if not z_ready and sparse:
                    # the dense step below takes W1 itself, and this mini-batch
                    # packed in full (the sparse steps pack only listed inputs)
                    if w_s != 1:
                        scale_weights(W1, n_in, n1, net.ld1, <floating> w_s)
                        w_s = 1
                    pack_inputs(XTc, &X[0, 0], &order[k], m, n_in, n_in)
                if z_ready:  # the next mini-batch is as large
                    j = min(m, total - (k + 2 * m))  # rows of the one after
                    for i in range(j):
                        rows[i] = &X[order[k + 2 * m + i], 0]
                    if sparse:
                        # over the inputs not zero in this mini-batch or the
                        # next, packed by input into XTc and XTn
                        for i in range(m):
                            urows[i] = &X[order[k + i], 0]
                            urows[m + i] = &X[order[k + m + i], 0]
                        if not sparse_step(n_in, n1, m, urows, nz, XTc, XTn, d1,
                                           step, &w_s, beta, W1, net.ld1, acts[1],
                                           rows, j):
                            # back to the dense steps, which recompute the sums
                            sparse = False
                            pack_inputs(XTn, &X[0, 0], &order[k + m], m, n_in, n_in)
                            bcast(m, n_in, n1, <floating> 1.0, XTn, 1, m, W1, net.ld1,
                                  <floating> 0.0, acts[1], n1)
                    else:
                        pack_inputs(XTn, &X[0, 0], &order[k + m], m, n_in, n_in)
                        step_forward1(n_in, n1, m, XTc, d1, coef, XTn, W1,
                                      vel + net.w_off[0] if use_momentum else NULL,
                                      net.ld1, acts[1], rows, j)
                    swap = XTc
                    XTc = XTn
                    XTn = swap
                elif use_momentum:
                    bcast(n_in, m, n1, <floating> 1.0, XTc, m, 1, d1, n1, <floating> 0.0,
                          grad + net.w_off[0], net.ld1)
                    momentum_step(&net, &theta[0], vel, grad, m, eta, lmbda, l1,
                                  <double> n, mu, nesterov, net.w_off[0], net.w_off[1])
                else:
                    bcast(n_in, m, n1, -step, XTc, m, 1, d1, n1, w_scale, W1, net.ld1)
            else:
                if w_s != 1:   # (a last, shorter mini-batch after fused steps)
                    scale_weights(W1, n_in, n1, net.ld1, <floating> w_s)
                    w_s = 1
                # our kernel reads the mini-batch's rows where they lie; for BLAS
                # they are gathered once, and it reads them from cache
                ok = &order[k]
                rows0 = direct_rows(&net, &X[0, 0], ok, m, rows)
                chunk_grouping = NULL
                if (rows0 != NULL and group and group_suits(&net, m, W1)
                        and tiles_pause(nz, n_in)[0] <= 0):
                    # (chunks are regrouped one by one, when they are in cache)
                    if in_chunks(&net, m, W1):
                        chunk_grouping = &grouping
                    else:
                        ok = regroup(ok, m, n_in, rows0, GROUP_WINDOW, &grouping)
                if rows0 == NULL:
                    for i in range(m):
                        memcpy(acts[0] + i * n_in, &X[order[k + i], 0],
                               n_in * sizeof(floating))
                    for i in range(k + m, min(k + m + min(m, PREFETCH_ROWS), total)):
                        nncore_prefetch(&X[order[i], 0], n_in * sizeof(floating))
                if rows0 != NULL and in_chunks(&net, m, rows0[0]):
                    n_next = min(m, total - k - m, chunk_rows)
                    for i in range(n_next):
                        rows[mbs + i] = &X[order[k + m + i], 0]
                    if not chunked_gradient(&net, &theta[0], grad, &Y[0, 0], ok, m,
                                            rows0, acts, delta, spare,
                                            masks if use_dropout else NULL, nz,
                                            rows + mbs, n_next, chunk_grouping):
                        finite = False
                        break
                    if use_momentum:
                        momentum_step(&net, &theta[0], vel, grad, m, eta, lmbda, l1,
                                      <double> n, mu, nesterov, 0, lay.n_params)
                    else:
                        plain_step(&net, &theta[0], grad, w_scale, l1_step, step, 0,
                                   lay.n_params)
                else:
                    forward(&net, &theta[0], acts[0], m, acts, NULL,
                            masks if use_dropout else NULL, rows0, 1, nz, &listed)
                    output_delta(&net, delta, acts[L - 1], &Y[0, 0], ok, m)
                    if k + m < total:
                        prefetch_targets(&Y[0, 0], &order[k + m],
                                         min(mbs, total - k - m), lay.sizes[L - 1])
                    if not all_finite(delta, m * lay.sizes[L - 1]):
                        finite = False
                        break
                    # the next mini-batch's rows, fetched during the gradient
                    # (of a mini-batch too large for the L2, only its first chunk's
                    # worth: at 784-800-10 in float64, mini-batch 1000, fetching
                    # all its rows took 1.02-1.05x the time of fetching those or
                    # none)
                    n_next = min(m if m <= CHUNKED_ABOVE else chunk_rows,
                                 total - k - m) if rows0 != NULL else 0
                    for i in range(n_next):
                        rows[mbs + i] = &X[order[k + m + i], 0]
                    if use_momentum:
                        backward(&net, &theta[0], grad, m, acts, delta, spare,
                                 masks if use_dropout else NULL, 1, 0, 0, rows0, False, 1,
                                 nz, listed, rows + mbs, n_next)
                        momentum_step(&net, &theta[0], vel, grad, m, eta, lmbda, l1,
                                      <double> n, mu, nesterov, 0, lay.n_params)
                    else:
                        backward(&net, &theta[0], NULL, m, acts, delta, spare,
                                 masks if use_dropout else NULL, w_scale, l1_step, step,
                                 rows0, False, 1, nz, listed, rows + mbs, n_next)
            k += m
            batch += 1
            if watch_signals and (batch - batch_offset) % SIGNAL_EVERY == 0 and k < total:
                nncore_restore_fp(fp_mode)
                with gil:
                    try:
                        PyErr_CheckSignals()
                    except BaseException as e:
                        pending = e
                nncore_flush_subnormals()
                if pending is not None:
                    break
        if w_s != 1:   # (stopped by a signal or an output error not finite)
            scale_weights(W1, n_in, n1, net.ld1, <floating> w_s)
        if nesterov:  # back from the look-ahead point
            shift(&theta[0], vel, lay.n_params, <floating> -mu)
        nncore_restore_fp(fp_mode)
        if first_t:
            working_copy(&net, &user_theta[0], &theta[0], False)
            if use_momentum:
                working_copy(&net, &user_vel[0], vel, False)
    if status is not None:
        status[0] = k
    if pending is not None:
        raise pending
    return k, finite


cdef _two_thread_epoch(floating[::1] theta, _Layout lay, Net net,
                       const floating[:, ::1] X, const floating[:, ::1] Y,
                       const Py_ssize_t[::1] order, Py_ssize_t mbs, double eta,
                       double lmbda, Py_ssize_t n, double l1, Py_ssize_t batch_offset,
                       double mu, bint nesterov, floating[::1] velocity,
                       Py_ssize_t[::1] status, bint by_cols, bint by_inputs):
    """sgd_epoch's work on two threads (arguments already checked), split
    by rows (epoch_part), by layer 1's neurons (epoch_cols: one shared
    workspace, with two blocks of input rows, and no gradient buffers) or
    by its inputs (epoch_inputs: thread 0's workspace and thread 1's
    partial sums, no gradient buffers)."""
    cdef Shared s
    cdef Py_ssize_t cap = mbs if by_cols or by_inputs else mbs - mbs // 2, t
    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t n_work = (cap * (lay.act_total + 2 * lay.max_width) + lay.act_total
                              + (mbs * lay.sizes[0] if by_cols else 0))
    cdef Py_ssize_t n_grad = (1 if by_cols or (by_inputs and not (mu > 0 or nesterov))
                              else lay.n_params)
    cdef floating[::1] work0 = np.empty(n_work, dtype=dtype)
    cdef floating[::1] work1 = np.empty(
        1 if by_cols else cap * lay.sizes[1] if by_inputs else n_work, dtype=dtype)
    cdef floating[::1] grad0 = np.zeros(n_grad, dtype=dtype)   # (padding: 0)
    cdef floating[::1] grad1 = np.zeros(n_grad, dtype=dtype)
    rows_arr = np.empty((2, 2 * cap), dtype=np.intp)   # each: a mini-batch's rows, the next's
    s.fuse = by_inputs and fused_suits(&net, mbs, l1)
    xt_arr = np.empty((2, 2 * lay.sizes[0] * mbs if s.fuse else 1), dtype=dtype)
    cdef floating[:, ::1] xt = xt_arr
    s.xt[0] = &xt[0, 0]
    s.xt[1] = &xt[1, 0]
    nz_arr = np.zeros((2, listed_room(lay.sizes[0], mbs)), dtype=np.intc)
    cdef int[:, ::1] nz = nz_arr
    s.nz[0] = &nz[0, 0]
    s.nz[1] = &nz[1, 0]
    s.sparse = sparse_suits(s.fuse, mu > 0 or nesterov, 1.0 - eta * lmbda / n,
                            lay.sizes[1], mbs, floating is float)
    pending = []
    s.by_cols = by_cols
    s.by_inputs = by_inputs
    if by_inputs:  # thread t's inputs: [col_lo[t], col_hi[t])
        s.col_lo[0] = 0
        s.col_hi[0] = inputs_split(lay.sizes[0])
        s.col_lo[1] = s.col_hi[0]
        s.col_hi[1] = lay.sizes[0]
    else:
        s.col_lo[1] = 0
        s.col_hi[1] = cols_split(lay.sizes[1])
        s.col_lo[0] = s.col_hi[1]
        s.col_hi[0] = lay.sizes[1]
    s.delta1 = NULL
    s.finite[0] = 1
    s.finite[1] = 1
    s.net = net
    s.theta = &theta[0]
    s.vel = &velocity[0] if (mu > 0 or nesterov) else NULL
    s.X = &X[0, 0]
    s.Y = &Y[0, 0]
    s.order = &order[0]
    s.total = order.shape[0]
    s.mbs = mbs
    s.batch_offset = batch_offset
    s.max_width = lay.max_width
    s.eta, s.lmbda, s.l1, s.n, s.mu = eta, lmbda, l1, <double> n, mu
    s.nesterov = nesterov
    s.use_momentum = mu > 0 or nesterov
    s.use_dropout = net.dropout > 0 and lay.n_layers > 2
    s.watch_signals = threading.current_thread() is threading.main_thread()
    s.work[0] = &work0[0]
    s.work[1] = &work1[0]
    s.grad[0] = &grad0[0]
    s.grad[1] = &grad1[0]
    s.rows[0] = <void *> <size_t> rows_arr.ctypes.data
    s.rows[1] = <void *> <size_t> (rows_arr.ctypes.data + 2 * cap * sizeof(void *))
    s.stop = 0
    s.done = 0
    s.pending = <PyObject *> pending
    if nncore_barrier_init(&s.bar, 2) != 0:
        raise MemoryError("could not create the threads' barrier")
    second = threading.Thread(target=_second_thread, args=(<size_t> &s, floating is float),
                              name="nncore-epoch-1", daemon=True)
    try:
        # both threads read theta from the first product on, so it moves to
        # Nesterov's look-ahead point before thread 1 starts
        if s.use_momentum and nesterov:
            with nogil:
                shift(&theta[0], <floating *> s.vel, lay.n_params, <floating> mu)
        try:
            second.start()
        except BaseException as e:
            if second.ident is None:  # it never ran: nothing has changed
                if s.use_momentum and nesterov:
                    with nogil:
                        shift(&theta[0], <floating *> s.vel, lay.n_params, <floating> -mu)
                raise
            # interrupted once thread 1 was running: it needs its partner,
            # so finish the first mini-batch together, then stop and raise
            pending.append(e)
            s.stop = 1
        with nogil:
            s.fp_mode = nncore_flush_subnormals()
            if by_cols:
                epoch_cols(&s, 0, &theta[0])
            elif by_inputs:
                epoch_inputs(&s, 0, &theta[0])
            else:
                epoch_part(&s, 0, &theta[0])
            nncore_restore_fp(s.fp_mode)
        # thread 1 may still be leaving the last barrier: it must be gone
        # before the barrier is destroyed, whatever interrupts the wait (a
        # signal's handler may run inside is_alive as well as join)
        while True:
            try:
                if not second.is_alive():
                    break
                second.join()
            except BaseException as e:
                pending.append(e)
        if s.use_momentum and nesterov:  # back from the look-ahead point
            with nogil:
                shift(&theta[0], <floating *> s.vel, lay.n_params, <floating> -mu)
    finally:
        nncore_barrier_destroy(&s.bar)
    if status is not None:
        status[0] = s.done
    if pending:
        raise pending[0]
    return s.done, bool(s.finite[0] and s.finite[1])


def blas_only_epoch(floating[::1] theta, sizes, const floating[:, ::1] X,
                    Py_ssize_t mini_batch_size):
    """Benchmark aid: only the matrix products of one SGD epoch over the
    rows of X, with the same shapes as sgd_epoch (forward: A.W^T per
    layer; backward: delta.W per hidden layer and delta^T.A per layer),
    and none of the element-wise work, gathering or updating.  The time it
    takes is the floor that BLAS sets for an epoch.  theta is left with
    meaningless values in its weights (the products write into them)."""
    cdef _Layout lay = _Layout(sizes)
    cdef Net net = lay.net(SIGMOID, SIGMOID, QUADRATIC)
    cdef Py_ssize_t N = X.shape[0], L = lay.n_layers
    cdef Py_ssize_t k, m, l, mbs = mini_batch_size
    cdef int n_in, n_out
    _check_theta(lay, theta.shape[0])
    _check_rows(lay, X.shape[1], 0, "X")
    if mbs < 1:
        raise ValueError(f"mini_batch_size must be at least 1, got {mbs}")
    if N == 0:
        return
    mbs = min(mbs, N)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] work = np.zeros(mbs * (lay.act_total + 2 * lay.max_width),
                                       dtype=dtype)
    cdef floating[::1] grad = np.zeros(lay.n_params, dtype=dtype)
    cdef floating *acts[MAX_LAYERS]
    cdef floating *delta
    cdef floating *spare
    with nogil:
        carve(&work[0], &net, mbs, 1, acts)
        delta = acts[L - 1] + mbs * lay.sizes[L - 1]
        spare = delta + mbs * lay.max_width
        k = 0
        while k < N:
            m = min(mbs, N - k)
            acts[0] = <floating *> &X[k, 0]
            for l in range(1, L):
                n_in = <int> lay.sizes[l - 1]
                n_out = <int> lay.sizes[l]
                gemm(c'N', c'T', <int> m, n_out, n_in, <floating> 1.0, acts[l - 1],
                     n_in, &theta[lay.w_off[l - 1]], n_in, <floating> 0.0,
                     acts[l], n_out)
            for l in range(L - 1, 0, -1):
                n_in = <int> lay.sizes[l - 1]
                n_out = <int> lay.sizes[l]
                if l > 1:
                    gemm(c'N', c'N', <int> m, n_in, n_out, <floating> 1.0, delta,
                         n_out, &theta[lay.w_off[l - 1]], n_in, <floating> 0.0,
                         spare, n_in)
                gemm(c'T', c'N', n_out, n_in, <int> m, <floating> 1.0, delta,
                     n_out, acts[l - 1], n_in, <floating> 0.0,
                     &grad[lay.w_off[l - 1]], n_in)
            k += m
