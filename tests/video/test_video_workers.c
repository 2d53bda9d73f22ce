/*
 * test_video_workers.c - GOP-parallel sampling (vimo_video_opts.workers):
 *  - with 2 and 3 workers, vimo_video_sample_clip returns bit for bit the
 *    tensor, crops and frame timestamps of 1 worker, on every clip under
 *    the shared data's video/ folder, on a clip the ffmpeg CLI makes with a
 *    keyframe every 0.5 s and B-frames (many groups, samples past the last
 *    frame, more samples than frames), on a clip rendered by vimo, and on
 *    demo.mp4 stream-copied to MPEG-TS (no index: equal-count groups);
 *  - the split really happens where it should (demo.mp4: 2 groups);
 *  - a truncated clip whose later group fails (in a worker thread) and one
 *    whose first group fails report W = 1's status and message, naming the
 *    file, on the calling thread; the reader stays usable;
 *  - option limits, and vimo_video_time_clip's workers_used.
 * Runs under the ASan build in CI (threads, extra readers, error paths).
 * Skips (77) without the shared data or the ffmpeg CLI.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common.h"
#include "vimo/render.h"
#include "vimo/video.h"

#define S 224 /* the model's input size */
#define MAX_CLIPS 64

static char g_dir[4096];

/* What one sample_clip call returned. */
typedef struct result {
    vimo_status st;
    char msg[1024];
    float *out;
    uint8_t *crops;
    double *tf;
    vimo_video_stats stats;
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->crops);
    free(r->tf);
}

/* Opens path with `workers` (other options default) and samples n frames. */
static result sample(const char *path, int n, int workers)
{
    vimo_video_opts o = {.workers = workers};
    size_t plane = (size_t)3 * S * S;
    result r = {.out = malloc(sizeof(float) * n * plane), .crops = malloc((size_t)n * plane),
                .tf = malloc(sizeof(double) * n)};
    assert_true(r.out && r.crops && r.tf);
    vimo_video *v = NULL;
    r.st = vimo_video_open(&v, path, &o);
    if (r.st == VIMO_OK) r.st = vimo_video_sample_clip(v, n, S, r.out, r.crops, r.tf);
    if (r.st != VIMO_OK) snprintf(r.msg, sizeof r.msg, "%s", vimo_last_error());
    if (v) assert_int_equal(vimo_video_get_stats(v, &r.stats), VIMO_OK);
    vimo_video_free(v);
    return r;
}

/* W = 2 and 3 against W = 1; returns the groups W = 3 used. */
static int check_identical(const char *path, const char *name, int n)
{
    result ref = sample(path, n, 1);
    if (ref.st) fprintf(stderr, "%s\n", ref.msg);
    assert_int_equal(ref.st, VIMO_OK);
    assert_int_equal(ref.stats.extra_readers, 0);
    int groups = 1;
    for (int w = 2; w <= 3; w++) {
        result r = sample(path, n, w);
        if (r.st) fprintf(stderr, "%s\n", r.msg);
        assert_int_equal(r.st, VIMO_OK);
        size_t plane = (size_t)3 * S * S;
        int same = memcmp(ref.out, r.out, sizeof(float) * n * plane) == 0 &&
                   memcmp(ref.crops, r.crops, (size_t)n * plane) == 0 &&
                   memcmp(ref.tf, r.tf, sizeof(double) * n) == 0;
        printf("  %-44.44s n=%2d W=%d: %d group(s), %3lld frames decoded (W=1: %3lld): %s\n",
               name, n, w, (int)r.stats.extra_readers + 1, (long long)r.stats.frames_decoded,
               (long long)ref.stats.frames_decoded, same ? "identical" : "DIFFERENT");
        assert_true(same);
        assert_true(r.stats.extra_readers + 1 <= w);
        if (w == 3) groups = (int)r.stats.extra_readers + 1;
        result_free(&r);
    }
    result_free(&ref);
    return groups;
}

static int is_video_name(const char *name)
{
    static const char *const ext[] = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".ts"};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (strcasecmp(dot, ext[i]) == 0) return 1;
    return 0;
}

