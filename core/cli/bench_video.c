/*
 * bench_video.c - `vimo bench video`: how fast clips become model input, and
 * how fast the video encoders consume it.
 *
 * Decode + preprocess (vimo_video_time_clip, video.h): each run opens the
 * file, samples N = 8 frames uniformly, applies the CLIP transform
 * (short side to S, centre crop S x S, normalise) and frees the reader, i.e.
 * a cold clip as a data loader sees it. Clips: every video file under
 * --data DIR (default <source>/data/video), plus one clip rendered by
 * vimo_render_mp4 into a temporary folder from the HumanML3D joints of
 * --motion FILE (default <source>/data/motion/humanml3d/new_joints/012314.npy),
 * which has a keyframe every second (the writer's GOP). Each clip at every S
 * of --sizes (224,112), decoder thread count of --dec-threads (1,2) and
 * GOP-parallel worker count of --workers (1,2: vimo_video_opts.workers; a
 * row with workers > 1 and workers x threads over the online cores is
 * skipped, as video.h's thread rule says). Reported: median wall ms per
 * clip (and the best run), its process CPU ms, its critical-path CPU ms
 * (the largest per-thread CPU time: with 1 decoder thread, the wall time
 * when every worker has an idle core), the groups used, the decode /
 * convert split (summed over workers), output frames/s = 8 / median, and
 * the target of issue 6: <= 50 ms wall per 8-frame clip of a shipped clip.
 *
 * Encoders: encoder.video_cnn and encoder.video_vit (when its plugin loads)
 * with default options except the frame size: x (B * F, 3, S, S),
 * B = 8 clips x F = 8 frames, uniform random values in [-1, 1) (the speed
 * does not depend on them), eval-mode forward on a no-grad context, at each
 * S and each vimo_set_num_threads count of --enc-threads (1,2). The ViT
 * takes image_size = S and patch = S / 7, so every frame is the 7 x 7 grid
 * of the default ViT-B/32 at 224 (at 112 it is a ViT-B/16).
 * frames/s = B * F / median forward time.
 *
 * Repetitions: --reps N and --warmup N as for every benchmark, but when
 * they are not given this benchmark uses 5 runs after 1 warm-up for
 * decoding, and for the encoders 1 warm-up and up to 3 runs per row
 * (encoder, S, threads), stopping once a row's runs have taken 4 s (a ViT
 * forward of 64 frames takes seconds on 2 cores), so that a default run on
 * the idle 2-core box takes about a minute (the ViT's 8 or more forwards
 * are most of it); an explicit --reps N always takes N. Other options:
 * --sizes LIST, --dec-threads LIST, --workers LIST, --enc-threads LIST, --encoders
 * video_cnn,video_vit, --skip-decode, --skip-encoders, --skip-render.
 * Not here: the backward pass of the encoders, batching of clips across
 * reader threads (a data loader's parallelism), GPU decoding.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "vimo/encoder.h"
#include "vimo/humanml3d.h"
#include "vimo/npy.h"
#include "vimo/render.h"
#include "vimo/video.h"
#include "vimo/vimo.h"

#ifndef VIMO_SOURCE_DIR
#define VIMO_SOURCE_DIR "."
#endif

#define NFRAMES 8         /* frames per clip, the model's default N */
#define TARGET_MS 50.0    /* issue 6: decode + preprocess of 8 frames */
#define MAX_FILES 256     /* a folder with more is not the shipped data */
#define MAX_DEPTH 4
#define MAX_LIST 8
#define CLIPS_PER_BATCH 8 /* B */
#define ROW_BUDGET_S 4.0  /* encoder rows stop sampling after this, unless --reps */

/* ---- options ------------------------------------------------------------------- */

typedef struct {
    long long sizes[MAX_LIST], dec_threads[MAX_LIST], workers[MAX_LIST], enc_threads[MAX_LIST];
    int nsizes, ndec, nwork, nenc;
    long cores; /* online CPUs, for the thread rule */
    int dec_reps, dec_warmup, enc_reps, enc_warmup;
    int enc_reps_given; /* 1: --reps given, no time budget per encoder row */
} video_opts;

