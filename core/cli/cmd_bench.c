/*
 * cmd_bench.c - `vimo bench NAME...`: the benchmark registry, the common
 * options and output, and the timing helpers of bench.h.
 *
 * The benchmarks themselves live in their own files (bench_gemm.c,
 * bench_attention.c, ...) and register with VIMO_BENCH. Not here: any
 * benchmark, pass/fail thresholds (bench/README.md records the targets).
 */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blis.h>
#include <omp.h>

#include "cli.h"
#include "vimo/vimo.h"

#define SAMPLE_MIN_S 0.002 /* each sample lasts at least this long */
#define MAX_REPS 1000

static vimo_bench *g_benches;

void vimo_bench_register(vimo_bench *b)
{
    vimo_bench **p = &g_benches; /* sorted by name: stable --list */
    while (*p && strcmp((*p)->name, b->name) < 0) p = &(*p)->next;
    b->next = *p;
    *p = b;
}

static vimo_bench *find_bench(const char *name)
{
    for (vimo_bench *b = g_benches; b; b = b->next)
        if (strcmp(b->name, name) == 0) return b;
    return NULL;
}

double vimo_bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void vimo_bench_fill(float *p, long long n, unsigned long long seed)
{
    unsigned long long s = seed * 2862933555777941757ull + 3037000493ull;
    for (long long i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
}

void vimo_bench_printf(const vimo_bench_run *run, const char *fmt, ...)
{
    if (run->json) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

cJSON *vimo_bench_result(vimo_bench_run *run)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "bench", run->name);
    cJSON_AddItemToArray(run->results, o);
    return o;
}

int vimo_bench_int_list(const char *opt, const char *s, long long *out, int max, long long lo, long long hi)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || (*end && *end != ',') || v < lo || v > hi || n == max) {
            fprintf(stderr, "vimo bench: --%s %s: expected up to %d integers in [%lld, %lld], comma-separated\n",
                    opt, s, max, lo, hi);
            return -1;
        }
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) fprintf(stderr, "vimo bench: --%s: empty list\n", opt);
    return n ? n : -1;
}

/* The clock samples are taken with: wall time, or with --cpu-time the
 * process's CPU time divided by the thread count. */
static double sample_clock(const vimo_bench_run *run)
{
    if (!run->cpu_time) return vimo_bench_now();
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return ((double)t.tv_sec + 1e-9 * (double)t.tv_nsec) / (double)run->threads;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int vimo_bench_time(const vimo_bench_run *run, int n, const vimo_bench_body *fns, void *const *args,
                    vimo_bench_timing *out)
{
    int reps = run->reps, rc = 0;
    double *samples = calloc((size_t)n * (size_t)reps, sizeof *samples);
    long *inner = calloc((size_t)n, sizeof *inner);
    if (!samples || !inner) {
        rc = vimo_error(VIMO_ERR_NOMEM, "bench: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        for (int w = 0; w < run->warmup; w++)
            if ((rc = fns[i](args[i]))) goto done;
        /* Calls per sample: enough to last SAMPLE_MIN_S. */
        double t0 = sample_clock(run);
        if ((rc = fns[i](args[i]))) goto done;
        double t = sample_clock(run) - t0;
        inner[i] = t >= SAMPLE_MIN_S ? 1 : (long)(SAMPLE_MIN_S / (t > 1e-9 ? t : 1e-9)) + 1;
        if (inner[i] > 100000) inner[i] = 100000;
    }
    for (int r = 0; r < reps; r++)
        for (int s = 0; s < n; s++) {
            int i = r % 2 ? n - 1 - s : s; /* alternate the order: no body always runs after another */
            double t0 = sample_clock(run);
            for (long j = 0; j < inner[i]; j++)
                if ((rc = fns[i](args[i]))) goto done;
            samples[(size_t)i * (size_t)reps + (size_t)r] = (sample_clock(run) - t0) / (double)inner[i];
        }
    for (int i = 0; i < n; i++) {
        double *v = samples + (size_t)i * (size_t)reps;
        qsort(v, (size_t)reps, sizeof *v, cmp_double);
        out[i].median_s = reps % 2 ? v[reps / 2] : 0.5 * (v[reps / 2 - 1] + v[reps / 2]);
        out[i].min_s = v[0];
        out[i].max_s = v[reps - 1];
    }
done:
    free(samples);
    free(inner);
    return rc;
}

static void list_benches(FILE *f)
{
    fprintf(f, "benchmarks:\n");
    for (vimo_bench *b = g_benches; b; b = b->next) fprintf(f, "  %-12s %s\n", b->name, b->brief);
}

/* A positive integer option in [lo, hi], or def when absent. -1 on error. */
static int int_opt(int argc, char **argv, const char *name, int def, int lo, int hi)
{
    const char *s = vimo_cli_opt(argc, argv, name);
    if (!s) return def;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "vimo bench: --%s %s: expected an integer in [%d, %d]\n", name, s, lo, hi);
        return -1;
    }
    return (int)v;
}