/* Every video file below dir, two levels deep (the data's layout). */
static void find_clips(const char *dir, int depth, char **out, int *n)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) && *n < MAX_CLIPS) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode) && depth < 3) find_clips(path, depth + 1, out, n);
        else if (S_ISREG(sb.st_mode) && is_video_name(e->d_name)) out[(*n)++] = strdup(path);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_shipped_clips(void **state)
{
    (void)state;
    char *clips[MAX_CLIPS];
    int n = 0;
    char root[4096];
    snprintf(root, sizeof root, "%s", data_path("video"));
    find_clips(root, 0, clips, &n);
    qsort(clips, (size_t)n, sizeof *clips, cmp_str);
    assert_true(n >= 2);
    for (int i = 0; i < n; i++) {
        const char *rel = clips[i] + strlen(root) + 1;
        int groups = check_identical(clips[i], rel, 8);
        /* keyframes at 0, 6.68, 8.21, 9.57 s: samples 0-4 | 5-7 */
        if (strcmp(rel, "mmaction2/demo.mp4") == 0) assert_int_equal(groups, 2);
        free(clips[i]);
    }
    printf("  %d clips\n", n);
}

static void make_clip(const char *args, const char *name, char *path, size_t cap)
{
    char cmd[9000];
    snprintf(path, cap, "%s/%s", g_dir, name);
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -y %s '%s'", args, path);
    assert_int_equal(system(cmd), 0);
}

/* 3 s at 10 fps, a keyframe every 5 frames, 3 B-frames: 6 keyframe
 * intervals; n = 8 puts the last sample after the last frame (2.9 s),
 * n = 64 asks for more frames than there are (duplicates). */
static void test_short_gop(void **state)
{
    (void)state;
    char path[4200];
    make_clip("-f lavfi -i testsrc=size=160x120:rate=10:duration=3 -c:v libx264 -bf 3 -g 5 "
              "-keyint_min 5 -sc_threshold 0 -pix_fmt yuv420p", "gop.mp4", path, sizeof path);
    assert_int_equal(check_identical(path, "gop.mp4 (testsrc, keyframe every 0.5 s)", 8), 3);
    assert_int_equal(check_identical(path, "gop.mp4", 24), 3);
    check_identical(path, "gop.mp4", 64);
}

/* demo.mp4 in MPEG-TS: no index on open, so equal counts of samples. */
static void test_no_index(void **state)
{
    (void)state;
    char path[4200], args[4600];
    snprintf(args, sizeof args, "-i '%s' -c copy", data_path("video/mmaction2/demo.mp4"));
    make_clip(args, "demo.ts", path, sizeof path);
    assert_int_equal(check_identical(path, "demo.ts (MPEG-TS copy of demo.mp4)", 8), 3);
}

/* A swinging 2-bone arm, 4 s at 30 fps, rendered by vimo (a keyframe every
 * second: the writer's GOP). */
static void test_rendered(void **state)
{
    (void)state;
    const int T = 120;
    const int parents[3] = {-1, 0, 1};
    float *j = synthetic_arm(T);
    assert_non_null(j);
    char path[4200];
    snprintf(path, sizeof path, "%s/arm.mp4", g_dir);
    assert_int_equal(vimo_render_mp4(j, T, 3, parents, 30.0, NULL, path), VIMO_OK);
    free(j);
    assert_true(check_identical(path, "arm.mp4 (vimo render, keyframe every 1 s)", 8) >= 2);
}

/* demo.mp4 with its index moved first (so cut copies still open), cut
 * after about 85 % (the last group's frames are missing: a worker thread
 * fails) and 35 % (the first group fails too). Every W gives W = 1's
 * status and message, naming the file; the reader stays usable. */
