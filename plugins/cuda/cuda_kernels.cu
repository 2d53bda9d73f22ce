/*
 * cuda_kernels.cu - the CUDA backend's memory functions and kernel table
 * (vimo/backend.h): cuBLAS for GEMM, and a CUDA kernel for every op's
 * forward and backward.
 *
 * One process-wide stream and cuBLAS handle on device 0 of the visible ones
 * (vcu_init calls cudaSetDevice(0): CUDA_VISIBLE_DEVICES picks which GPU
 * that is); every kernel is queued there, copies to the host synchronise.
 * The only persistent device scratch is sumsq's result. GEMM precision: VIMO_CUDA_GEMM=fp32
 * (default: exact fp32 products), tf32 (TF32 tensor cores, ~1e-3 relative
 * error) or bf16 (bf16 inputs, fp32 accumulation, ~1e-2).
 *
 * Kernel designs (simple and deterministic before fast):
 *  - reductions over a row (norms, softmax, loss rows) use one block per
 *    row and a fixed shared-memory tree; parameter gradients that sum over
 *    rows (dW of norms, bias, embedding) use one thread or block per column
 *    walking the rows in order, so results do not depend on scheduling and
 *    no atomics are used anywhere;
 *  - attention is fused (no (Tq, Tk) matrix): the forward runs one warp
 *    per query with an online softmax over chunks of 32 keys (a key per
 *    lane for the scores, Dh split over lanes for the output); the backward
 *    recomputes the probabilities from the saved log-sum-exp, once per
 *    query warp for dQ and once per key warp (over the GQA group's query
 *    heads) for dK and dV (FlashAttention-2's recomputation without its
 *    tiling). Dh <= 256;
 *  - convolution is im2col + cuBLAS per batch item, its backward gathers
 *    (col2im as a gather, one thread per input element).
 * Not here: tensor-core attention tiling, fused epilogues, multi-GPU, CUDA
 * graphs. Dropout masks come from the host (the op draws them from the
 * caller's vimo_rng), so they are the CPU's masks bit for bit.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"

namespace {

cudaStream_t g_stream;
cublasHandle_t g_blas;
cublasComputeType_t g_compute = CUBLAS_COMPUTE_32F;
int g_dev = -1;         /* vimo's id for this backend, for context scratch */
int g_cuda_device = -1; /* the CUDA device vcu_init selected (cudaSetDevice) */
double *g_sumsq;        /* persistent device scratch: sumsq's result */

constexpr int kThreads = 256;

inline vimo_status cuda_err(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return VIMO_OK;
    return vimo_error(VIMO_ERR_INTERNAL, "cuda: %s: %s", what, cudaGetErrorString(e));
}

/* After a launch: a bad configuration shows up here. */
inline vimo_status launched(const char *what) { return cuda_err(cudaGetLastError(), what); }

/* Grid-stride loops cap the grid; 65535 keeps every dimension legal. */
inline unsigned capped(int64_t n)
{
    int64_t b = (n + kThreads - 1) / kThreads;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

#define GRID_LOOP(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); \
                             i += (int64_t)blockDim.x * gridDim.x)

/* Scratch on this device from the context's arena. */
float *scratch(vimo_ctx *ctx, size_t bytes)
{
    if (g_dev < 0 && vimo_backend_get("cuda", &g_dev)) return NULL;
    return (float *)vimo_ctx_device_alloc(ctx, g_dev, bytes);
}

/* ---- block and warp reductions --------------------------------------------------- */

__device__ inline float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ inline float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum of v over the block (blockDim.x a power of two <= 1024), a fixed tree. */
template <typename T> __device__ T block_sum(T v, T *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    T r = sh[0];
    __syncthreads();
    return r;
}
__device__ float block_max(float v, float *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

/* ---- copies and element-wise ----------------------------------------------------- */

struct strided4 {
    int64_t shape[4], ds[4], ss[4];
};

__global__ void k_copy(float *dst, const float *src, strided4 g, int64_t n, int acc)
{
    GRID_LOOP(i, n)
    {
        int64_t r = i, od = 0, os = 0;
        for (int d = 3; d >= 0; d--) {
            int64_t c = r % g.shape[d];
            r /= g.shape[d];
            od += c * g.ds[d];
            os += c * g.ss[d];
        }
        if (acc) dst[od] += src[os];
        else dst[od] = src[os];
    }
}

__global__ void k_fill(float *x, int64_t n, float v)
{
    GRID_LOOP(i, n) x[i] = v;
}

__global__ void k_binary(int kind, const float *a, const float *b, float *y, int64_t n, int64_t p)
{
    GRID_LOOP(i, n)
    {
        float x = a[i], w = b[i % p];
        y[i] = kind == VIMO_BIN_ADD ? x + w : kind == VIMO_BIN_SUB ? x - w : x * w;
    }
}

__global__ void k_binary_ga(int kind, const float *b, const float *dy, float *ga, int64_t n, int64_t p)
{
    GRID_LOOP(i, n) ga[i] += kind == VIMO_BIN_MUL ? dy[i] * b[i % p] : dy[i];
}

/* g[j] += sum over rows r (in order of the fixed tree) of f(r, j):
 * mode 0: dy[r p + j]; 1: dy * a; 2: -dy; 3: dy * a * s[r] (rmsnorm dw);
 * 4: dy * (a - s[r]) * s[rows + r] (layernorm dw). One block per column. */
__global__ void k_colsum(int mode, const float *dy, const float *a, const float *s, float *g, int64_t rows, int64_t p)
{
    __shared__ float sh[kThreads];
    for (int64_t j = blockIdx.x; j < p; j += gridDim.x) {
        float acc = 0.0f;
        for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
            float d = dy[r * p + j];
            switch (mode) {
            case 0: acc += d; break;
            case 1: acc += d * a[r * p + j]; break;
            case 2: acc -= d; break;
            case 3: acc += d * a[r * p + j] * s[r]; break;
            default: acc += d * ((a[r * p + j] - s[r]) * s[rows + r]); break;
            }
        }
        float t = block_sum(acc, sh);
        if (threadIdx.x == 0) g[j] += t;
    }
}

vimo_status colsum(int mode, const float *dy, const float *a, const float *s, float *g, int64_t rows, int64_t p)
{
    unsigned grid = (unsigned)(p < 65535 ? p : 65535);
    k_colsum<<<grid, kThreads, 0, g_stream>>>(mode, dy, a, s, g, rows, p);
    return launched("colsum");
}

#define SQRT_2_PI 0.7978845608028654f
#define INV_SQRT2 0.7071067811865476f
#define GELU_C 0.044715f

__device__ inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

__global__ void k_unary_fwd(int kind, const float *x, float *y, int64_t n, float s)
{
    GRID_LOOP(i, n)
    {
        float v = x[i], r;
        switch (kind) {
        case VIMO_UN_SCALE: r = s * v; break;
        case VIMO_UN_RELU: r = v > 0.0f ? v : 0.0f; break;
        case VIMO_UN_SILU: r = v * sigm(v); break;
        case VIMO_UN_GELU_ERF: r = 0.5f * v * (1.0f + erff(v * INV_SQRT2)); break;
        default: r = 0.5f * v * (1.0f + tanhf(SQRT_2_PI * (v + GELU_C * v * v * v))); break;
        }
        y[i] = r;
    }
}