/* --reps / --warmup as given, else this benchmark's own default. */
static int reps_or(const vimo_bench_run *run, const char *name, int given, int def)
{
    return vimo_cli_opt(run->argc, run->argv, name) ? given : def;
}

static int parse_opts(const vimo_bench_run *run, video_opts *o)
{
    *o = (video_opts){.sizes = {224, 112}, .dec_threads = {1, 2}, .workers = {1, 2},
                      .enc_threads = {1, 2}, .nsizes = 2, .ndec = 2, .nwork = 2, .nenc = 2,
                      .cores = sysconf(_SC_NPROCESSORS_ONLN)};
    const char *s;
    if ((s = vimo_cli_opt(run->argc, run->argv, "sizes")) &&
        (o->nsizes = vimo_bench_int_list("sizes", s, o->sizes, MAX_LIST, 16, 1024)) < 0)
        return -1;
    if ((s = vimo_cli_opt(run->argc, run->argv, "dec-threads")) &&
        (o->ndec = vimo_bench_int_list("dec-threads", s, o->dec_threads, MAX_LIST, 1, 64)) < 0)
        return -1;
    if ((s = vimo_cli_opt(run->argc, run->argv, "workers")) &&
        (o->nwork = vimo_bench_int_list("workers", s, o->workers, MAX_LIST, 1, VIMO_VIDEO_MAX_WORKERS)) < 0)
        return -1;
    if ((s = vimo_cli_opt(run->argc, run->argv, "enc-threads")) &&
        (o->nenc = vimo_bench_int_list("enc-threads", s, o->enc_threads, MAX_LIST, 1, 512)) < 0)
        return -1;
    if ((s = vimo_cli_opt(run->argc, run->argv, "encoders")) && !strstr(s, "video_cnn") && !strstr(s, "video_vit")) {
        fprintf(stderr, "vimo bench: --encoders %s: expected video_cnn and/or video_vit\n", s);
        return -1;
    }
    o->dec_reps = reps_or(run, "reps", run->reps, 5);
    o->dec_warmup = reps_or(run, "warmup", run->warmup, 1);
    o->enc_reps = reps_or(run, "reps", run->reps, 3);
    o->enc_reps_given = vimo_cli_opt(run->argc, run->argv, "reps") != NULL;
    o->enc_warmup = reps_or(run, "warmup", run->warmup, 1);
    return 0;
}

/* ---- the clips ----------------------------------------------------------------- */

typedef struct {
    char **v;
    int n, cap;
} strlist;

static void strlist_free(strlist *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    *l = (strlist){0};
}

static int push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    return (l->v[l->n] = strdup(s)) ? (l->n++, 0) : -1;
}

static int is_video_name(const char *name)
{
    static const char *const ext[] = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".ts"};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (strcasecmp(dot, ext[i]) == 0) return 1;
    return 0;
}

/* Every video file below dir (depth- and count-capped). */
static vimo_status find_videos(const char *dir, int depth, strlist *out)
{
    DIR *d = opendir(dir);
    if (!d) return depth ? VIMO_OK : vimo_error(VIMO_ERR_NOT_FOUND, "video: %s: not a readable folder", dir);
    struct dirent *e;
    vimo_status st = VIMO_OK;
    char path[4096];
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode) && depth < MAX_DEPTH) st = find_videos(path, depth + 1, out);
        else if (S_ISREG(sb.st_mode) && is_video_name(e->d_name)) {
            if (out->n >= MAX_FILES)
                st = vimo_error(VIMO_ERR_INVALID, "video: over %d video files under %s", MAX_FILES, dir);
            else if (push(out, path)) st = vimo_error(VIMO_ERR_NOMEM, "video: out of memory");
        }
    }
    closedir(d);
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* path without the source folder prefix, for the table. */
static const char *show_path(const char *p)
{
    size_t n = strlen(VIMO_SOURCE_DIR);
    return strncmp(p, VIMO_SOURCE_DIR, n) == 0 && p[n] == '/' ? p + n + 1 : p;
}

