/*
 * bench_gemm.c - `vimo bench gemm`: GFLOP/s of the matmul op (y = x @ W^T,
 * nn.Linear, through a no-grad context, so its checks, output allocation
 * and context reset count) against a direct bli_sgemm of the same product
 * in the same run, for LLM shapes (M tokens, K inputs, N outputs).
 * For M = 1 it also times bli_sgemv, BLIS's matrix-vector routine, since
 * sgemm is a weak reference there. FLOPs = 2 M N K (the bias add is not
 * counted, so --bias shows its cost as a lower op rate).
 * --device NAME (e.g. cuda) times the op on that backend instead, against
 * the backend's own sgemm kernel (cuBLAS for cuda) on the same device
 * buffers, each call followed by a device synchronisation; the error says
 * why when the backend or a GPU is missing (docs/cuda.md).
 * On the CPU each row also gives op per thread as a percentage of the fp32
 * FMA peak per core measured in the same run (bench_peak.c, before the
 * first shape, with as many threads as the GEMMs use): GEMM efficiency at
 * the clock this host gives now, not against a data-sheet peak. Not with
 * --cpu-time: the peak is a wall-clock figure, so the ratio would mix clocks.
 * Not here: backward passes, bmm, other dtypes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <blis.h>

#include "bench.h"
#include "cli.h"
#include "vimo/vimo.h"

#define MAX_DIMS 16
#define MAX_FLOATS (INT64_C(1) << 28) /* 1 GiB of operands per shape */

typedef struct {
    vimo_ctx *ctx;
    vimo_tensor *x, *w, *b;
    const vimo_backend *be; /* NULL on the CPU */
    int64_t m, n, k;
    float *c; /* device output of the raw kernel */
} op_arg;

typedef struct {
    int64_t m, n, k;
    float *x, *w, *c;
} blis_arg;

/* The FMA peak of this run: GFLOP/s per core (0: not measured) and the ISA
 * ("AVX-512", "AVX2", "none"; NULL when not measured). */
typedef struct {
    double gflops;
    const char *isa;
} peak_info;

static int body_op(void *p)
{
    op_arg *a = p;
    vimo_tensor *y;
    vimo_status st = vimo_matmul(a->ctx, &y, a->x, a->w, a->b);
    if (!st && a->be) st = a->be->synchronize();
    vimo_ctx_reset(a->ctx);
    return st;
}

/* The device's own sgemm on the op's buffers: what the op can at best reach. */
static int body_dev_sgemm(void *p)
{
    op_arg *a = p;
    const vimo_backend_kernels *kern = vimo_backend_kernels_of(vimo_tensor_device(a->x));
    vimo_status st = kern->sgemm(0, 1, a->m, a->n, a->k, 1.0f, vimo_tensor_device_data(a->x), a->k,
                                 vimo_tensor_device_data(a->w), a->k, 0.0f, a->c, a->n);
    return st ? st : a->be->synchronize();
}

static int body_sgemm(void *p)
{
    blis_arg *a = p;
    float one = 1.0f, zero = 0.0f;
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, a->m, a->n, a->k, &one, a->x, a->k, 1, a->w, a->k, 1, &zero, a->c,
              a->n, 1);
    return 0;
}

static int body_sgemv(void *p)
{
    blis_arg *a = p; /* y (N) = W (N, K) x (K) */
    float one = 1.0f, zero = 0.0f;
    bli_sgemv(BLIS_NO_TRANSPOSE, BLIS_NO_CONJUGATE, a->n, a->k, &one, a->w, a->k, 1, a->x, 1, &zero, a->c, 1);
    return 0;
}