/* The 1-minute load average: a busy machine makes timings meaningless
 * (threads wait at barriers for a descheduled partner), so it is printed. */
static double load_avg(void)
{
    double l = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1.0;
        fclose(f);
    }
    return l;
}

static cJSON *header_json(const vimo_bench_run *run)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "vimo", vimo_version());
    cJSON_AddStringToObject(root, "blis_arch", vimo_gemm_arch());
    cJSON_AddStringToObject(root, "blis_arch_requested", vimo_gemm_arch_requested());
    cJSON_AddStringToObject(root, "blis_arch_source", vimo_gemm_arch_source());
    cJSON_AddStringToObject(root, "blis_version", bli_info_get_version_str());
    cJSON_AddStringToObject(root, "small_m_kernel", vimo_gemm_small_kernel());
    cJSON_AddNumberToObject(root, "threads", run->threads);
    cJSON_AddNumberToObject(root, "blis_threads", (double)bli_thread_get_num_threads());
    cJSON_AddNumberToObject(root, "reps", run->reps);
    cJSON_AddNumberToObject(root, "warmup", run->warmup);
    cJSON_AddNumberToObject(root, "load_avg_1min", load_avg());
    cJSON_AddStringToObject(root, "clock", run->cpu_time ? "process_cpu_time/threads" : "wall");
    cJSON_AddNumberToObject(root, "cores", omp_get_num_procs());
    return root;
}