__global__ void k_unary_bwd(int kind, const float *x, const float *dy, float *gx, int64_t n, float s)
{
    GRID_LOOP(i, n)
    {
        float v = x[i], d;
        switch (kind) {
        case VIMO_UN_SCALE: d = s; break;
        case VIMO_UN_RELU: d = v > 0.0f ? 1.0f : 0.0f; break;
        case VIMO_UN_SILU: {
            float sg = sigm(v);
            d = sg * (1.0f + v * (1.0f - sg));
            break;
        }
        case VIMO_UN_GELU_ERF:
            d = 0.5f * (1.0f + erff(v * INV_SQRT2)) + v * 0.3989422804014327f * expf(-0.5f * v * v);
            break;
        default: {
            float t = tanhf(SQRT_2_PI * (v + GELU_C * v * v * v));
            d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * SQRT_2_PI * (1.0f + 3.0f * GELU_C * v * v);
            break;
        }
        }
        gx[i] += dy[i] * d;
    }
}

__global__ void k_swiglu_fwd(const float *g, const float *u, float *y, int64_t n)
{
    GRID_LOOP(i, n)
    {
        float x = g[i];
        y[i] = x * sigm(x) * u[i];
    }
}

__global__ void k_swiglu_bwd(const float *g, const float *u, const float *dy, float *gg, float *gu, int64_t n)
{
    GRID_LOOP(i, n)
    {
        float x = g[i], sg = sigm(x);
        if (gu) gu[i] += dy[i] * x * sg;
        if (gg) gg[i] += dy[i] * u[i] * sg * (1.0f + x * (1.0f - sg));
    }
}

/* *out (device) = sum of f(i) in double, one block of 1024 threads:
 * mode 0: x[i]; 1: x[i]^2; 2: (x[i] - b[i])^2. scale multiplies the total. */
__global__ void k_reduce(int mode, const float *x, const float *b, int64_t n, double scale, float *out, double *dout)
{
    __shared__ double sh[1024];
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        double v = x[i];
        if (mode == 1) v = v * v;
        if (mode == 2) {
            double e = (double)x[i] - (double)b[i];
            v = e * e;
        }
        acc += v;
    }
    double t = block_sum(acc, sh);
    if (threadIdx.x == 0) {
        if (out) out[0] = (float)(t * scale);
        if (dout) dout[0] = t * scale;
    }
}

__global__ void k_add_scalar(const float *dy, float *gx, int64_t n, float mul)
{
    GRID_LOOP(i, n) gx[i] += dy[0] * mul;
}

__global__ void k_mean_fwd(const float *x, float *y, int64_t outer, int64_t len, int64_t inner)
{
    GRID_LOOP(i, outer * inner)
    {
        int64_t o = i / inner, j = i % inner;
        float s = 0.0f;
        for (int64_t t = 0; t < len; t++) s += x[(o * len + t) * inner + j];
        y[i] = s * (1.0f / (float)len);
    }
}

__global__ void k_mean_bwd(const float *dy, float *gx, int64_t outer, int64_t len, int64_t inner)
{
    GRID_LOOP(i, outer * len * inner)
    {
        int64_t o = i / (len * inner), j = i % inner;
        gx[i] += dy[o * inner + j] * (1.0f / (float)len);
    }
}

/* ---- normalisation and softmax: one block per row ----------------------------- */

__global__ void k_rmsnorm_fwd(const float *x, const float *w, float *y, float *rstd, int64_t d, float eps)
{
    __shared__ float sh[kThreads];
    const float *xr = x + blockIdx.x * d;
    float acc = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) acc += xr[j] * xr[j];
    float rs = rsqrtf(block_sum(acc, sh) / (float)d + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = rs;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) y[blockIdx.x * d + j] = w[j] * (xr[j] * rs);
}

__global__ void k_rmsnorm_bwd(const float *x, const float *w, const float *rstd, const float *dy, float *gx,
                              int64_t d)
{
    __shared__ float sh[kThreads];
    const float *xr = x + blockIdx.x * d, *dyr = dy + blockIdx.x * d;
    float acc = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) acc += dyr[j] * w[j] * xr[j];
    float rs = rstd[blockIdx.x], k = rs * rs * block_sum(acc, sh) / (float)d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) gx[blockIdx.x * d + j] += rs * (dyr[j] * w[j] - xr[j] * k);
}

__global__ void k_layernorm_fwd(const float *x, const float *w, const float *b, float *y, float *stats, int64_t rows,
                                int64_t d, float eps)
{
    __shared__ float sh[kThreads];
    const float *xr = x + blockIdx.x * d;
    float acc = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) acc += xr[j];
    float mu = block_sum(acc, sh) / (float)d;
    acc = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) acc += (xr[j] - mu) * (xr[j] - mu);
    float rs = rsqrtf(block_sum(acc, sh) / (float)d + eps);
    if (threadIdx.x == 0) {
        stats[blockIdx.x] = mu;
        stats[rows + blockIdx.x] = rs;
    }
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
        y[blockIdx.x * d + j] = (xr[j] - mu) * rs * w[j] + (b ? b[j] : 0.0f);
}

__global__ void k_layernorm_bwd(const float *x, const float *w, const float *stats, const float *dy, float *gx,
                                int64_t rows, int64_t d)
{
    __shared__ float sh[kThreads];
    const float *xr = x + blockIdx.x * d, *dyr = dy + blockIdx.x * d;
    float mu = stats[blockIdx.x], rs = stats[rows + blockIdx.x];
    float a1 = 0.0f, a2 = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
        float g = dyr[j] * w[j];
        a1 += g;
        a2 += g * (xr[j] - mu) * rs;
    }
    float mg = block_sum(a1, sh) / (float)d, mgx = block_sum(a2, sh) / (float)d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
        gx[blockIdx.x * d + j] += rs * (dyr[j] * w[j] - mg - (xr[j] - mu) * rs * mgx);
}

__global__ void k_softmax_fwd(const float *x, float *y, int64_t d)
{
    __shared__ float sh[kThreads];
    const float *xr = x + blockIdx.x * d;
    float *yr = y + blockIdx.x * d;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = block_max(m, sh);
    if (m == -INFINITY) m = 0.0f;
    float acc = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) acc += expf(xr[j] - m);
    float s = block_sum(acc, sh);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) yr[j] = s > 0.0f ? expf(xr[j] - m) / s : 0.0f;
}

__global__ void k_softmax_bwd(const float *y, const float *dy, float *gx, int64_t d)
{
    __shared__ float sh[kThreads];
    const float *yr = y + blockIdx.x * d, *dyr = dy + blockIdx.x * d;
    float acc = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) acc += dyr[j] * yr[j];
    float s = block_sum(acc, sh);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) gx[blockIdx.x * d + j] += yr[j] * (dyr[j] - s);
}

/* ---- embedding, rope, dropout ------------------------------------------------- */