/* Renders the HumanML3D joints (T, 22, 3) of `motion` at 20 fps, 256 x 256,
 * front view (vimo render's defaults) to dir/render.mp4. */
static vimo_status render_clip(vimo_bench_run *run, const char *motion, const char *dir, char *out, size_t cap)
{
    vimo_npy a;
    vimo_status st = vimo_npy_load(motion, &a);
    if (st) return st;
    if (a.ndim != 3 || a.shape[0] < 2 || a.shape[0] > 100000 || a.shape[1] != VIMO_HML3D_JOINTS || a.shape[2] != 3) {
        vimo_npy_free(&a);
        return vimo_error(VIMO_ERR_SHAPE, "video: %s: expected HumanML3D joints (T, 22, 3)", motion);
    }
    snprintf(out, cap, "%s/render.mp4", dir);
    vimo_render_opts o;
    vimo_render_opts_default(&o);
    double t0 = vimo_bench_now();
    st = vimo_render_mp4(a.data, (int)a.shape[0], VIMO_HML3D_JOINTS, vimo_hml3d_parents(), VIMO_HML3D_FPS, &o, out);
    if (!st)
        vimo_bench_printf(run, "rendered %s: %lld frames at %d fps, %dx%d, in %.2f s\n", show_path(motion),
                          (long long)a.shape[0], VIMO_HML3D_FPS, o.width, o.height, vimo_bench_now() - t0);
    vimo_npy_free(&a);
    return st;
}

/* ---- decode + preprocess ------------------------------------------------------- */

/* A JSON result for a decode row, with the keys every such row has (or NULL
 * when the run collects none). */
static cJSON *decode_result(vimo_bench_run *run, const char *path, int size, int threads, int workers)
{
    cJSON *r = vimo_bench_result(run);
    if (r) {
        cJSON_AddStringToObject(r, "part", "decode");
        cJSON_AddStringToObject(r, "clip", base_name(path));
        cJSON_AddNumberToObject(r, "size", size);
        cJSON_AddNumberToObject(r, "decoder_threads", threads);
        cJSON_AddNumberToObject(r, "workers", workers);
    }
    return r;
}

/* A row the thread rule (video.h) rules out: more threads than cores. */
static void skipped_row(vimo_bench_run *run, const video_opts *o, const char *path, int size, int threads,
                        int workers)
{
    char why[128];
    snprintf(why, sizeof why, "%d workers x %d decoder threads > %ld cores", workers, threads, o->cores);
    vimo_bench_printf(run, "  %4d %3d %3d  skipped: %s\n", size, threads, workers, why);
    cJSON *r = decode_result(run, path, size, threads, workers);
    if (r) cJSON_AddStringToObject(r, "skipped", why);
}

