/*
 * cmd_video.c - `vimo video`: inspect a video file, dump the frames the
 * model sees as PNG, time the decode + preprocess path.
 *
 * Does not train or run any model; it only exercises libvimo_video.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "vimo/video.h"

static const char *const k_valued[] = {"n", "size", "out", "repeats", "threads", "workers", NULL};

static int fail(const char *what)
{
    fprintf(stderr, "vimo video: %s%s\n", what ? what : "", vimo_last_error());
    return 1;
}

static int parse_int(int argc, char **argv, const char *name, int def, int lo, int hi, int *out)
{
    const char *s = vimo_cli_opt(argc, argv, name);
    if (!s) {
        *out = def;
        return 0;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "vimo video: --%s %s: expected an integer in %d..%d\n", name, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static const char *count_src_str(vimo_video_count_src s)
{
    return s == VIMO_VIDEO_COUNT_HEADER ? "header" : s == VIMO_VIDEO_COUNT_ESTIMATED ? "estimated"
                                                                                    : "scanned";
}

static int cmd_info(const char *path)
{
    vimo_video *v = NULL;
    vimo_video_info in;
    if (vimo_video_open(&v, path, NULL) != VIMO_OK) return fail(NULL);
    vimo_video_get_info(v, &in);
    printf("file:        %s\n", path);
    printf("container:   %s\n", in.container);
    printf("codec:       %s\n", in.codec);
    printf("size:        %dx%d\n", in.width, in.height);
    printf("fps:         %.4f\n", in.fps);
    printf("duration_s:  %.4f\n", in.duration_s);
    printf("frames:      %lld (%s)\n", (long long)in.frame_count, count_src_str(in.count_src));
    printf("audio:       %s\n", in.has_audio ? "yes" : "no");
    vimo_video_free(v);
    return 0;
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "vimo video: cannot create %s: %s\n", dir, strerror(errno));
    return -1;
}

/* The sampled frames: crops as the model sees them, and optionally the
 * same frames at native resolution. */
static int cmd_frames(int argc, char **argv, const char *path)
{
    int n, size, workers, rc = 1;
    const char *dir = vimo_cli_opt(argc, argv, "out");
    if (!dir) {
        fprintf(stderr, "vimo video frames: --out DIR is required\n");
        return 2;
    }
    if (parse_int(argc, argv, "n", VIMO_VIDEO_DEFAULT_FRAMES, 1, 256, &n) ||
        parse_int(argc, argv, "size", VIMO_VIDEO_DEFAULT_SIZE, 8, 1024, &size) ||
        parse_int(argc, argv, "workers", 1, 1, VIMO_VIDEO_MAX_WORKERS, &workers) || make_dir(dir))
        return 2;
    vimo_video_opts o = {.workers = workers};
    int native = vimo_cli_flag(argc, argv, "native");
    vimo_video *v = NULL;
    vimo_video_info in;
    uint8_t *crops = malloc((size_t)n * size * size * 3), *full = NULL;
    double *t = malloc(sizeof *t * (size_t)n), *tf = malloc(sizeof *tf * (size_t)n);
    char file[4096];
    if (!crops || !t || !tf) {
        fprintf(stderr, "vimo video: out of memory\n");
        goto done;
    }
    if (vimo_video_open(&v, path, &o) != VIMO_OK) {
        fail(NULL);
        goto done;
    }
    vimo_video_get_info(v, &in);
    vimo_video_sample_times(in.duration_s, n, t);
    if (vimo_video_sample_clip(v, n, size, NULL, crops, tf) != VIMO_OK) {
        fail(NULL);
        goto done;
    }
    if (native && !(full = malloc((size_t)in.width * in.height * 3))) goto done;
    for (int i = 0; i < n; i++) {
        snprintf(file, sizeof file, "%s/frame_%02d.png", dir, i);
        if (vimo_video_write_png(file, crops + (size_t)i * size * size * 3, size, size)) {
            fail(NULL);
            goto done;
        }
        printf("%s  t=%.4f s  frame_t=%.4f s\n", file, t[i], tf[i]);
        if (!native) continue;
        snprintf(file, sizeof file, "%s/native_%02d.png", dir, i);
        if (vimo_video_read_rgb(v, t[i], full, NULL) ||
            vimo_video_write_png(file, full, in.width, in.height)) {
            fail(NULL);
            goto done;
        }
        printf("%s\n", file);
    }
    rc = 0;
done:
    vimo_video_free(v);
    free(crops);
    free(full);
    free(t);
    free(tf);
    return rc;
}