__global__ void k_embedding_fwd(const float *t, const int32_t *ids, float *y, int64_t cnt, int64_t d)
{
    GRID_LOOP(i, cnt * d) y[i] = t[(int64_t)ids[i / d] * d + i % d];
}

/* One thread per column: ids in order, no two threads write one element. */
__global__ void k_embedding_bwd(const int32_t *ids, const float *dy, float *gt, int64_t cnt, int64_t d)
{
    GRID_LOOP(j, d)
    for (int64_t i = 0; i < cnt; i++) gt[(int64_t)ids[i] * d + j] += dy[i * d + j];
}

__global__ void k_rope(float *y, const float *x, const float *cs, int64_t rows, int64_t t_len, int64_t h,
                       int64_t dh, int inter, int bwd)
{
    int64_t half = dh / 2;
    GRID_LOOP(k, rows * half)
    {
        int64_t r = k / half, i = k % half, t = (r / h) % t_len;
        float c = cs[t * half + i], s = cs[t_len * half + t * half + i] * (bwd ? -1.0f : 1.0f);
        int64_t ia = inter ? 2 * i : i, ib = inter ? 2 * i + 1 : i + half;
        const float *xr = x + r * dh;
        float *yr = y + r * dh;
        float a = xr[ia], b = xr[ib], ya = a * c - b * s, yb = b * c + a * s;
        if (bwd) {
            yr[ia] += ya;
            yr[ib] += yb;
        } else {
            yr[ia] = ya;
            yr[ib] = yb;
        }
    }
}

__global__ void k_dropout(const float *x, const uint8_t *keep, float *y, int64_t n, float scale, int acc)
{
    GRID_LOOP(i, n)
    {
        float v = x[i] * (scale * (float)keep[i]);
        if (acc) y[i] += v;
        else y[i] = v;
    }
}

/* ---- losses --------------------------------------------------------------------- */

__global__ void k_ce_rows(const float *x, const int32_t *tg, int32_t ignore, float *lse, float *row_loss, int64_t v)
{
    __shared__ float sh[kThreads];
    int64_t r = blockIdx.x;
    const float *xr = x + r * v;
    int32_t t = tg[r];
    if (t == ignore) {
        if (threadIdx.x == 0) lse[r] = row_loss[r] = 0.0f;
        return;
    }
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = block_max(m, sh);
    float acc = 0.0f;
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) acc += expf(xr[j] - m);
    float l = m + logf(block_sum(acc, sh));
    if (threadIdx.x == 0) {
        lse[r] = l;
        row_loss[r] = l - xr[t];
    }
}

__global__ void k_ce_bwd(const float *x, const int32_t *tg, int32_t ignore, const float *lse, const float *dl,
                         float inv_count, float *gx, int64_t rows, int64_t v)
{
    GRID_LOOP(i, rows * v)
    {
        int64_t r = i / v, j = i % v;
        int32_t t = tg[r];
        if (t == ignore) continue;
        float g = dl[0] * inv_count;
        gx[i] += g * expf(x[i] - lse[r]) - (j == t ? g : 0.0f);
    }
}

__global__ void k_mse_bwd(const float *a, const float *b, const float *dl, float *ga, float *gb, int64_t n)
{
    GRID_LOOP(i, n)
    {
        float d = 2.0f * dl[0] / (float)n * (a[i] - b[i]);
        if (ga) ga[i] += d;
        if (gb) gb[i] -= d;
    }
}

/* ---- attention ------------------------------------------------------------------- */

constexpr int kMaxDh = 256, kPer = kMaxDh / 32, kWarps = 4;

struct att {
    int64_t b, tq, tk, hq, hkv, dh, group, off;
    int64_t qs[3], ks[3], vs[3];
    int causal;
    float scale;
};

__device__ inline const float *row(const float *base, const int64_t *st, int64_t b, int64_t t, int64_t h)
{
    return base + b * st[0] + t * st[1] + h * st[2];
}

/* Scaled score of query row q against key j, or -inf when j is masked,
 * causally hidden or past Tk. */
__device__ inline float score(const att &a, const float *q, const float *k, const uint8_t *mask, int64_t bi,
                              int64_t hk, int64_t i, int64_t j)
{
    if (j >= a.tk || (a.causal && j > i + a.off) || (mask && !mask[bi * a.tk + j])) return -INFINITY;
    const float *kr = row(k, a.ks, bi, j, hk);
    float s = 0.0f;
    for (int64_t d = 0; d < a.dh; d++) s += q[d] * kr[d];
    return s * a.scale;
}

/* One warp per query (bi, i, h): online softmax over chunks of 32 keys. */
__global__ void k_att_fwd(att a, const float *q, const float *k, const float *v, const uint8_t *mask, float *y,
                          float *lse)
{
    __shared__ float qs[kWarps][kMaxDh];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    int64_t qi = (int64_t)blockIdx.x * kWarps + w, bi = blockIdx.z, h = blockIdx.y, hk = h / a.group;
    bool live = qi < a.tq;
    int64_t i = live ? qi : 0;
    const float *qr = row(q, a.qs, bi, i, h);
    for (int64_t d = lane; d < a.dh; d += 32) qs[w][d] = qr[d];
    __syncwarp();
    float m = -INFINITY, l = 0.0f, o[kPer];
    for (int e = 0; e < kPer; e++) o[e] = 0.0f;
    int64_t jend = a.causal ? min(a.tk, i + a.off + 1) : a.tk;
    for (int64_t j0 = 0; live && j0 < jend; j0 += 32) {
        float s = score(a, qs[w], k, mask, bi, hk, i, j0 + lane);
        float mnew = fmaxf(m, warp_max(s));
        if (mnew == -INFINITY) continue; /* nothing visible yet */
        float alpha = expf(m - mnew), p = s == -INFINITY ? 0.0f : expf(s - mnew);
        l = l * alpha + warp_sum(p);
        m = mnew;
        for (int e = 0; e < kPer; e++) o[e] *= alpha;
        int64_t nk = min((int64_t)32, a.tk - j0);
        for (int jj = 0; jj < nk; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
            if (pj == 0.0f) continue;
            const float *vr = row(v, a.vs, bi, j0 + jj, hk);
            for (int e = 0; e < kPer; e++) {
                int64_t d = lane + 32 * e;
                if (d < a.dh) o[e] += pj * vr[d];
            }
        }
    }
    if (!live) return;
    float *yr = y + ((bi * a.tq + i) * a.hq + h) * a.dh;
    for (int e = 0; e < kPer; e++) {
        int64_t d = lane + 32 * e;
        if (d < a.dh) yr[d] = l > 0.0f ? o[e] / l : 0.0f;
    }
    if (lane == 0) lse[(bi * a.hq + h) * a.tq + i] = l > 0.0f ? m + logf(l) : -INFINITY;
}

/* D[b, h, i] = dO_i . O_i. */
__global__ void k_att_drow(att a, const float *y, const float *dy, float *drow)
{
    GRID_LOOP(r, a.b * a.tq * a.hq)
    {
        int64_t h = r % a.hq, i = (r / a.hq) % a.tq, bi = r / (a.hq * a.tq);
        const float *o = y + r * a.dh, *d = dy + r * a.dh;
        float s = 0.0f;
        for (int64_t e = 0; e < a.dh; e++) s += d[e] * o[e];
        drow[(bi * a.hq + h) * a.tq + i] = s;
    }
}

