/*
 * parallel.c - GOP-parallel sampling (vimo_video_opts.workers > 1): the n
 * sample times of vimo_video_sample_clip are split into contiguous groups
 * that start at different keyframes, and each group is sampled at once by
 * a reader of its own on a thread of its own (contract in vimo/video.h).
 *
 * Each group runs the sequential path of reader.c (vv_sample_range), so the
 * frame that answers a time and its pixels are those of one reader: a group
 * starts with a seek to its first keyframe, where one reader would have
 * seeked too (the next keyframe is ahead of the previous answer), or would
 * have decoded on through that same keyframe; a seek that lands past the
 * target backs off as it does for one reader. tests/video/
 * test_video_workers.c checks the bytes on every shipped clip.
 *
 * Threads are plain pthreads, created and joined within the call, not
 * OpenMP: libgomp's idle threads spin after a region (CPU that a data
 * loader's other work wants, and that would inflate the CPU time the
 * benchmark reports), and a call from inside a caller's parallel region
 * would silently get one thread.
 *
 * Does not: split one keyframe interval between readers (both would decode
 * it from its keyframe: more CPU, no less wall time), keep extra readers
 * between calls (a data loader's clips are cold), or balance
 * preprocessing separately from decoding.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "video_internal.h"
#include "vimo/video.h"

typedef struct group {
    vimo_video *r;          /* the caller's reader (group 0) or its own    */
    const vimo_video *base; /* the caller's reader: path and options       */
    const double *t;        /* all n times; this group does [lo, hi)       */
    int lo, hi, size;
    float *out;
    uint8_t *crops;
    double *t_frame;
    vimo_status st;
    char msg[1024]; /* the thread-local error message, carried home     */
    vimo_video_stats stats; /* an extra reader's counters, at its free  */
    double cpu_ms;  /* this thread's CPU time                           */
    pthread_t tid;
    int started; /* on a thread of its own                              */
    int opened;  /* its own reader opened (stats to merge)              */
} group;

/* Smallest number of contiguous groups whose costs stay <= cap, packing
 * from the left; first[g] (when not NULL) = the first run of group g. */
static int pack(const double *cost, int nruns, double cap, int *first)
{
    int g = 0;
    double sum = 0;
    for (int k = 0; k < nruns; k++) {
        if (k == 0 || sum + cost[k] > cap) {
            if (first) first[g] = k;
            g++;
            sum = 0;
        }
        sum += cost[k];
    }
    return g;
}

/* Runs: maximal stretches of samples decoded from the same keyframe.
 * cost = frames from the keyframe to the run's last sample, plus one per
 * sample for its conversion (about one frame's decode at small sizes).
 * Returns the number of runs, or 0 when the container has no index. */
static int find_runs(const vimo_video *v, const double *t, int n, int *run_start, double *cost)
{
    int nruns = 0;
    double prev_kf = -1;
    for (int i = 0; i < n; i++) {
        double kf, frame;
        if (!vv_keyframe_span(v, t[i], &kf, &frame)) return 0;
        if (nruns == 0 || kf != prev_kf) {
            run_start[nruns] = i;
            cost[nruns++] = 0;
            prev_kf = kf;
        }
        /* i is the run's last sample so far: frames kf..t[i], one per sample */
        cost[nruns - 1] = (t[i] - kf) / frame + 1 + (i - run_start[nruns - 1] + 1);
    }
    return nruns;
}

/* Splits samples 0..n-1 into at most w groups; group g is
 * [start[g], start[g + 1]). Minimises the largest group's cost (bisection
 * over the cap; the cheapest cap then packs into the fewest groups, so no
 * reader is opened that would not shorten the call). Returns the count. */