static int cmd_time(int argc, char **argv, const char *path)
{
    int n, size, reps, threads, workers;
    if (parse_int(argc, argv, "n", VIMO_VIDEO_DEFAULT_FRAMES, 1, 256, &n) ||
        parse_int(argc, argv, "size", VIMO_VIDEO_DEFAULT_SIZE, 8, 1024, &size) ||
        parse_int(argc, argv, "repeats", 10, 1, 1000, &reps) ||
        parse_int(argc, argv, "workers", 1, 1, VIMO_VIDEO_MAX_WORKERS, &workers) ||
        parse_int(argc, argv, "threads", workers > 1 ? 1 : 2, 1, 64, &threads))
        return 2;
    vimo_video_opts o = {.threads = threads, .workers = workers};
    vimo_video_timing tm;
    if (vimo_video_time_clip(path, n, size, reps, &o, &tm) != VIMO_OK) return fail(NULL);
    printf("%s: n=%d size=%d threads=%d workers=%d (%d used) repeats=%d (medians)\n", path, n,
           size, threads, workers, tm.workers_used, reps);
    printf("  open %.1f ms, sample %.1f ms (decode %.1f, convert %.1f, summed over workers), "
           "total %.1f ms (best %.1f), cpu %.1f ms, critical-path cpu %.1f ms, %lld frames "
           "decoded\n",
           tm.open_ms, tm.sample_ms, tm.decode_ms, tm.convert_ms, tm.total_ms,
           tm.best_total_ms, tm.cpu_ms, tm.critical_cpu_ms, (long long)tm.frames_decoded);
    return 0;
}

static int run(int argc, char **argv)
{
    const char *sub = vimo_cli_pos(argc, argv, k_valued, 0);
    const char *path = vimo_cli_pos(argc, argv, k_valued, 1);
    if (!sub || !path) {
        fprintf(stderr, "usage: vimo video info|frames|time FILE [options] (vimo help video)\n");
        return 2;
    }
    if (strcmp(sub, "info") == 0) return cmd_info(path);
    if (strcmp(sub, "frames") == 0) return cmd_frames(argc, argv, path);
    if (strcmp(sub, "time") == 0) return cmd_time(argc, argv, path);
    fprintf(stderr, "vimo video: unknown subcommand '%s'\n", sub);
    return 2;
}

VIMO_COMMAND(g_cmd_video, "video", "inspect videos, dump sampled frames, time decoding",
             "usage:\n"
             "  vimo video info FILE\n"
             "      container, codec, size, fps, duration, frame count (and where it\n"
             "      comes from: header, estimated = duration*fps, scanned)\n"
             "  vimo video frames FILE --out DIR [--n 8] [--size 224] [--native] [--workers 1]\n"
             "      samples n frames at t_i = (i+0.5)*duration/n (first frame with\n"
             "      timestamp >= t_i), writes the size x size centre crops the model\n"
             "      sees as DIR/frame_XX.png (before CLIP normalisation); --native also\n"
             "      writes the full frames as DIR/native_XX.png; --workers N samples\n"
             "      with N readers at once (GOP-parallel; the same frames)\n"
             "  vimo video time FILE [--n 8] [--size 224] [--repeats 10] [--workers 1]\n"
             "                  [--threads 2, or 1 with --workers > 1]\n"
             "      median wall time of open + decode + preprocess of n frames; cpu =\n"
             "      process CPU time, critical-path cpu = the largest per-thread CPU time",
             run)