/* dQ: one warp per query, keys a chunk of 32 at a time (a key per lane). */
__global__ void k_att_dq(att a, const float *q, const float *k, const float *v, const uint8_t *mask,
                         const float *lse, const float *drow, const float *dy, float *gq)
{
    __shared__ float qs[kWarps][kMaxDh], ds_[kWarps][kMaxDh];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    int64_t qi = (int64_t)blockIdx.x * kWarps + w, bi = blockIdx.z, h = blockIdx.y, hk = h / a.group;
    if (qi >= a.tq) return;
    int64_t i = qi, r = (bi * a.hq + h) * a.tq + i;
    const float *qr = row(q, a.qs, bi, i, h), *dor = dy + ((bi * a.tq + i) * a.hq + h) * a.dh;
    for (int64_t d = lane; d < a.dh; d += 32) {
        qs[w][d] = qr[d];
        ds_[w][d] = dor[d];
    }
    __syncwarp();
    float L = lse[r], Dr = drow[r], acc[kPer];
    for (int e = 0; e < kPer; e++) acc[e] = 0.0f;
    if (L == -INFINITY) return; /* no visible key: zero output, zero gradient */
    int64_t jend = a.causal ? min(a.tk, i + a.off + 1) : a.tk;
    for (int64_t j0 = 0; j0 < jend; j0 += 32) {
        int64_t j = j0 + lane;
        float s = score(a, qs[w], k, mask, bi, hk, i, j), ds = 0.0f;
        if (s != -INFINITY) {
            float p = expf(s - L), dp = 0.0f;
            const float *vr = row(v, a.vs, bi, j, hk);
            for (int64_t d = 0; d < a.dh; d++) dp += ds_[w][d] * vr[d];
            ds = p * (dp - Dr);
        }
        int64_t nk = min((int64_t)32, a.tk - j0);
        for (int jj = 0; jj < nk; jj++) {
            float dj = __shfl_sync(0xffffffffu, ds, jj);
            if (dj == 0.0f) continue;
            const float *kr = row(k, a.ks, bi, j0 + jj, hk);
            for (int e = 0; e < kPer; e++) {
                int64_t d = lane + 32 * e;
                if (d < a.dh) acc[e] += dj * kr[d];
            }
        }
    }
    float *g = gq + ((bi * a.tq + i) * a.hq + h) * a.dh;
    for (int e = 0; e < kPer; e++) {
        int64_t d = lane + 32 * e;
        if (d < a.dh) g[d] += acc[e] * a.scale;
    }
}

/* dK, dV: one warp per key (bi, j, hk), over the group's query heads and
 * the queries that see j, a chunk of 32 queries at a time. */
__global__ void k_att_dkv(att a, const float *q, const float *k, const float *v, const uint8_t *mask,
                          const float *lse, const float *drow, const float *dy, float *gk, float *gv)
{
    __shared__ float ks_[kWarps][kMaxDh], vs_[kWarps][kMaxDh];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    int64_t j = (int64_t)blockIdx.x * kWarps + w, bi = blockIdx.z, hk = blockIdx.y;
    if (j >= a.tk) return;
    const float *kr = row(k, a.ks, bi, j, hk), *vr = row(v, a.vs, bi, j, hk);
    for (int64_t d = lane; d < a.dh; d += 32) {
        ks_[w][d] = kr[d];
        vs_[w][d] = vr[d];
    }
    __syncwarp();
    float dk[kPer], dv[kPer];
    for (int e = 0; e < kPer; e++) dk[e] = dv[e] = 0.0f;
    bool masked = mask && !mask[bi * a.tk + j];
    int64_t istart = a.causal ? max((int64_t)0, j - a.off) : 0;
    for (int64_t g = 0; g < a.group && !masked; g++) {
        int64_t h = hk * a.group + g;
        for (int64_t i0 = istart; i0 < a.tq; i0 += 32) {
            int64_t i = i0 + lane;
            float p = 0.0f, ds = 0.0f;
            if (i < a.tq) {
                int64_t r = (bi * a.hq + h) * a.tq + i;
                const float *qr = row(q, a.qs, bi, i, h), *dor = dy + ((bi * a.tq + i) * a.hq + h) * a.dh;
                float s = 0.0f, dp = 0.0f;
                for (int64_t d = 0; d < a.dh; d++) {
                    s += qr[d] * ks_[w][d];
                    dp += dor[d] * vs_[w][d];
                }
                float L = lse[r];
                if (L != -INFINITY) {
                    p = expf(s * a.scale - L);
                    ds = p * (dp - drow[r]);
                }
            }
            int64_t nq = min((int64_t)32, a.tq - i0);
            for (int ii = 0; ii < nq; ii++) {
                float pi = __shfl_sync(0xffffffffu, p, ii), di = __shfl_sync(0xffffffffu, ds, ii);
                if (pi == 0.0f && di == 0.0f) continue;
                const float *qr = row(q, a.qs, bi, i0 + ii, h), *dor = dy + ((bi * a.tq + i0 + ii) * a.hq + h) * a.dh;
                for (int e = 0; e < kPer; e++) {
                    int64_t d = lane + 32 * e;
                    if (d < a.dh) {
                        dv[e] += pi * dor[d];
                        dk[e] += di * qr[d];
                    }
                }
            }
        }
    }
    float *gkr = gk ? gk + ((bi * a.tk + j) * a.hkv + hk) * a.dh : nullptr;
    float *gvr = gv ? gv + ((bi * a.tk + j) * a.hkv + hk) * a.dh : nullptr;
    for (int e = 0; e < kPer; e++) {
        int64_t d = lane + 32 * e;
        if (d >= a.dh) continue;
        if (gkr) gkr[d] += dk[e] * a.scale;
        if (gvr) gvr[d] += dv[e];
    }
}

att att_from(const vimo_attn_dims *p)
{
    att a;
    a.b = p->b;
    a.tq = p->tq;
    a.tk = p->tk;
    a.hq = p->hq;
    a.hkv = p->hkv;
    a.dh = p->dh;
    a.group = p->hq / p->hkv;
    a.off = p->tk - p->tq;
    for (int d = 0; d < 3; d++) {
        a.qs[d] = p->qs[d];
        a.ks[d] = p->ks[d];
        a.vs[d] = p->vs[d];
    }
    a.causal = p->causal;
    a.scale = p->scale;
    return a;
}

/* ---- convolution: im2col + cuBLAS --------------------------------------------- */

__global__ void k_im2col(float *cols, const float *x, vimo_conv_dims g)
{
    int64_t l = g.ho * g.wo, rows = g.cin * g.kh * g.kw;
    GRID_LOOP(i, rows * l)
    {
        int64_t r = i / l, o = i % l, c = r / (g.kh * g.kw), ki = (r / g.kw) % g.kh, kj = r % g.kw;
        int64_t ih = (o / g.wo) * g.sh - g.ph + ki * g.dh, iw = (o % g.wo) * g.sw - g.pw + kj * g.dw;
        cols[i] = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? x[(c * g.h + ih) * g.w + iw] : 0.0f;
    }
}

