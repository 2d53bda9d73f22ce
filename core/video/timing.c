/*
 * timing.c - cold-start timing of open + sample + preprocess, the figure
 * `vimo bench video` reports.
 *
 * Does not warm caches on purpose beyond what the OS page cache does: every
 * repeat opens the file anew, as a data loader would.
 */
#include <stdlib.h>
#include <time.h>

#include "video_internal.h"
#include "vimo/video.h"

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

vimo_status vimo_video_time_clip(const char *path, int n, int size, int repeats,
                                 const vimo_video_opts *opts, vimo_video_timing *timing)
{
    if (!path || !timing || repeats < 1 || repeats > 1000 || n < 1 ||
        n > VIMO_VIDEO_MAX_SAMPLES || size < 1 || size > VIMO_VIDEO_MAX_OUT_SIZE)
        return vimo_error(VIMO_ERR_INVALID, "video_time_clip: bad arguments (n=%d size=%d "
                          "repeats=%d)", n, size, repeats);
    vimo_status st = VIMO_OK;
    vimo_video *v = NULL;
    /* open, sample, total, decode, convert, cpu, critical cpu */
    double *m = calloc((size_t)repeats * 7, sizeof *m);
    float *out = malloc(sizeof *out * (size_t)n * 3 * size * size);
    if (!m || !out) {
        st = vimo_error(VIMO_ERR_NOMEM, "video_time_clip: buffers");
        goto fail;
    }
    for (int r = 0; r < repeats; r++) {
        vimo_video_stats s;
        double c0 = cpu_ms(), tc0 = vv_thread_cpu_ms(), t0 = vv_now_ms();
        VIMO_TRY(vimo_video_open(&v, path, opts));
        double t1 = vv_now_ms();
        VIMO_TRY(vimo_video_sample_clip(v, n, size, out, NULL, NULL));
        double t2 = vv_now_ms();
        vimo_video_get_stats(v, &s);
        vimo_video_free(v);
        v = NULL;
        double t3 = vv_now_ms(), c3 = cpu_ms(), tc3 = vv_thread_cpu_ms();
        m[r] = t1 - t0;
        m[repeats + r] = t2 - t1;
        m[2 * repeats + r] = t3 - t0;
        m[3 * repeats + r] = s.decode_ms;
        m[4 * repeats + r] = s.convert_ms;
        m[5 * repeats + r] = c3 - c0;
        /* The calling thread ran open, group 0 and free; each extra group
         * ran on a thread of its own: the longest of them is the path. */
        m[6 * repeats + r] = tc3 - tc0 > s.extra_cpu_ms ? tc3 - tc0 : s.extra_cpu_ms;
        timing->frames_decoded = s.frames_decoded;
        timing->workers_used = (int)s.extra_readers + 1; /* a fresh reader: this call's */
    }
    timing->open_ms = median(m, repeats);
    timing->sample_ms = median(m + repeats, repeats);
    timing->total_ms = median(m + 2 * repeats, repeats); /* sorts: [0] is the best */
    timing->best_total_ms = m[2 * repeats];
    timing->decode_ms = median(m + 3 * repeats, repeats);
    timing->convert_ms = median(m + 4 * repeats, repeats);
    timing->cpu_ms = median(m + 5 * repeats, repeats);
    timing->critical_cpu_ms = median(m + 6 * repeats, repeats);
fail:
    vimo_video_free(v);
    free(m);
    free(out);
    return st;
}
