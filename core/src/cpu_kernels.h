/*
 * cpu_kernels.h - vimo's CPU kernels under the backend table's signatures
 * (vimo/backend.h). Each lives beside its op (ops_*.c) and is what that op
 * runs on device 0; backend.c collects them into vimo_backend_cpu(). They
 * take host pointers, parallelise with OpenMP as documented in their files
 * and keep the fixed summation orders that make results thread-count
 * independent. Private to libvimo.
 */
#ifndef VIMO_CPU_KERNELS_H
#define VIMO_CPU_KERNELS_H

#include "vimo/backend.h"

vimo_status vt_cpu_copy(vimo_ctx *ctx, float *dst, const int64_t *dst_stride, const float *src,
                        const int64_t *src_stride, int ndim, const int64_t *shape, int accumulate);
vimo_status vt_cpu_fill(vimo_ctx *ctx, float *x, int64_t n, float value);
vimo_status vt_cpu_binary_fwd(vimo_ctx *ctx, int kind, const float *a, const float *b, float *y, int64_t n,
                              int64_t period);
vimo_status vt_cpu_binary_bwd(vimo_ctx *ctx, int kind, const float *a, const float *b, const float *dy, float *ga,
                              float *gb, int64_t n, int64_t period);
vimo_status vt_cpu_colsum_add(vimo_ctx *ctx, const float *dy, float *gb, int64_t rows, int64_t n);
vimo_status vt_cpu_unary_fwd(vimo_ctx *ctx, int kind, const float *x, float *y, int64_t n, float s);
vimo_status vt_cpu_unary_bwd(vimo_ctx *ctx, int kind, const float *x, const float *dy, float *gx, int64_t n,
                             float s);
vimo_status vt_cpu_swiglu_fwd(vimo_ctx *ctx, const float *gate, const float *up, float *y, int64_t n);
vimo_status vt_cpu_swiglu_bwd(vimo_ctx *ctx, const float *gate, const float *up, const float *dy, float *gg,
                              float *gu, int64_t n);
vimo_status vt_cpu_sum_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t n);
vimo_status vt_cpu_sum_bwd(vimo_ctx *ctx, const float *dy, float *gx, int64_t n);
vimo_status vt_cpu_mean_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t outer, int64_t len, int64_t inner);
vimo_status vt_cpu_mean_bwd(vimo_ctx *ctx, const float *dy, float *gx, int64_t outer, int64_t len, int64_t inner);
vimo_status vt_cpu_rmsnorm_fwd(vimo_ctx *ctx, const float *x, const float *w, float *y, float *rstd, int64_t rows,
                               int64_t d, float eps);
vimo_status vt_cpu_rmsnorm_bwd(vimo_ctx *ctx, const float *x, const float *w, const float *rstd, const float *dy,
                               float *gx, float *gw, int64_t rows, int64_t d);
vimo_status vt_cpu_layernorm_fwd(vimo_ctx *ctx, const float *x, const float *w, const float *b, float *y,
                                 float *stats, int64_t rows, int64_t d, float eps);
vimo_status vt_cpu_layernorm_bwd(vimo_ctx *ctx, const float *x, const float *w, const float *stats, const float *dy,
                                 float *gx, float *gw, float *gb, int64_t rows, int64_t d);
vimo_status vt_cpu_softmax_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t rows, int64_t d);
vimo_status vt_cpu_softmax_bwd(vimo_ctx *ctx, const float *y, const float *dy, float *gx, int64_t rows, int64_t d);
vimo_status vt_cpu_embedding_fwd(vimo_ctx *ctx, const float *table, const int32_t *ids, float *y, int64_t cnt,
                                 int64_t d);
vimo_status vt_cpu_embedding_bwd(vimo_ctx *ctx, const int32_t *ids, const float *dy, float *gtable, int64_t cnt,
                                 int64_t d);
vimo_status vt_cpu_rope(vimo_ctx *ctx, float *y, const float *x, const float *cs, int64_t rows, int64_t t_len,
                        int64_t h, int64_t dh, int mode, int backward);
vimo_status vt_cpu_dropout_fwd(vimo_ctx *ctx, const float *x, const uint8_t *keep, float *y, int64_t n,
                               float scale);
vimo_status vt_cpu_dropout_bwd(vimo_ctx *ctx, const uint8_t *keep, const float *dy, float *gx, int64_t n,
                               float scale);
vimo_status vt_cpu_ce_fwd(vimo_ctx *ctx, const float *x, const int32_t *targets, int32_t ignore, int64_t count,
                          float *lse, float *loss, int64_t rows, int64_t v);
vimo_status vt_cpu_ce_bwd(vimo_ctx *ctx, const float *x, const int32_t *targets, int32_t ignore, int64_t count,
                          const float *lse, const float *dloss, float *gx, int64_t rows, int64_t v);
vimo_status vt_cpu_mse_fwd(vimo_ctx *ctx, const float *a, const float *b, float *loss, int64_t n);
vimo_status vt_cpu_mse_bwd(vimo_ctx *ctx, const float *a, const float *b, const float *dloss, float *ga, float *gb,
                           int64_t n);
vimo_status vt_cpu_attention_fwd(vimo_ctx *ctx, const vimo_attn_dims *a, const float *q, const float *k,
                                 const float *v, const uint8_t *mask, float *y, float *lse);
vimo_status vt_cpu_attention_bwd(vimo_ctx *ctx, const vimo_attn_dims *a, const float *q, const float *k,
                                 const float *v, const uint8_t *mask, const float *y, const float *lse,
                                 const float *dy, float *gq, float *gk, float *gv);
vimo_status vt_cpu_conv_fwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w, const float *b,
                            float *y);
vimo_status vt_cpu_conv_bwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w, const float *dy,
                            float *gx, float *gw, float *gb);
vimo_status vt_cpu_adamw(float *p, const float *g, float *m, float *v, int64_t n, float decay, float b1c, float b2,
                         float b2c, float step_size, float bc2_sqrt, float eps);
vimo_status vt_cpu_sumsq(const float *x, int64_t n, double *out);

#endif