/* dx[c, ih, iw] += sum of the dcols entries that im2col read it into. */
__global__ void k_col2im(float *dx, const float *dcols, vimo_conv_dims g)
{
    int64_t l = g.ho * g.wo;
    GRID_LOOP(i, g.cin * g.h * g.w)
    {
        int64_t c = i / (g.h * g.w), ih = (i / g.w) % g.h, iw = i % g.w;
        float s = 0.0f;
        for (int64_t ki = 0; ki < g.kh; ki++) {
            int64_t th = ih + g.ph - ki * g.dh;
            if (th < 0 || th % g.sh) continue;
            int64_t oh = th / g.sh;
            if (oh >= g.ho) continue;
            for (int64_t kj = 0; kj < g.kw; kj++) {
                int64_t tw = iw + g.pw - kj * g.dw;
                if (tw < 0 || tw % g.sw) continue;
                int64_t ow = tw / g.sw;
                if (ow >= g.wo) continue;
                s += dcols[((c * g.kh + ki) * g.kw + kj) * l + oh * g.wo + ow];
            }
        }
        dx[i] += s;
    }
}

__global__ void k_bias_rows(float *y, const float *b, int64_t cout, int64_t l)
{
    GRID_LOOP(i, cout * l) y[i] = b[i / l];
}

/* gb[co] += sum over batch and positions of dy[b, co, :]. */
__global__ void k_conv_db(const float *dy, float *gb, int64_t nb, int64_t cout, int64_t l)
{
    __shared__ float sh[kThreads];
    for (int64_t co = blockIdx.x; co < cout; co += gridDim.x) {
        float acc = 0.0f;
        for (int64_t i = threadIdx.x; i < nb * l; i += blockDim.x) acc += dy[((i / l) * cout + co) * l + i % l];
        float t = block_sum(acc, sh);
        if (threadIdx.x == 0) gb[co] += t;
    }
}

/* ---- AdamW ------------------------------------------------------------------------ */

__global__ void k_adamw(float *p, const float *g, float *m, float *v, int64_t n, float decay, float b1c, float b2,
                        float b2c, float step, float bc2, float eps)
{
    GRID_LOOP(i, n)
    {
        float gi = g[i];
        p[i] *= decay;
        m[i] += b1c * (gi - m[i]);
        v[i] = v[i] * b2 + b2c * gi * gi;
        float denom = sqrtf(v[i]) / bc2 + eps;
        p[i] += -step * (m[i] / denom);
    }
}

/* ---- the table's functions ------------------------------------------------------- */

vimo_status t_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m < 0 || n < 0 || k < 0 || !a || !b || !c)
        return vimo_error(VIMO_ERR_INVALID, "cuda sgemm: bad sizes or NULL matrix");
    if (m == 0 || n == 0) return VIMO_OK;
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX || ldc > INT32_MAX)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "cuda sgemm: sizes beyond 2^31");
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T. */
    cublasStatus_t s = cublasGemmEx(g_blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n,
                                    (int)m, (int)k, &alpha, b, CUDA_R_32F, (int)ldb, a, CUDA_R_32F, (int)lda, &beta, c,
                                    CUDA_R_32F, (int)ldc, g_compute, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        return vimo_error(VIMO_ERR_INTERNAL, "cuda sgemm: cublasGemmEx (%lld, %lld, %lld): %s", (long long)m,
                          (long long)n, (long long)k, cublasGetStatusString(s));
    return VIMO_OK;
}

vimo_status t_copy(vimo_ctx *, float *dst, const int64_t *ds, const float *src, const int64_t *ss, int nd,
                   const int64_t *shape, int acc)
{
    strided4 g;
    int64_t n = 1;
    for (int d = 0; d < 4; d++) {
        int s = d - (4 - nd);
        g.shape[d] = s >= 0 ? shape[s] : 1;
        g.ds[d] = s >= 0 ? ds[s] : 0;
        g.ss[d] = s >= 0 ? ss[s] : 0;
        n *= g.shape[d];
    }
    k_copy<<<capped(n), kThreads, 0, g_stream>>>(dst, src, g, n, acc);
    return launched("copy");
}

vimo_status t_fill(vimo_ctx *, float *x, int64_t n, float v)
{
    k_fill<<<capped(n), kThreads, 0, g_stream>>>(x, n, v);
    return launched("fill");
}

vimo_status t_binary_fwd(vimo_ctx *, int kind, const float *a, const float *b, float *y, int64_t n, int64_t p)
{
    k_binary<<<capped(n), kThreads, 0, g_stream>>>(kind, a, b, y, n, p);
    return launched("binary");
}

vimo_status t_binary_bwd(vimo_ctx *, int kind, const float *a, const float *b, const float *dy, float *ga, float *gb,
                         int64_t n, int64_t p)
{
    if (ga) {
        k_binary_ga<<<capped(n), kThreads, 0, g_stream>>>(kind, b, dy, ga, n, p);
        vimo_status st = launched("binary backward");
        if (st) return st;
    }
    if (gb) return colsum(kind == VIMO_BIN_MUL ? 1 : kind == VIMO_BIN_SUB ? 2 : 0, dy, a, nullptr, gb, n / p, p);
    return VIMO_OK;
}

vimo_status t_colsum_add(vimo_ctx *, const float *dy, float *gb, int64_t rows, int64_t n)
{
    return colsum(0, dy, nullptr, nullptr, gb, rows, n);
}

vimo_status t_unary_fwd(vimo_ctx *, int kind, const float *x, float *y, int64_t n, float s)
{
    k_unary_fwd<<<capped(n), kThreads, 0, g_stream>>>(kind, x, y, n, s);
    return launched("unary");
}

vimo_status t_unary_bwd(vimo_ctx *, int kind, const float *x, const float *dy, float *gx, int64_t n, float s)
{
    k_unary_bwd<<<capped(n), kThreads, 0, g_stream>>>(kind, x, dy, gx, n, s);
    return launched("unary backward");
}

vimo_status t_swiglu_fwd(vimo_ctx *, const float *g, const float *u, float *y, int64_t n)
{
    k_swiglu_fwd<<<capped(n), kThreads, 0, g_stream>>>(g, u, y, n);
    return launched("swiglu");
}

vimo_status t_swiglu_bwd(vimo_ctx *, const float *g, const float *u, const float *dy, float *gg, float *gu, int64_t n)
{
    k_swiglu_bwd<<<capped(n), kThreads, 0, g_stream>>>(g, u, dy, gg, gu, n);
    return launched("swiglu backward");
}

vimo_status t_sum_fwd(vimo_ctx *, const float *x, float *y, int64_t n)
{
    k_reduce<<<1, 1024, 0, g_stream>>>(0, x, nullptr, n, 1.0, y, nullptr);
    return launched("sum");
}

vimo_status t_sum_bwd(vimo_ctx *, const float *dy, float *gx, int64_t n)
{
    k_add_scalar<<<capped(n), kThreads, 0, g_stream>>>(dy, gx, n, 1.0f);
    return launched("sum backward");
}

