/*
 * bench.h - how a `vimo bench NAME` benchmark registers itself, and the
 * timing helpers they share.
 *
 * A benchmark is a function in any cli/cmd_* or cli/bench_* file, declared
 * with VIMO_BENCH;
 * a constructor adds it to a list before main() runs (as VIMO_COMMAND does
 * for subcommands), so adding `vimo bench motion` never edits cmd_bench.c:
 *
 *     static int bench_motion(vimo_bench_run *run) { ... }
 *     VIMO_BENCH(g_bench_motion, "motion", "BVH parse + FK, frames/s", bench_motion)
 *
 * `vimo bench` owns the common options (--threads, --reps, --warmup,
 * --json), applies the thread count, prints the header (BLIS configuration,
 * threads) and collects results. A benchmark prints its table with
 * vimo_bench_printf (silent under --json) and records each measurement with
 * vimo_bench_result (the JSON rows); it reads its own options from run->argc /
 * run->argv with vimo_cli_opt. It returns 0, or prints
 * "vimo bench NAME: <vimo_last_error()>" to stderr and returns non-zero.
 *
 * Timing: vimo_bench_time runs `warmup` untimed calls, then `reps` samples,
 * each of enough back-to-back calls to last >= 2 ms (timer and clock noise),
 * and reports the median seconds per call. With several bodies it interleaves
 * their samples so a slow phase of a shared machine hits all of them alike.
 * With --cpu-time the clock is the process's CPU time divided by the thread
 * count, which discounts time the process was not running.
 * Not here: statistics beyond the median and min/max, perf counters.
 */
#ifndef VIMO_BENCH_H
#define VIMO_BENCH_H

#include <cjson/cJSON.h>

typedef struct vimo_bench_run {
    const char *name; /* the benchmark being run                          */
    int threads;      /* vimo's thread count during the run               */
    int reps;         /* timed samples per measurement (median reported)  */
    int warmup;       /* untimed calls before timing                      */
    int json;         /* 1: no tables; results printed as JSON at the end */
    int cpu_time;     /* 1: samples use process CPU time / threads        */
    int argc;         /* the whole `vimo bench ...` command line, for     */
    char **argv;      /* benchmark-specific options (vimo_cli_opt)        */
    cJSON *results;   /* array of result objects                          */
} vimo_bench_run;

/* Returns 0 on success. */
typedef int (*vimo_bench_fn)(vimo_bench_run *run);

typedef struct vimo_bench {
    const char *name;  /* "gemm", "attention", ...         */
    const char *brief; /* one line for `vimo bench --list` */
    vimo_bench_fn fn;
    struct vimo_bench *next;
} vimo_bench;

void vimo_bench_register(vimo_bench *b);

#define VIMO_BENCH(ident, name_, brief_, fn_)                                   \
    static vimo_bench ident = {name_, brief_, fn_, 0};                          \
    __attribute__((constructor)) static void ident##_register(void)             \
    {                                                                           \
        vimo_bench_register(&ident);                                            \
    }

/* One timed body: returns 0, or non-zero to abort the measurement (with
 * vimo_last_error() set). */
typedef int (*vimo_bench_body)(void *arg);

typedef struct vimo_bench_timing {
    double median_s; /* median seconds per call */
    double min_s, max_s;
} vimo_bench_timing;

/* Times n bodies (fns[i](args[i])) with interleaved samples; out[i] gets
 * body i's timing. Returns 0, or the first non-zero a body returned. */
int vimo_bench_time(const vimo_bench_run *run, int n, const vimo_bench_body *fns, void *const *args,
                    vimo_bench_timing *out);

/* printf to stdout unless --json. */
void vimo_bench_printf(const vimo_bench_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A new result object {"bench": run->name}, appended to run->results, for
 * the caller to add fields to (cJSON_AddNumberToObject...). NULL on OOM. */
cJSON *vimo_bench_result(vimo_bench_run *run);

/* Parses a comma-separated list of integers in [lo, hi] ("1,64,256") into
 * out[max]; returns the count, or -1 (message on stderr) on a bad list. */
int vimo_bench_int_list(const char *opt, const char *s, long long *out, int max, long long lo, long long hi);

/* Monotonic clock in seconds. */
double vimo_bench_now(void);

/* Uniform floats in [-1, 1) from a fixed seed (benchmark inputs). */
void vimo_bench_fill(float *p, long long n, unsigned long long seed);

/* The fp32 FMA peak per core in GFLOP/s, measured now (bench_peak.c):
 * `threads` threads at once (*ran = how many the OpenMP runtime started),
 * each its best of 5 tries of 12 register-only FMA chains on the widest
 * vector ISA (*isa = "AVX-512", "AVX2" or "none"); 0 when the CPU has
 * neither. About 25-50 ms. */
double vimo_bench_fma_peak(int threads, const char **isa, int *ran);

#endif