/* One shape: times op, sgemm (and sgemv at M = 1), prints one row. */
static int bench_shape(vimo_bench_run *run, vimo_ctx *ctx, int64_t m, int64_t k, int64_t n, int bias, int dev,
                       peak_info pk)
{
    vimo_tensor *x = NULL, *w = NULL, *b = NULL;
    float *c = NULL, *dc = NULL;
    const vimo_backend *dbe = dev ? vimo_backend_of(dev) : NULL;
    int rc = 1;
    if ((m * k + n * k + 2 * m * n) > MAX_FLOATS) {
        vimo_error(VIMO_ERR_INVALID, "gemm: M=%lld K=%lld N=%lld needs more than 1 GiB", (long long)m, (long long)k,
                   (long long)n);
        goto done;
    }
    if (vimo_tensor_new2(&x, m, k) || vimo_tensor_new2(&w, n, k) || (bias && vimo_tensor_new1(&b, n))) goto done;
    vimo_bench_fill(vimo_tensor_data(x), m * k, 1);
    vimo_bench_fill(vimo_tensor_data(w), n * k, 2);
    if (b) vimo_bench_fill(vimo_tensor_data(b), n, 3);
    c = malloc((size_t)(m * n) * sizeof *c);
    if (!c) {
        vimo_error(VIMO_ERR_NOMEM, "gemm: out of memory for (%lld, %lld)", (long long)m, (long long)n);
        goto done;
    }
    op_arg oa = {ctx, x, w, b, NULL, m, n, k, NULL};
    blis_arg ba = {m, n, k, vimo_tensor_data(x), vimo_tensor_data(w), c};
    vimo_bench_body fns[3] = {body_op, body_sgemm, body_sgemv};
    void *const args[3] = {&oa, &ba, &ba};
    vimo_bench_timing t[3];
    int nb = m == 1 ? 3 : 2;
    if (dev) { /* the operands move to the device; the reference is its sgemm */
        if (vimo_tensor_move(x, dev) || vimo_tensor_move(w, dev) || (b && vimo_tensor_move(b, dev)) ||
            dbe->alloc((void **)&dc, (size_t)(m * n) * sizeof(float)))
            goto done;
        oa.be = dbe;
        oa.c = dc;
        fns[1] = body_dev_sgemm;
        nb = 2;
    }
    if (vimo_bench_time(run, nb, fns, args, t)) goto done;
    double flop = 2.0 * (double)m * (double)n * (double)k;
    double op = flop / t[0].median_s * 1e-9, gemm = flop / t[1].median_s * 1e-9;
    double gemv = nb == 3 ? flop / t[2].median_s * 1e-9 : 0.0;
    double peak = pk.gflops, per_thread = dev ? op : op / run->threads, pct = peak > 0 ? 100.0 * per_thread / peak : 0.0;
    vimo_bench_printf(run, "%5lld %5lld %5lld %9.1f %9.1f %7.3f %9.1f", (long long)m, (long long)k, (long long)n, op,
                      gemm, op / gemm, per_thread);
    if (peak > 0)
        vimo_bench_printf(run, " %6.1f", pct);
    else if (!dev)
        vimo_bench_printf(run, " %6s", "-");
    vimo_bench_printf(run, " %9.1f", t[0].median_s * 1e6);
    if (nb == 3)
        vimo_bench_printf(run, "  (sgemv %.1f)\n", gemv);
    else
        vimo_bench_printf(run, "\n");
    cJSON *r = vimo_bench_result(run);
    if (r) {
        cJSON_AddNumberToObject(r, "m", (double)m);
        cJSON_AddNumberToObject(r, "k", (double)k);
        cJSON_AddNumberToObject(r, "n", (double)n);
        cJSON_AddBoolToObject(r, "bias", bias);
        cJSON_AddNumberToObject(r, "op_gflops", op);
        cJSON_AddStringToObject(r, "device", vimo_device_name(dev));
        cJSON_AddNumberToObject(r, dev ? "device_sgemm_gflops" : "blis_sgemm_gflops", gemm);
        cJSON_AddNumberToObject(r, "ratio", op / gemm);
        cJSON_AddNumberToObject(r, "op_gflops_per_thread", op / run->threads);
        if (pk.isa) cJSON_AddStringToObject(r, "fma_peak_isa", pk.isa);
        if (peak > 0) {
            cJSON_AddNumberToObject(r, "fma_peak_gflops_per_core", peak);
            cJSON_AddNumberToObject(r, "op_percent_of_peak", pct);
        }
        cJSON_AddNumberToObject(r, "op_us", t[0].median_s * 1e6);
        cJSON_AddNumberToObject(r, "op_us_min", t[0].min_s * 1e6);
        cJSON_AddNumberToObject(r, "blis_sgemm_us", t[1].median_s * 1e6);
        if (nb == 3) cJSON_AddNumberToObject(r, "blis_sgemv_gflops", gemv);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "vimo bench: %s\n", vimo_last_error());
    vimo_tensor_free(x);
    vimo_tensor_free(w);
    vimo_tensor_free(b);
    free(c);
    if (dc) dbe->free(dc);
    return rc;
}