vimo_status t_mean_fwd(vimo_ctx *, const float *x, float *y, int64_t o, int64_t len, int64_t in)
{
    k_mean_fwd<<<capped(o * in), kThreads, 0, g_stream>>>(x, y, o, len, in);
    return launched("mean");
}

vimo_status t_mean_bwd(vimo_ctx *, const float *dy, float *gx, int64_t o, int64_t len, int64_t in)
{
    k_mean_bwd<<<capped(o * len * in), kThreads, 0, g_stream>>>(dy, gx, o, len, in);
    return launched("mean backward");
}

inline vimo_status rows_ok(int64_t rows, const char *op)
{
    if (rows > INT32_MAX) return vimo_error(VIMO_ERR_UNSUPPORTED, "cuda %s: %lld rows", op, (long long)rows);
    return VIMO_OK;
}

vimo_status t_rmsnorm_fwd(vimo_ctx *, const float *x, const float *w, float *y, float *rstd, int64_t rows, int64_t d,
                          float eps)
{
    vimo_status st = rows_ok(rows, "rmsnorm");
    if (st) return st;
    k_rmsnorm_fwd<<<(unsigned)rows, kThreads, 0, g_stream>>>(x, w, y, rstd, d, eps);
    return launched("rmsnorm");
}

vimo_status t_rmsnorm_bwd(vimo_ctx *, const float *x, const float *w, const float *rstd, const float *dy, float *gx,
                          float *gw, int64_t rows, int64_t d)
{
    vimo_status st = rows_ok(rows, "rmsnorm");
    if (st) return st;
    if (gx) {
        k_rmsnorm_bwd<<<(unsigned)rows, kThreads, 0, g_stream>>>(x, w, rstd, dy, gx, d);
        if ((st = launched("rmsnorm backward"))) return st;
    }
    return gw ? colsum(3, dy, x, rstd, gw, rows, d) : VIMO_OK;
}

vimo_status t_layernorm_fwd(vimo_ctx *, const float *x, const float *w, const float *b, float *y, float *stats,
                            int64_t rows, int64_t d, float eps)
{
    vimo_status st = rows_ok(rows, "layernorm");
    if (st) return st;
    k_layernorm_fwd<<<(unsigned)rows, kThreads, 0, g_stream>>>(x, w, b, y, stats, rows, d, eps);
    return launched("layernorm");
}

vimo_status t_layernorm_bwd(vimo_ctx *, const float *x, const float *w, const float *stats, const float *dy, float *gx,
                            float *gw, float *gb, int64_t rows, int64_t d)
{
    vimo_status st = rows_ok(rows, "layernorm");
    if (st) return st;
    if (gx) {
        k_layernorm_bwd<<<(unsigned)rows, kThreads, 0, g_stream>>>(x, w, stats, dy, gx, rows, d);
        if ((st = launched("layernorm backward"))) return st;
    }
    if (gw && (st = colsum(4, dy, x, stats, gw, rows, d))) return st;
    return gb ? colsum(0, dy, nullptr, nullptr, gb, rows, d) : VIMO_OK;
}

vimo_status t_softmax_fwd(vimo_ctx *, const float *x, float *y, int64_t rows, int64_t d)
{
    vimo_status st = rows_ok(rows, "softmax");
    if (st) return st;
    k_softmax_fwd<<<(unsigned)rows, kThreads, 0, g_stream>>>(x, y, d);
    return launched("softmax");
}

vimo_status t_softmax_bwd(vimo_ctx *, const float *y, const float *dy, float *gx, int64_t rows, int64_t d)
{
    vimo_status st = rows_ok(rows, "softmax");
    if (st) return st;
    k_softmax_bwd<<<(unsigned)rows, kThreads, 0, g_stream>>>(y, dy, gx, d);
    return launched("softmax backward");
}

vimo_status t_embedding_fwd(vimo_ctx *, const float *t, const int32_t *ids, float *y, int64_t cnt, int64_t d)
{
    k_embedding_fwd<<<capped(cnt * d), kThreads, 0, g_stream>>>(t, ids, y, cnt, d);
    return launched("embedding");
}

vimo_status t_embedding_bwd(vimo_ctx *, const int32_t *ids, const float *dy, float *gt, int64_t cnt, int64_t d)
{
    k_embedding_bwd<<<capped(d), kThreads, 0, g_stream>>>(ids, dy, gt, cnt, d);
    return launched("embedding backward");
}

vimo_status t_rope(vimo_ctx *, float *y, const float *x, const float *cs, int64_t rows, int64_t t, int64_t h,
                   int64_t dh, int mode, int bwd)
{
    k_rope<<<capped(rows * (dh / 2)), kThreads, 0, g_stream>>>(y, x, cs, rows, t, h, dh,
                                                               mode == 0 /* VIMO_ROPE_INTERLEAVED */, bwd);
    return launched("rope");
}

vimo_status t_dropout_fwd(vimo_ctx *, const float *x, const uint8_t *keep, float *y, int64_t n, float scale)
{
    k_dropout<<<capped(n), kThreads, 0, g_stream>>>(x, keep, y, n, scale, 0);
    return launched("dropout");
}

vimo_status t_dropout_bwd(vimo_ctx *, const uint8_t *keep, const float *dy, float *gx, int64_t n, float scale)
{
    k_dropout<<<capped(n), kThreads, 0, g_stream>>>(dy, keep, gx, n, scale, 1);
    return launched("dropout backward");
}

vimo_status t_ce_fwd(vimo_ctx *ctx, const float *x, const int32_t *tg, int32_t ignore, int64_t count, float *lse,
                     float *loss, int64_t rows, int64_t v)
{
    vimo_status st = rows_ok(rows, "cross_entropy");
    if (st) return st;
    float *row_loss = scratch(ctx, (size_t)rows * sizeof(float));
    if (!row_loss) return VIMO_ERR_NOMEM;
    k_ce_rows<<<(unsigned)rows, kThreads, 0, g_stream>>>(x, tg, ignore, lse, row_loss, v);
    if ((st = launched("cross_entropy"))) return st;
    k_reduce<<<1, 1024, 0, g_stream>>>(0, row_loss, nullptr, rows, count ? 1.0 / (double)count : 0.0, loss, nullptr);
    return launched("cross_entropy sum");
}

vimo_status t_ce_bwd(vimo_ctx *, const float *x, const int32_t *tg, int32_t ignore, int64_t count, const float *lse,
                     const float *dl, float *gx, int64_t rows, int64_t v)
{
    if (count == 0) return VIMO_OK;
    k_ce_bwd<<<capped(rows * v), kThreads, 0, g_stream>>>(x, tg, ignore, lse, dl, 1.0f / (float)count, gx, rows, v);
    return launched("cross_entropy backward");
}

vimo_status t_mse_fwd(vimo_ctx *, const float *a, const float *b, float *loss, int64_t n)
{
    k_reduce<<<1, 1024, 0, g_stream>>>(2, a, b, n, 1.0 / (double)n, loss, nullptr);
    return launched("mse");
}

vimo_status t_mse_bwd(vimo_ctx *, const float *a, const float *b, const float *dl, float *ga, float *gb, int64_t n)
{
    k_mse_bwd<<<capped(n), kThreads, 0, g_stream>>>(a, b, dl, ga, gb, n);
    return launched("mse backward");
}