static void test_truncated(void **state)
{
    (void)state;
    char full[4200], args[4600];
    snprintf(args, sizeof args, "-i '%s' -c copy -movflags +faststart",
             data_path("video/mmaction2/demo.mp4"));
    make_clip(args, "demo_fast.mp4", full, sizeof full);
    size_t len;
    uint8_t *data = read_file(full, 16u << 20, &len);
    assert_true(data && len > 100000);
    const double cuts[2] = {0.85, 0.35};
    for (int c = 0; c < 2; c++) {
        char name[64], path[4200];
        snprintf(name, sizeof name, "cut_%02d.mp4", (int)(cuts[c] * 100));
        snprintf(path, sizeof path, "%s/%s", g_dir, name);
        assert_int_equal(write_file(path, data, (size_t)(len * cuts[c])), 0);
        result ref = sample(path, 8, 1);
        printf("  %s W=1: %s: %s\n", name, vimo_status_str(ref.st), ref.msg);
        assert_int_not_equal(ref.st, VIMO_OK);
        assert_non_null(strstr(ref.msg, name));
        for (int w = 2; w <= 3; w++) {
            vimo_video_opts o = {.workers = w};
            vimo_video *v = NULL;
            vimo_error_clear();
            assert_int_equal(vimo_video_open(&v, path, &o), VIMO_OK);
            vimo_status st = vimo_video_sample_clip(v, 8, S, ref.out, ref.crops, ref.tf);
            printf("  %s W=%d: %s: %s\n", name, w, vimo_status_str(st), vimo_last_error());
            assert_int_equal(st, ref.st);
            assert_string_equal(vimo_last_error(), ref.msg);
            vimo_video_stats s;
            vimo_video_get_stats(v, &s);
            assert_int_equal(s.extra_readers, 1); /* demo's 2 groups */
            uint8_t *rgb = malloc((size_t)340 * 256 * 3);
            double tf;
            assert_int_equal(vimo_video_read_rgb(v, 0.5, rgb, &tf), VIMO_OK);
            free(rgb);
            vimo_video_free(v);
        }
        result_free(&ref);
    }
    free(data);
}

static void test_options(void **state)
{
    (void)state;
    const char *demo = data_path("video/mmaction2/demo.mp4");
    vimo_video *v = NULL;
    vimo_video_opts o = {.workers = VIMO_VIDEO_MAX_WORKERS + 1};
    assert_int_equal(vimo_video_open(&v, demo, &o), VIMO_ERR_INVALID);
    assert_null(v);
    assert_non_null(strstr(vimo_last_error(), "workers"));
    /* one sample: nothing to split */
    o.workers = VIMO_VIDEO_MAX_WORKERS;
    assert_int_equal(vimo_video_open(&v, demo, &o), VIMO_OK);
    float f[3 * 16 * 16];
    vimo_video_stats s;
    assert_int_equal(vimo_video_sample_clip(v, 1, 16, f, NULL, NULL), VIMO_OK);
    assert_int_equal(vimo_video_get_stats(v, &s), VIMO_OK);
    assert_int_equal(s.extra_readers, 0);
    /* a second call on the same reader, after group 0 left it mid-clip */
    float *out = malloc(sizeof *out * 8 * 3 * 16 * 16);
    assert_int_equal(vimo_video_sample_clip(v, 8, 16, out, NULL, NULL), VIMO_OK);
    assert_int_equal(vimo_video_sample_clip(v, 8, 16, out, NULL, NULL), VIMO_OK);
    assert_int_equal(vimo_video_get_stats(v, &s), VIMO_OK);
    assert_int_equal(s.extra_readers, 2);
    free(out);
    vimo_video_free(v);
    /* the timing helper reports the groups it used */
    vimo_video_timing tm;
    o = (vimo_video_opts){.threads = 1, .workers = 2};
    assert_int_equal(vimo_video_time_clip(demo, 8, 112, 1, &o, &tm), VIMO_OK);
    assert_int_equal(tm.workers_used, 2);
    o.workers = 1;
    assert_int_equal(vimo_video_time_clip(demo, 8, 112, 1, &o, &tm), VIMO_OK);
    assert_int_equal(tm.workers_used, 1);
}

int main(void)
{
    if (!have_data() || !have_ffmpeg()) {
        fprintf(stderr, "skipped: needs %s and the ffmpeg CLI\n", data_path("video"));
        return SKIP_CODE;
    }
    const char *dir = make_scratch_dir("workers");
    if (!dir) return 1;
    snprintf(g_dir, sizeof g_dir, "%s", dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_clips), cmocka_unit_test(test_short_gop),
        cmocka_unit_test(test_no_index),      cmocka_unit_test(test_rendered),
        cmocka_unit_test(test_truncated),     cmocka_unit_test(test_options),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rm_rf(g_dir);
    return rc;
}