static vimo_status decode_row(vimo_bench_run *run, const video_opts *o, const char *path,
                              const vimo_video_info *in, int shipped, int size, int threads, int workers)
{
    if (workers > 1 && o->cores > 0 && (long)workers * threads > o->cores) {
        skipped_row(run, o, path, size, threads, workers);
        return VIMO_OK;
    }
    vimo_video_opts vo = {.threads = threads, .workers = workers};
    vimo_video_timing t;
    vimo_status st;
    if (o->dec_warmup > 0 && (st = vimo_video_time_clip(path, NFRAMES, size, o->dec_warmup, &vo, &t))) return st;
    if ((st = vimo_video_time_clip(path, NFRAMES, size, o->dec_reps, &vo, &t))) return st;
    int met = t.total_ms <= TARGET_MS, cpu_met = t.cpu_ms <= TARGET_MS, crit_met = t.critical_cpu_ms <= TARGET_MS;
    double fps = NFRAMES / (t.total_ms * 1e-3);
    /* On a busy host wall times are inflated. With 1 decoder thread the
     * critical-path CPU time (the process CPU time when there is one
     * worker) is what the wall time is with an idle core per worker. */
    const char *verdict = met ? "met" : threads == 1 && crit_met ? "not met (cpu: met)" : "not met";
    /* With decoder threads the decoding runs on FFmpeg's threads, which the
     * per-thread figure does not see: no critical path then. */
    char crit[32] = "-";
    if (threads == 1) snprintf(crit, sizeof crit, "%.1f", t.critical_cpu_ms);
    vimo_bench_printf(run, "  %4d %3d %3d %4d %7lld %9.1f %8.1f %8.1f %8s %8.1f %7.1f %9.1f  %s%s\n", size,
                      threads, workers, t.workers_used, (long long)t.frames_decoded, t.total_ms, t.best_total_ms,
                      t.cpu_ms, crit, t.decode_ms, t.convert_ms, fps, verdict,
                      shipped ? "" : " (rendered, not shipped)");
    cJSON *r = decode_result(run, path, size, threads, workers);
    if (r) {
        cJSON_AddStringToObject(r, "path", path);
        cJSON_AddBoolToObject(r, "shipped", shipped);
        cJSON_AddNumberToObject(r, "width", in->width);
        cJSON_AddNumberToObject(r, "height", in->height);
        cJSON_AddStringToObject(r, "codec", in->codec);
        cJSON_AddNumberToObject(r, "duration_s", in->duration_s);
        cJSON_AddNumberToObject(r, "workers_used", t.workers_used);
        cJSON_AddNumberToObject(r, "frames", NFRAMES);
        cJSON_AddNumberToObject(r, "reps", o->dec_reps);
        cJSON_AddNumberToObject(r, "frames_decoded", (double)t.frames_decoded);
        cJSON_AddNumberToObject(r, "ms", t.total_ms);
        cJSON_AddNumberToObject(r, "ms_best", t.best_total_ms);
        cJSON_AddNumberToObject(r, "cpu_ms", t.cpu_ms);
        if (threads == 1) cJSON_AddNumberToObject(r, "critical_cpu_ms", t.critical_cpu_ms);
        cJSON_AddNumberToObject(r, "open_ms", t.open_ms);
        cJSON_AddNumberToObject(r, "decode_ms", t.decode_ms);
        cJSON_AddNumberToObject(r, "convert_ms", t.convert_ms);
        cJSON_AddNumberToObject(r, "frames_per_s", fps);
        cJSON_AddNumberToObject(r, "target_ms", TARGET_MS);
        cJSON_AddBoolToObject(r, "target_met", met);
        cJSON_AddBoolToObject(r, "target_met_cpu", cpu_met);
        if (threads == 1) cJSON_AddBoolToObject(r, "target_met_critical_cpu", crit_met);
    }
    return VIMO_OK;
}

/* One clip: its metadata line, then a row per (S, decoder threads, workers). */
static vimo_status decode_clip(vimo_bench_run *run, const video_opts *o, const char *path, int shipped)
{
    vimo_video *v;
    vimo_video_info in;
    vimo_status st = vimo_video_open(&v, path, NULL);
    if (st) return st;
    st = vimo_video_get_info(v, &in);
    vimo_video_free(v);
    if (st) return st;
    vimo_bench_printf(run, "%s: %dx%d %s, %.2f s, %lld frames at %.3g fps%s\n",
                      shipped ? show_path(path) : base_name(path), in.width, in.height, in.codec, in.duration_s,
                      (long long)in.frame_count, in.fps, shipped ? "" : " (rendered by vimo, keyframe every 1 s)");
    for (int i = 0; i < o->nsizes && !st; i++)
        for (int j = 0; j < o->ndec && !st; j++)
            for (int k = 0; k < o->nwork && !st; k++)
                st = decode_row(run, o, path, &in, shipped, (int)o->sizes[i], (int)o->dec_threads[j],
                                (int)o->workers[k]);
    return st;
}