inline vimo_status att_ok(const vimo_attn_dims *p)
{
    if (p->dh > kMaxDh) return vimo_error(VIMO_ERR_UNSUPPORTED, "cuda attention: Dh %lld > %d", (long long)p->dh, kMaxDh);
    if (p->hq > 65535 || p->b > 65535 || (p->tq + kWarps - 1) / kWarps > INT32_MAX)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "cuda attention: B %lld or Hq %lld above 65535", (long long)p->b,
                          (long long)p->hq);
    return VIMO_OK;
}

vimo_status t_att_fwd(vimo_ctx *, const vimo_attn_dims *p, const float *q, const float *k, const float *v,
                      const uint8_t *mask, float *y, float *lse)
{
    vimo_status st = att_ok(p);
    if (st) return st;
    att a = att_from(p);
    dim3 grid((unsigned)((a.tq + kWarps - 1) / kWarps), (unsigned)a.hq, (unsigned)a.b);
    k_att_fwd<<<grid, 32 * kWarps, 0, g_stream>>>(a, q, k, v, mask, y, lse);
    return launched("attention");
}

vimo_status t_att_bwd(vimo_ctx *ctx, const vimo_attn_dims *p, const float *q, const float *k, const float *v,
                      const uint8_t *mask, const float *y, const float *lse, const float *dy, float *gq, float *gk,
                      float *gv)
{
    vimo_status st = att_ok(p);
    if (st) return st;
    att a = att_from(p);
    float *drow = scratch(ctx, (size_t)(a.b * a.hq * a.tq) * sizeof(float));
    if (!drow) return VIMO_ERR_NOMEM;
    k_att_drow<<<capped(a.b * a.tq * a.hq), kThreads, 0, g_stream>>>(a, y, dy, drow);
    if ((st = launched("attention backward D"))) return st;
    if (gq) {
        dim3 grid((unsigned)((a.tq + kWarps - 1) / kWarps), (unsigned)a.hq, (unsigned)a.b);
        k_att_dq<<<grid, 32 * kWarps, 0, g_stream>>>(a, q, k, v, mask, lse, drow, dy, gq);
        if ((st = launched("attention backward dQ"))) return st;
    }
    if (gk || gv) {
        dim3 grid((unsigned)((a.tk + kWarps - 1) / kWarps), (unsigned)a.hkv, (unsigned)a.b);
        k_att_dkv<<<grid, 32 * kWarps, 0, g_stream>>>(a, q, k, v, mask, lse, drow, dy, gk, gv);
        if ((st = launched("attention backward dK dV"))) return st;
    }
    return VIMO_OK;
}

vimo_status t_conv_fwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w, const float *b, float *y)
{
    int64_t rows = g->cin * g->kh * g->kw, l = g->ho * g->wo, xsz = g->cin * g->h * g->w, ysz = g->cout * l;
    float *cols = scratch(ctx, (size_t)(rows * l) * sizeof(float));
    if (!cols) return VIMO_ERR_NOMEM;
    vimo_status st = VIMO_OK;
    for (int64_t bi = 0; bi < g->b && !st; bi++) {
        float *yb = y + bi * ysz;
        if (b) {
            k_bias_rows<<<capped(ysz), kThreads, 0, g_stream>>>(yb, b, g->cout, l);
            if ((st = launched("conv bias"))) break;
        }
        k_im2col<<<capped(rows * l), kThreads, 0, g_stream>>>(cols, x + bi * xsz, *g);
        if ((st = launched("im2col"))) break;
        st = t_sgemm(0, 0, g->cout, l, rows, 1.0f, w, rows, cols, l, b ? 1.0f : 0.0f, yb, l);
    }
    return st;
}

vimo_status t_conv_bwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w, const float *dy,
                       float *gx, float *gw, float *gb)
{
    int64_t rows = g->cin * g->kh * g->kw, l = g->ho * g->wo, xsz = g->cin * g->h * g->w, ysz = g->cout * l;
    float *cols = gw ? scratch(ctx, (size_t)(rows * l) * sizeof(float)) : nullptr;
    float *dcols = gx ? scratch(ctx, (size_t)(rows * l) * sizeof(float)) : nullptr;
    if ((gw && !cols) || (gx && !dcols)) return VIMO_ERR_NOMEM;
    vimo_status st = VIMO_OK;
    for (int64_t bi = 0; bi < g->b && !st; bi++) {
        const float *dyb = dy + bi * ysz;
        if (gw) {
            k_im2col<<<capped(rows * l), kThreads, 0, g_stream>>>(cols, x + bi * xsz, *g);
            if ((st = launched("im2col")) || (st = t_sgemm(0, 1, g->cout, rows, l, 1.0f, dyb, l, cols, l, 1.0f, gw,
                                                            rows)))
                break;
        }
        if (gx) {
            if ((st = t_sgemm(1, 0, rows, l, g->cout, 1.0f, w, rows, dyb, l, 0.0f, dcols, l))) break;
            k_col2im<<<capped(xsz), kThreads, 0, g_stream>>>(gx + bi * xsz, dcols, *g);
            st = launched("col2im");
        }
    }
    if (!st && gb) {
        k_conv_db<<<(unsigned)(g->cout < 65535 ? g->cout : 65535), kThreads, 0, g_stream>>>(dy, gb, g->b, g->cout, l);
        st = launched("conv bias backward");
    }
    return st;
}

vimo_status t_adamw(float *p, const float *g, float *m, float *v, int64_t n, float decay, float b1c, float b2,
                    float b2c, float step, float bc2, float eps)
{
    k_adamw<<<capped(n), kThreads, 0, g_stream>>>(p, g, m, v, n, decay, b1c, b2, b2c, step, bc2, eps);
    return launched("adamw");
}

/* Into g_sumsq (allocated once by vcu_init, reused by every call: the calls
 * are ordered on the one stream and each waits for its result). */
vimo_status t_sumsq(const float *x, int64_t n, double *out)
{
    k_reduce<<<1, 1024, 0, g_stream>>>(1, x, nullptr, n, 1.0, nullptr, g_sumsq);
    vimo_status st = launched("sumsq");
    if (!st)
        st = cuda_err(cudaMemcpyAsync(out, g_sumsq, sizeof(double), cudaMemcpyDeviceToHost, g_stream), "sumsq copy");
    if (!st) st = cuda_err(cudaStreamSynchronize(g_stream), "sumsq sync");
    return st;
}

/* The table, filled by field name: C++17 has no designated initialisers
 * (C++20's would also need CUDA_STANDARD 20), so a constexpr function
 * assigns each entry by name, and a forgotten entry is caught at compile
 * time below (all_set) rather than left NULL for the host's check. */