static int cmd_bench(int argc, char **argv)
{
    if (vimo_cli_flag(argc, argv, "list")) {
        list_benches(stdout);
        return 0;
    }
    /* Benchmark names: the arguments before the first option. */
    int names = 0;
    while (1 + names < argc && strncmp(argv[1 + names], "--", 2) != 0) names++;
    if (names == 0) {
        fprintf(stderr, "vimo bench: name a benchmark (or `all`)\n");
        list_benches(stderr);
        return 2;
    }
    for (int i = 0; i < names; i++)
        if (strcmp(argv[1 + i], "all") != 0 && !find_bench(argv[1 + i])) {
            fprintf(stderr, "vimo bench: unknown benchmark '%s' (see vimo bench --list)\n", argv[1 + i]);
            return 2;
        }
    int threads = int_opt(argc, argv, "threads", 0, 1, 512);
    int reps = int_opt(argc, argv, "reps", 11, 1, MAX_REPS);
    int warmup = int_opt(argc, argv, "warmup", 3, 0, MAX_REPS);
    if (threads < 0 || reps < 0 || warmup < 0) return 2;
    if (threads > 0) vimo_set_num_threads(threads);

    vimo_bench_run run = {.threads = vimo_get_num_threads(),
                          .reps = reps,
                          .warmup = warmup,
                          .json = vimo_cli_flag(argc, argv, "json"),
                          .cpu_time = vimo_cli_flag(argc, argv, "cpu-time"),
                          .argc = argc,
                          .argv = argv,
                          .results = cJSON_CreateArray()};
    cJSON *root = header_json(&run);
    if (!run.results || !root) {
        fprintf(stderr, "vimo bench: out of memory\n");
        cJSON_Delete(run.results);
        cJSON_Delete(root);
        return 1;
    }
    vimo_bench_printf(&run, "vimo %s: BLIS %s, config %s (asked for %s by %s), small-M kernel %s, %d threads "
                            "(BLIS %d), median of %d after %d warm-up\n",
                      vimo_version(), bli_info_get_version_str(), vimo_gemm_arch(), vimo_gemm_arch_requested(),
                      vimo_gemm_arch_source(), vimo_gemm_small_kernel(), run.threads,
                      (int)bli_thread_get_num_threads(), reps, warmup);
    double load = load_avg();
    vimo_bench_printf(&run, "load average %.2f on %d cores%s\n", load, omp_get_num_procs(),
                      load > 0.5 ? ": other work is running, timings will be low and noisy" : "");
    if (run.cpu_time)
        vimo_bench_printf(&run, "clock: process CPU time / %d threads (an estimate of the unloaded speed; exact "
                                "only for 1 thread)\n",
                          run.threads);
    int rc = 0;
    for (int i = 0; i < names && rc == 0; i++) {
        int all = strcmp(argv[1 + i], "all") == 0;
        for (vimo_bench *b = all ? g_benches : find_bench(argv[1 + i]); b && rc == 0; b = all ? b->next : NULL) {
            run.name = b->name;
            vimo_bench_printf(&run, "\n== %s: %s\n", b->name, b->brief);
            rc = b->fn(&run);
        }
    }
    cJSON_AddItemToObject(root, "results", run.results);
    if (run.json && rc == 0) {
        char *s = cJSON_Print(root);
        if (s) puts(s);
        free(s);
    }
    cJSON_Delete(root);
    return rc;
}

VIMO_COMMAND(g_cmd_bench, "bench", "measure kernels and pipelines (gemm, attention, ...)",
             "usage: vimo bench NAME... [--threads N] [--reps N] [--warmup N] [--json] [--cpu-time]\n"
             "       vimo bench --list\n"
             "\n"
             "Runs the named benchmarks (`all` = every one) and prints a table for each,\n"
             "or one JSON object with --json. Times are medians of N samples, each sample\n"
             "at least 2 ms of back-to-back calls, after the warm-up calls.\n"
             "\n"
             "  --threads N  threads for vimo's kernels and BLIS (default: VIMO_NUM_THREADS,\n"
             "               OMP_NUM_THREADS, else all cores)\n"
             "  --reps N     timed samples (default 11)\n"
             "  --warmup N   untimed calls first (default 3)\n"
             "  --json       machine-readable output\n"
             "  --cpu-time   time with process CPU time / threads instead of wall time:\n"
             "               estimates the unloaded speed on a shared machine (exact for\n"
             "               one thread; spinning threads count as busy)\n"
             "  --list       list the benchmarks\n"
             "\n"
             "gemm:      --m LIST --k LIST --n LIST (default 1,64,256,512 / 768,3072 /\n"
             "           768,3072), --bias (matmul with a bias vector)\n"
             "attention: --t LIST (default 256,1024), --heads N (8), --head-dim N (64)\n"
             "decode:    --tokens N, --model PATH, --decode-threads LIST (default 1,2):\n"
             "           llm.llama's engine vs a naive llama2.c forward, tokens/s\n"
             "motion:    BVH parse + FK + features frames/s, motion encoders fwd/bwd\n"
             "video:     decode + preprocess of 8 frames, video encoders frames/s\n"
             "See bench/README.md for what each benchmark measures.",
             cmd_bench)