static int plan_groups(const vimo_video *v, const double *t, int n, int w, int *start)
{
    int *run_start = malloc(sizeof *run_start * (size_t)n), *first = NULL, ng = 1;
    double *cost = malloc(sizeof *cost * (size_t)n);
    int nruns = run_start && cost ? find_runs(v, t, n, run_start, cost) : -1;
    start[0] = 0;
    if (nruns == 0) { /* no index: equal counts */
        ng = w < n ? w : n;
        for (int g = 0; g <= ng; g++) start[g] = (int)((int64_t)g * n / ng);
    } else if (nruns > 1 && (first = malloc(sizeof *first * (size_t)w))) {
        double lo = 0, hi = 0;
        for (int k = 0; k < nruns; k++) {
            hi += cost[k];
            if (cost[k] > lo) lo = cost[k];
        }
        if (pack(cost, nruns, lo, NULL) <= w) hi = lo;
        for (int it = 0; it < 60 && hi - lo > 1e-9 * hi; it++) {
            double mid = 0.5 * (lo + hi);
            if (pack(cost, nruns, mid, NULL) <= w) hi = mid;
            else lo = mid;
        }
        ng = pack(cost, nruns, hi, first);
        for (int g = 0; g < ng; g++) start[g] = run_start[first[g]];
    }
    start[ng] = n; /* out of memory above: one group, the sequential path */
    free(run_start);
    free(cost);
    free(first);
    return ng;
}

/* One group: opens its reader unless it has the caller's, samples its
 * range, and keeps the error message, which lives in this thread. */
static void *run_group(void *arg)
{
    group *g = arg;
    int own = !g->r;
    double c0 = vv_thread_cpu_ms();
    if (own) g->st = vv_open_like(&g->r, g->base);
    if (g->st == VIMO_OK)
        g->st = vv_sample_range(g->r, g->t, g->lo, g->hi, g->size, g->out, g->crops, g->t_frame);
    if (g->st != VIMO_OK) snprintf(g->msg, sizeof g->msg, "%s", vimo_last_error());
    if (own && g->r) { /* freed here, so that its thread's CPU time has the free */
        g->opened = 1;
        vimo_video_get_stats(g->r, &g->stats);
        vimo_video_free(g->r);
        g->r = NULL;
    }
    g->cpu_ms = vv_thread_cpu_ms() - c0;
    return NULL;
}

vimo_status vv_sample_groups(vimo_video *v, const double *t, int n, int size, float *out,
                             uint8_t *crops, double *t_frame)
{
    int start[VIMO_VIDEO_MAX_WORKERS + 1];
    int ng = plan_groups(v, t, n, vv_workers(v), start);
    if (ng <= 1) return vv_sample_range(v, t, 0, n, size, out, crops, t_frame);
    group *g = calloc((size_t)ng, sizeof *g);
    if (!g) return vimo_error(VIMO_ERR_NOMEM, "video: %s: %d sampling groups", vv_path(v), ng);
    for (int k = 0; k < ng; k++)
        g[k] = (group){.r = k ? NULL : v, .base = v, .t = t, .lo = start[k], .hi = start[k + 1],
                       .size = size, .out = out, .crops = crops, .t_frame = t_frame};
    for (int k = 1; k < ng; k++)
        g[k].started = pthread_create(&g[k].tid, NULL, run_group, &g[k]) == 0;
    run_group(&g[0]);
    for (int k = 1; k < ng; k++) {
        if (g[k].started) pthread_join(g[k].tid, NULL);
        else run_group(&g[k]); /* no thread to be had: same result, later */
    }
    double cpu_max = 0;
    for (int k = 1; k < ng; k++) {
        if (g[k].opened) vv_add_stats(v, &g[k].stats);
        if (g[k].cpu_ms > cpu_max) cpu_max = g[k].cpu_ms;
    }
    vv_add_extra_cpu(v, cpu_max);
    /* The lowest failing group: the error one reader would have met first. */
    vimo_status st = VIMO_OK;
    for (int k = 0; k < ng && st == VIMO_OK; k++)
        if (g[k].st != VIMO_OK) st = vimo_error(g[k].st, "%s", g[k].msg);
    free(g);
    return st;
}