constexpr vimo_backend_kernels make_kernels()
{
    vimo_backend_kernels k{};
    k.size = sizeof(vimo_backend_kernels);
    k.sgemm = t_sgemm;
    k.copy = t_copy;
    k.fill = t_fill;
    k.binary_fwd = t_binary_fwd;
    k.binary_bwd = t_binary_bwd;
    k.colsum_add = t_colsum_add;
    k.unary_fwd = t_unary_fwd;
    k.unary_bwd = t_unary_bwd;
    k.swiglu_fwd = t_swiglu_fwd;
    k.swiglu_bwd = t_swiglu_bwd;
    k.sum_fwd = t_sum_fwd;
    k.sum_bwd = t_sum_bwd;
    k.mean_fwd = t_mean_fwd;
    k.mean_bwd = t_mean_bwd;
    k.rmsnorm_fwd = t_rmsnorm_fwd;
    k.rmsnorm_bwd = t_rmsnorm_bwd;
    k.layernorm_fwd = t_layernorm_fwd;
    k.layernorm_bwd = t_layernorm_bwd;
    k.softmax_fwd = t_softmax_fwd;
    k.softmax_bwd = t_softmax_bwd;
    k.embedding_fwd = t_embedding_fwd;
    k.embedding_bwd = t_embedding_bwd;
    k.rope = t_rope;
    k.dropout_fwd = t_dropout_fwd;
    k.dropout_bwd = t_dropout_bwd;
    k.ce_fwd = t_ce_fwd;
    k.ce_bwd = t_ce_bwd;
    k.mse_fwd = t_mse_fwd;
    k.mse_bwd = t_mse_bwd;
    k.attention_fwd = t_att_fwd;
    k.attention_bwd = t_att_bwd;
    k.conv_fwd = t_conv_fwd;
    k.conv_bwd = t_conv_bwd;
    k.adamw = t_adamw;
    k.sumsq = t_sumsq;
    return k;
}

constexpr vimo_backend_kernels k_table = make_kernels();
constexpr bool all_set(const vimo_backend_kernels &k)
{
    return k.sgemm && k.copy && k.fill && k.binary_fwd && k.binary_bwd && k.colsum_add && k.unary_fwd &&
           k.unary_bwd && k.swiglu_fwd && k.swiglu_bwd && k.sum_fwd && k.sum_bwd && k.mean_fwd && k.mean_bwd &&
           k.rmsnorm_fwd && k.rmsnorm_bwd && k.layernorm_fwd && k.layernorm_bwd && k.softmax_fwd &&
           k.softmax_bwd && k.embedding_fwd && k.embedding_bwd && k.rope && k.dropout_fwd && k.dropout_bwd &&
           k.ce_fwd && k.ce_bwd && k.mse_fwd && k.mse_bwd && k.attention_fwd && k.attention_bwd && k.conv_fwd &&
           k.conv_bwd && k.adamw && k.sumsq;
}
static_assert(all_set(k_table), "vcu_kernels: every kernel of vimo_backend_kernels must be set");
/* 35 kernels after size: a kernel added to backend.h must be added to
 * make_kernels and all_set (this count) too. */
static_assert(sizeof(vimo_backend_kernels) == offsetof(vimo_backend_kernels, sgemm) + 35 * sizeof(void (*)(void)),
              "vimo_backend_kernels changed: update make_kernels and all_set");

} // namespace

/* ---- memory and the descriptor's table ---------------------------------------------- */

extern "C" {

/* Releases what vcu_init created (on its failure paths). */
static void vcu_release(void)
{
    if (g_sumsq) cudaFree(g_sumsq);
    if (g_blas) cublasDestroy(g_blas);
    if (g_stream) cudaStreamDestroy(g_stream);
    g_sumsq = nullptr;
    g_blas = nullptr;
    g_stream = nullptr;
    g_cuda_device = -1;
}

/* Status contract (vimo/backend.h): VIMO_ERR_UNSUPPORTED only for "no
 * usable CUDA device here" (tests skip on it); a bad VIMO_CUDA_GEMM is
 * VIMO_ERR_INVALID, a CUDA/cuBLAS failure VIMO_ERR_INTERNAL. Nothing is
 * left allocated on failure, so a later vimo_backend_get may retry. */
vimo_status vcu_init(void)
{
    /* Settings first: nothing to undo when they are wrong. */
    cublasComputeType_t compute;
    const char *mode = getenv("VIMO_CUDA_GEMM");
    if (!mode || !*mode || !strcmp(mode, "fp32")) {
        compute = CUBLAS_COMPUTE_32F;
    } else if (!strcmp(mode, "tf32")) {
        compute = CUBLAS_COMPUTE_32F_FAST_TF32;
    } else if (!strcmp(mode, "bf16")) {
        compute = CUBLAS_COMPUTE_32F_FAST_16BF;
    } else {
        return vimo_error(VIMO_ERR_INVALID, "cuda: VIMO_CUDA_GEMM=%s: expected fp32, tf32 or bf16", mode);
    }
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n < 1)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "cuda: no CUDA device (%s)",
                          e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    /* Device 0 of those visible (CUDA_VISIBLE_DEVICES picks another). */
    vimo_status st = cuda_err(cudaSetDevice(0), "select device 0");
    if (st) return st;
    g_cuda_device = 0;
    if ((st = cuda_err(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking), "stream"))) {
        g_stream = nullptr;
        vcu_release();
        return st;
    }
    if (cublasCreate(&g_blas) != CUBLAS_STATUS_SUCCESS) {
        g_blas = nullptr;
        vcu_release();
        return vimo_error(VIMO_ERR_INTERNAL, "cuda: cuBLAS initialisation failed");
    }
    if (cublasSetStream(g_blas, g_stream) != CUBLAS_STATUS_SUCCESS) {
        vcu_release();
        return vimo_error(VIMO_ERR_INTERNAL, "cuda: cuBLAS initialisation failed (set stream)");
    }
    if ((st = cuda_err(cudaMalloc((void **)&g_sumsq, sizeof(double)), "sumsq scratch"))) {
        g_sumsq = nullptr;
        vcu_release();
        return st;
    }
    g_compute = compute;
    return VIMO_OK;
}

vimo_status vcu_alloc(void **out, size_t bytes)
{
    *out = nullptr;
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 256);
    if (e != cudaSuccess) return vimo_error(VIMO_ERR_NOMEM, "cuda: cannot allocate %zu bytes: %s", bytes,
                                            cudaGetErrorString(e));
    return VIMO_OK;
}

void vcu_free(void *p)
{
    if (p) cudaFree(p); /* waits for work in flight */
}

vimo_status vcu_h2d(void *dst, const void *src, size_t bytes)
{
    return cuda_err(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_stream), "copy to device");
}

vimo_status vcu_d2h(void *dst, const void *src, size_t bytes)
{
    vimo_status st = cuda_err(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_stream), "copy to host");
    return st ? st : cuda_err(cudaStreamSynchronize(g_stream), "copy to host");
}

vimo_status vcu_d2d(void *dst, const void *src, size_t bytes)
{
    return cuda_err(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g_stream), "copy on device");
}

vimo_status vcu_memset0(void *dst, size_t bytes)
{
    return cuda_err(cudaMemsetAsync(dst, 0, bytes, g_stream), "memset");
}

vimo_status vcu_sync(void) { return cuda_err(cudaStreamSynchronize(g_stream), "synchronize"); }

const vimo_backend_kernels vcu_kernels = k_table;

} /* extern "C" */