static int bench_gemm(vimo_bench_run *run)
{
    long long ms[MAX_DIMS] = {1, 64, 256, 512}, ks[MAX_DIMS] = {768, 3072}, ns[MAX_DIMS] = {768, 3072};
    int nm = 4, nk = 2, nn = 2;
    const char *s;
    /* Sizes are capped so a typo can not ask for gigabytes. */
    if ((s = vimo_cli_opt(run->argc, run->argv, "m")) && (nm = vimo_bench_int_list("m", s, ms, MAX_DIMS, 1, 8192)) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "k")) && (nk = vimo_bench_int_list("k", s, ks, MAX_DIMS, 1, 16384)) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "n")) && (nn = vimo_bench_int_list("n", s, ns, MAX_DIMS, 1, 65536)) < 0)
        return 2;
    int bias = vimo_cli_flag(run->argc, run->argv, "bias"), dev = 0;
    const char *dname = vimo_cli_opt(run->argc, run->argv, "device");
    if (dname && vimo_backend_get(dname, &dev)) {
        fprintf(stderr, "vimo bench gemm: --device %s: %s\n", dname, vimo_last_error());
        return 1;
    }
    vimo_ctx *ctx;
    if (vimo_ctx_new(&ctx)) {
        fprintf(stderr, "vimo bench: %s\n", vimo_last_error());
        return 1;
    }
    vimo_ctx_set_grad(ctx, 0);
    if (dev)
        vimo_bench_printf(run, "y = x @ W^T%s on %s: op = vimo_matmul (no-grad ctx) + sync, %s = the backend's sgemm "
                               "+ sync; GFLOP/s = 2MNK/t\n",
                          bias ? " + b" : "", vimo_device_name(dev), vimo_device_name(dev));
    else
        vimo_bench_printf(run, "y = x @ W^T%s: op = vimo_matmul (no-grad ctx), blis = bli_sgemm; GFLOP/s = 2MNK/t\n",
                          bias ? " + b" : "");
    peak_info pk = {0.0, NULL};
    if (!dev && run->cpu_time) {
        vimo_bench_printf(run, "(no %%peak with --cpu-time: the FMA peak is measured in wall time)\n");
    } else if (!dev) {
        int ran;
        pk.gflops = vimo_bench_fma_peak(run->threads, &pk.isa, &ran);
        if (pk.gflops > 0)
            vimo_bench_printf(run, "fp32 FMA peak measured now: %.1f GFLOP/s per core (%s, %d thread%s at once); "
                                   "%%peak = op per thread / that\n",
                              pk.gflops, pk.isa, ran, ran == 1 ? "" : "s");
    }
    if (dev)
        vimo_bench_printf(run, "%5s %5s %5s %9s %9s %7s %9s %9s\n", "M", "K", "N", "op", "device", "op/dev", "op",
                          "op us");
    else
        vimo_bench_printf(run, "%5s %5s %5s %9s %9s %7s %9s %6s %9s\n", "M", "K", "N", "op", "blis", "op/blis",
                          "op/thread", "%peak", "op us");
    int rc = 0;
    for (int i = 0; i < nm && !rc; i++)
        for (int j = 0; j < nk && !rc; j++)
            for (int l = 0; l < nn && !rc; l++) rc = bench_shape(run, ctx, ms[i], ks[j], ns[l], bias, dev, pk);
    vimo_ctx_free(ctx);
    return rc;
}

VIMO_BENCH(g_bench_gemm, "gemm", "matmul op vs direct BLIS sgemm, GFLOP/s, LLM shapes", bench_gemm)