static int bench_decode(vimo_bench_run *run, const video_opts *o)
{
    const char *data = vimo_cli_opt(run->argc, run->argv, "data");
    const char *motion = vimo_cli_opt(run->argc, run->argv, "motion");
    char def_data[4096], def_motion[4096], tmpdir[] = "/tmp/vimo-bench-video-XXXXXX", rendered[4200] = "";
    snprintf(def_data, sizeof def_data, "%s/data/video", VIMO_SOURCE_DIR);
    snprintf(def_motion, sizeof def_motion, "%s/data/motion/humanml3d/new_joints/012314.npy", VIMO_SOURCE_DIR);
    strlist files = {0};
    int rc = 1, made_dir = 0;
    if (find_videos(data ? data : def_data, 0, &files)) goto done;
    qsort(files.v, (size_t)files.n, sizeof *files.v, cmp_str);
    if (files.n == 0) vimo_bench_printf(run, "no video files under %s (give --data DIR)\n", data ? data : def_data);
    if (!vimo_cli_flag(run->argc, run->argv, "skip-render")) {
        if (!mkdtemp(tmpdir)) {
            vimo_error(VIMO_ERR_IO, "video: cannot create a temporary folder %s", tmpdir);
            goto done;
        }
        made_dir = 1;
        /* No motion file (an install without the source tree): a note, not a failure. */
        if (render_clip(run, motion ? motion : def_motion, tmpdir, rendered, sizeof rendered)) {
            vimo_bench_printf(run, "rendered clip skipped: %s (give --motion FILE.npy)\n", vimo_last_error());
            cJSON *r = vimo_bench_result(run);
            if (r) {
                cJSON_AddStringToObject(r, "part", "decode");
                cJSON_AddStringToObject(r, "clip", "render.mp4");
                cJSON_AddStringToObject(r, "skipped", vimo_last_error());
            }
            rendered[0] = '\0';
        }
    }
    vimo_bench_printf(run, "\ndecode + preprocess: cold open + %d uniformly sampled frames + CLIP resize/crop/"
                           "normalise + free\n(vimo_video_time_clip), median of %d runs after %d warm-up; "
                           "target <= %.0f ms per %d-frame clip (wall)\n",
                      NFRAMES, o->dec_reps, o->dec_warmup, TARGET_MS, NFRAMES);
    vimo_bench_printf(run, "(thr: decoder threads per reader; wrk: workers asked, used: GOP-parallel groups used; "
                           "crit ms: critical-path CPU ms,\n the largest per-thread CPU time = the wall time with "
                           "an idle core per worker at thr 1; decode/convert: ms summed over workers)\n");
    vimo_bench_printf(run, "  %4s %3s %3s %4s %7s %9s %8s %8s %8s %8s %7s %9s  %s\n", "S", "thr", "wrk", "used",
                      "decoded", "ms/clip", "best ms", "cpu ms", "crit ms", "decode", "convert", "frames/s",
                      "50 ms target");
    for (int i = 0; i < files.n; i++)
        if (decode_clip(run, o, files.v[i], 1)) goto done;
    if (rendered[0] && decode_clip(run, o, rendered, 0)) goto done;
    rc = 0;
done:
    if (rc) fprintf(stderr, "vimo bench video: %s\n", vimo_last_error());
    if (rendered[0]) unlink(rendered);
    if (made_dir) rmdir(tmpdir);
    strlist_free(&files);
    return rc;
}

/* ---- encoders ------------------------------------------------------------------ */

typedef struct {
    const vimo_encoder_iface *enc;
    void *h;
    vimo_ctx *ctx;
    vimo_tensor *x; /* (B * F, 3, S, S) */
    int64_t batch;
} enc_arg;

static vimo_status forward_once(enc_arg *a)
{
    vimo_tensor *tok;
    vimo_status st = a->enc->forward(a->h, a->ctx, a->x, a->batch, NULL, &tok);
    vimo_ctx_reset(a->ctx);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median seconds of up to o->enc_reps forwards. A forward lasts far longer
 * than the timer's resolution, so one call is one sample (vimo_bench_time's
 * sizing call would add a forward to every row). Without an explicit
 * --reps, sampling stops once ROW_BUDGET_S is spent (at least one sample):
 * a ViT forward of 64 frames takes seconds on this 2-core box.
 * With --cpu-time: process CPU time / threads. */
static vimo_status time_forward(const vimo_bench_run *run, const video_opts *o, enc_arg *a, int threads,
                                double *median_s, double *min_s, int *reps_done)
{
    double v[1000], spent = 0.0;
    vimo_status st;
    int max = o->enc_reps < 1000 ? o->enc_reps : 1000, n = 0;
    while (n < max && (o->enc_reps_given || n == 0 || spent < ROW_BUDGET_S)) {
        double w0 = vimo_bench_now(), t0 = run->cpu_time ? cpu_now() / threads : w0;
        if ((st = forward_once(a))) return st;
        v[n++] = (run->cpu_time ? cpu_now() / threads : vimo_bench_now()) - t0;
        spent += vimo_bench_now() - w0;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *median_s = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    *min_s = v[0];
    *reps_done = n;
    return VIMO_OK;
}

/* The instance of `id` for frames of side S (the ViT's geometry follows S). */
static vimo_status make_encoder(vimo_instance **inst, const char *id, int size, int *patch)
{
    const vimo_plugin_desc *desc;
    vimo_options *opts = NULL;
    vimo_status st;
    *patch = 0;
    if ((st = vimo_plugin_find(id, &desc))) return st;
    if (strcmp(id, "encoder.video_vit") == 0) {
        char s[32], p[32];
        *patch = size / 7;
        snprintf(s, sizeof s, "%d", size);
        snprintf(p, sizeof p, "%d", *patch);
        if ((st = vimo_options_new(&opts, desc)) || (st = vimo_options_set(opts, "image_size", s)) ||
            (st = vimo_options_set(opts, "patch", p)))
            goto done;
    }
    st = vimo_instance_new(inst, id, opts);
done:
    vimo_options_free(opts);
    return st;
}

static vimo_status bench_encoder_size(vimo_bench_run *run, const video_opts *o, const char *id, int size)
{
    vimo_instance *inst = NULL;
    enc_arg a = {.batch = CLIPS_PER_BATCH};
    int patch;
    int64_t frames = (int64_t)CLIPS_PER_BATCH * NFRAMES;
    vimo_status st;
    if ((st = make_encoder(&inst, id, size, &patch)) || (st = vimo_ctx_new(&a.ctx)) ||
        (st = vimo_tensor_new(&a.x, 4, (int64_t[]){frames, 3, size, size})))
        goto done;
    a.enc = vimo_instance_iface(inst, VIMO_IFACE_ENCODER);
    const vimo_module_iface *mod = vimo_instance_iface(inst, VIMO_IFACE_MODULE);
    if (!a.enc || !mod) {
        st = vimo_error(VIMO_ERR_NOT_FOUND, "%s: no encoder or module interface", id);
        goto done;
    }
    a.h = vimo_instance_handle(inst);
    mod->set_train(a.h, 0);
    vimo_ctx_set_grad(a.ctx, 0);
    vimo_bench_fill(vimo_tensor_data(a.x), frames * 3 * size * size, 11);
    long long nparam = 0;
    for (int i = 0; i < mod->num_params(a.h); i++) nparam += vimo_tensor_numel(mod->param(a.h, i, NULL));
    for (int k = 0; k < o->nenc && !st; k++) {
        int threads = (int)o->enc_threads[k], reps;
        double med, best;
        vimo_set_num_threads(threads);
        /* Warm-up at each thread count: on the 2-core box the first forward
         * at 2 threads after a warm-up at 1 took 2-23 s instead of 0.4 s
         * (perf: 78 % spinning in BLIS's thread barrier, 15 % in libgomp's),
         * and warming the pools with a threaded matmul did not remove it. */
        for (int i = 0; i < o->enc_warmup && !st; i++) st = forward_once(&a);
        if (st || (st = time_forward(run, o, &a, threads, &med, &best, &reps))) break;
        double fps = (double)frames / med;
        char geo[32] = "";
        if (patch) snprintf(geo, sizeof geo, "patch %d", patch);
        vimo_bench_printf(run, "%-18s %4d %-8s %9lld %3d %4d %10.1f %10.1f %10.1f\n", id, size, geo, nparam,
                          threads, reps, med * 1e3, best * 1e3, fps);
        cJSON *r = vimo_bench_result(run);
        if (r) {
            cJSON_AddStringToObject(r, "part", "encoder");
            cJSON_AddStringToObject(r, "encoder", id);
            cJSON_AddNumberToObject(r, "size", size);
            if (patch) cJSON_AddNumberToObject(r, "patch", patch);
            cJSON_AddNumberToObject(r, "params", (double)nparam);
            cJSON_AddNumberToObject(r, "clips", CLIPS_PER_BATCH);
            cJSON_AddNumberToObject(r, "frames_per_clip", NFRAMES);
            cJSON_AddNumberToObject(r, "threads", threads);
            cJSON_AddNumberToObject(r, "reps", reps);
            cJSON_AddNumberToObject(r, "forward_ms", med * 1e3);
            cJSON_AddNumberToObject(r, "forward_ms_min", best * 1e3);
            cJSON_AddNumberToObject(r, "forward_frames_per_s", fps);
        }
    }
done:
    vimo_set_num_threads(run->threads);
    vimo_tensor_free(a.x);
    vimo_ctx_free(a.ctx);
    vimo_instance_free(inst);
    return st;
}

static int bench_encoders(vimo_bench_run *run, const video_opts *o)
{
    static const char *const ids[] = {"encoder.video_cnn", "encoder.video_vit"};
    if (vimo_plugin_scan()) {
        fprintf(stderr, "vimo bench video: %s\n", vimo_last_error());
        return 1;
    }
    vimo_bench_printf(run, "\nencoders: eval forward (no grad) of x (%d clips x %d frames, 3, S, S), default "
                           "options;\nmedian of up to %d%s after %d warm-up per row%s; "
                           "frames/s = %d / time\n",
                      CLIPS_PER_BATCH, NFRAMES, o->enc_reps,
                      o->enc_reps_given ? "" : " (fewer once a row has taken 4 s; --reps N forces N)", o->enc_warmup,
                      run->cpu_time ? " (CPU time / threads)" : "", CLIPS_PER_BATCH * NFRAMES);
    vimo_bench_printf(run, "%-18s %4s %-8s %9s %3s %4s %10s %10s %10s\n", "encoder", "S", "geometry", "params",
                      "thr", "reps", "fwd ms", "best ms", "frames/s");
    const char *only = vimo_cli_opt(run->argc, run->argv, "encoders");
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        const vimo_plugin_desc *desc;
        if (only && !strstr(only, ids[i] + strlen("encoder."))) continue;
        if (vimo_plugin_find(ids[i], &desc)) { /* being written elsewhere: not an error here */
            vimo_bench_printf(run, "%-18s skipped: its plugin did not load (vimo plugins lists why)\n", ids[i]);
            cJSON *r = vimo_bench_result(run);
            if (r) {
                cJSON_AddStringToObject(r, "part", "encoder");
                cJSON_AddStringToObject(r, "encoder", ids[i]);
                cJSON_AddStringToObject(r, "skipped", "plugin not loaded");
            }
            continue;
        }
        for (int s = 0; s < o->nsizes; s++)
            if (bench_encoder_size(run, o, ids[i], (int)o->sizes[s])) {
                fprintf(stderr, "vimo bench video: %s\n", vimo_last_error());
                return 1;
            }
    }
    return 0;
}

static int bench_video(vimo_bench_run *run)
{
    video_opts o;
    if (parse_opts(run, &o)) return 2;
    if (!vimo_cli_flag(run->argc, run->argv, "skip-decode") && bench_decode(run, &o)) return 1;
    if (!vimo_cli_flag(run->argc, run->argv, "skip-encoders")) return bench_encoders(run, &o);
    return 0;
}

VIMO_BENCH(g_bench_video, "video", "clip decode + CLIP preprocess (50 ms target) and video encoders, frames/s",
           bench_video)
