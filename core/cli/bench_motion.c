/*
 * bench_motion.c - `vimo bench motion`: throughput of the motion pipeline on
 * the BVH clips shipped in data/motion, and of the motion encoders.
 *
 * Pipeline (frames/s; libvimo_motion is single-threaded, so --threads does
 * not change it), one row per stage over the same clips, each clip's stages
 * chained on its own output:
 *   parse      vimo_bvh_load: gunzip + parse           (source frames/s)
 *   fk         vimo_bvh_fk with End Sites, auto scale   (source frames/s)
 *   retarget   vimo_motion_retarget to the 22 SMPL joints (source frames/s)
 *   features   vimo_motion_resample to 20 fps + vimo_hml3d_features
 *                                                       (20 fps frames/s)
 *   pipeline   what `vimo motion` does per file: load, then
 *              vimo_motion_bvh_joints (streaming FK + retarget + resample,
 *              skip/trim) and vimo_hml3d_features  (source and 20 fps frames/s)
 * Encoders (frames/s = B * T / time), loaded through the plugin loader with
 * their default options: encoder.motion_mlp, motion_tcn, motion_transformer
 * on x (B, T, 263) random features; forward on a no-grad context (eval
 * mode), and forward + backward of sum(tokens) in train mode with the
 * parameter gradients zeroed first (a training step minus the optimiser),
 * at each thread count of --enc-threads.
 * Options: --data DIR (default <source>/data/motion: every *.bvh[.gz] below
 * it), --clips N (N clips evenly spaced over the sorted list, 0 = all;
 * default 24), --batch B (16), --frames T (64), --enc-threads LIST (1,2),
 * --skip-pipeline, --skip-encoders. With --cpu-time the pipeline's CPU time
 * is divided by 1 and each encoder row's by its own thread count.
 * Not here: video decoding, rendering, the optimiser step.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "cli.h"
#include "vimo/encoder.h"
#include "vimo/motion.h"
#include "vimo/vimo.h"

#ifndef VIMO_SOURCE_DIR
#define VIMO_SOURCE_DIR "."
#endif

#define MAX_FILES 10000 /* a folder with more is not the shipped data */
#define MAX_DEPTH 6
#define J3 (VIMO_HML3D_JOINTS * 3)

/* ---- the clips ----------------------------------------------------------------- */

typedef struct {
    char **v;
    int n, cap;
} strlist;

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    return (l->v[l->n] = strdup(s)) ? (l->n++, 0) : -1;
}

/* Every *.bvh / *.bvh.gz below dir (depth-capped, count-capped). */
static vimo_status find_bvh(const char *dir, int depth, strlist *out)
{
    DIR *d = opendir(dir);
    if (!d) return depth ? VIMO_OK : vimo_error(VIMO_ERR_NOT_FOUND, "motion: %s: not a readable folder", dir);
    struct dirent *e;
    vimo_status st = VIMO_OK;
    char path[4096];
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode) && depth < MAX_DEPTH) st = find_bvh(path, depth + 1, out);
        else if (S_ISREG(sb.st_mode) && (ends_with(path, ".bvh") || ends_with(path, ".bvh.gz"))) {
            if (out->n >= MAX_FILES) st = vimo_error(VIMO_ERR_INVALID, "motion: over %d BVH files under %s", MAX_FILES, dir);
            else if (push(out, path)) st = vimo_error(VIMO_ERR_NOMEM, "motion: out of memory");
        }
    }
    closedir(d);
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct {
    const char *path;
    vimo_bvh *bvh;
    const vimo_joint_map *map;
    int T, nodes, t20; /* source frames, FK nodes, frames at 20 fps (all frames) */
    float *fk;         /* (T, nodes, 3) metres */
    float *joints;     /* (T, 22, 3) */
    float *j20;        /* (t20, 22, 3) */
    float *feat;       /* (t20 - 1, 263) */
    float *pipe_j;     /* (pipeline frames, 22, 3) */
    int pipe_T;        /* vimo_motion_bvh_frames: after skip/trim and resampling */
} clip;

typedef struct {
    clip *c;
    int n;
    long long src_frames, out_frames, pipe_frames;
} clipset;

static void clips_free(clipset *s)
{
    for (int i = 0; s->c && i < s->n; i++) {
        vimo_bvh_free(s->c[i].bvh);
        free(s->c[i].fk);
        free(s->c[i].joints);
        free(s->c[i].j20);
        free(s->c[i].feat);
        free(s->c[i].pipe_j);
    }
    free(s->c);
}

/* Loads one clip and sizes its stage buffers. */
static vimo_status clip_open(clip *c, const char *path)
{
    vimo_status st;
    c->path = path;
    if ((st = vimo_bvh_load(&c->bvh, path)) || (st = vimo_joint_map_detect(c->bvh, &c->map))) return st;
    vimo_motion_opts o;
    vimo_motion_opts_init(&o);
    if ((st = vimo_motion_bvh_frames(c->bvh, &o, &c->pipe_T))) return st;
    c->T = vimo_bvh_frame_count(c->bvh);
    c->nodes = vimo_bvh_node_count(c->bvh);
    c->t20 = vimo_motion_resample_count(c->T, vimo_bvh_fps(c->bvh), VIMO_HML3D_FPS);
    if (c->T < 2 || c->t20 < 2 || c->pipe_T < 2)
        return vimo_error(VIMO_ERR_INVALID, "motion: %s: too short to make features", path);
    c->fk = malloc((size_t)c->T * (size_t)c->nodes * 3 * sizeof(float));
    c->joints = malloc((size_t)c->T * J3 * sizeof(float));
    c->j20 = malloc((size_t)c->t20 * J3 * sizeof(float));
    c->feat = malloc((size_t)(c->t20 > c->pipe_T ? c->t20 : c->pipe_T) * VIMO_HML3D_DIM * sizeof(float));
    c->pipe_j = malloc((size_t)c->pipe_T * J3 * sizeof(float));
    if (!c->fk || !c->joints || !c->j20 || !c->feat || !c->pipe_j)
        return vimo_error(VIMO_ERR_NOMEM, "motion: %s: out of memory", path);
    return VIMO_OK;
}

/* ---- pipeline bodies (one call = every clip once) ------------------------------ */

static int body_parse(void *p)
{
    clipset *s = p;
    for (int i = 0; i < s->n; i++) {
        vimo_bvh *b;
        vimo_status st = vimo_bvh_load(&b, s->c[i].path);
        if (st) return st;
        vimo_bvh_free(b);
    }
    return 0;
}

static int body_fk(void *p)
{
    clipset *s = p;
    for (int i = 0; i < s->n; i++) {
        vimo_status st = vimo_bvh_fk(s->c[i].bvh, 0.0, 1, s->c[i].fk);
        if (st) return st;
    }
    return 0;
}

static int body_retarget(void *p)
{
    clipset *s = p;
    for (int i = 0; i < s->n; i++) {
        clip *c = &s->c[i];
        vimo_status st = vimo_motion_retarget(c->bvh, c->map, c->fk, c->T, c->joints);
        if (st) return st;
    }
    return 0;
}

static int body_features(void *p)
{
    clipset *s = p;
    for (int i = 0; i < s->n; i++) {
        clip *c = &s->c[i];
        vimo_status st = vimo_motion_resample(c->joints, c->T, J3, vimo_bvh_fps(c->bvh), VIMO_HML3D_FPS, c->j20);
        if (!st) st = vimo_hml3d_features(c->j20, c->t20, c->feat, NULL);
        if (st) return st;
    }
    return 0;
}

static int body_pipeline(void *p)
{
    clipset *s = p;
    for (int i = 0; i < s->n; i++) {
        clip *c = &s->c[i];
        vimo_bvh *b;
        vimo_status st = vimo_bvh_load(&b, c->path);
        if (st) return st;
        st = vimo_motion_bvh_joints(b, NULL, c->pipe_j);
        vimo_bvh_free(b);
        if (!st) st = vimo_hml3d_features(c->pipe_j, c->pipe_T, c->feat, NULL);
        if (st) return st;
    }
    return 0;
}

static void stage_row(vimo_bench_run *run, const char *stage, const clipset *s, long long frames, const char *unit,
                      const vimo_bench_timing *t)
{
    double fps = (double)frames / t->median_s;
    vimo_bench_printf(run, "%-10s %5d %9lld %-6s %12.0f %10.1f\n", stage, s->n, frames, unit, fps,
                      t->median_s * 1e3);
    cJSON *r = vimo_bench_result(run);
    if (!r) return;
    cJSON_AddStringToObject(r, "part", "pipeline");
    cJSON_AddStringToObject(r, "stage", stage);
    cJSON_AddNumberToObject(r, "clips", s->n);
    cJSON_AddNumberToObject(r, "frames", (double)frames);
    cJSON_AddStringToObject(r, "frames_at", unit);
    cJSON_AddNumberToObject(r, "frames_per_s", fps);
    cJSON_AddNumberToObject(r, "ms", t->median_s * 1e3);
    cJSON_AddNumberToObject(r, "ms_min", t->min_s * 1e3);
}

static int bench_pipeline(vimo_bench_run *run, const char *data, int want)
{
    strlist files = {0};
    clipset s = {0};
    int rc = 1;
    if (find_bvh(data, 0, &files)) goto done;
    if (files.n == 0) {
        vimo_error(VIMO_ERR_NOT_FOUND, "motion: no *.bvh or *.bvh.gz under %s (give --data DIR)", data);
        goto done;
    }
    qsort(files.v, (size_t)files.n, sizeof *files.v, cmp_str);
    s.n = want <= 0 || want > files.n ? files.n : want;
    if (!(s.c = calloc((size_t)s.n, sizeof *s.c))) {
        vimo_error(VIMO_ERR_NOMEM, "motion: out of memory");
        goto done;
    }
    for (int i = 0; i < s.n; i++) { /* evenly spaced over the sorted list: both datasets */
        clip *c = &s.c[i];
        if (clip_open(c, files.v[(long long)i * files.n / s.n])) goto done;
        s.src_frames += c->T;
        s.out_frames += c->t20 - 1;
        s.pipe_frames += c->pipe_T - 1;
    }
    /* Stages in order once, so each body's input holds real data. */
    if (body_fk(&s) || body_retarget(&s)) goto done;
    vimo_bench_printf(run, "%d of %d clips under %s (%lld source frames); single-threaded library\n", s.n, files.n,
                      data, s.src_frames);
    vimo_bench_printf(run, "%-10s %5s %9s %-6s %12s %10s\n", "stage", "clips", "frames", "at", "frames/s", "ms");
    const vimo_bench_body fns[5] = {body_parse, body_fk, body_retarget, body_features, body_pipeline};
    void *const args[5] = {&s, &s, &s, &s, &s};
    vimo_bench_timing t[5];
    vimo_bench_run one = *run; /* --cpu-time divides by the threads: the library uses one */
    one.threads = 1;
    if (vimo_bench_time(&one, 5, fns, args, t)) goto done;
    stage_row(run, "parse", &s, s.src_frames, "source", &t[0]);
    stage_row(run, "fk", &s, s.src_frames, "source", &t[1]);
    stage_row(run, "retarget", &s, s.src_frames, "source", &t[2]);
    stage_row(run, "features", &s, s.out_frames, "20fps", &t[3]);
    stage_row(run, "pipeline", &s, s.src_frames, "source", &t[4]);
    stage_row(run, "pipeline", &s, s.pipe_frames, "20fps", &t[4]);
    rc = 0;
done:
    if (rc) fprintf(stderr, "vimo bench motion: %s\n", vimo_last_error());
    clips_free(&s);
    for (int i = 0; i < files.n; i++) free(files.v[i]);
    free(files.v);
    return rc;
}

/* ---- encoders ------------------------------------------------------------------ */

typedef struct {
    const vimo_encoder_iface *enc;
    const vimo_module_iface *mod;
    void *h;
    vimo_ctx *fctx, *bctx; /* no-grad (forward), grad (forward + backward) */
    vimo_tensor *x;
    int64_t batch;
    vimo_rng rng;
} enc_arg;

static int body_forward(void *p)
{
    enc_arg *a = p;
    vimo_tensor *tok;
    a->mod->set_train(a->h, 0);
    vimo_status st = a->enc->forward(a->h, a->fctx, a->x, a->batch, NULL, &tok);
    vimo_ctx_reset(a->fctx);
    return st;
}

static int body_train(void *p)
{
    enc_arg *a = p;
    vimo_tensor *tok, *loss;
    a->mod->set_train(a->h, 1);
    for (int i = 0; i < a->mod->num_params(a->h); i++) vimo_tensor_zero_grad(a->mod->param(a->h, i, NULL));
    vimo_status st = a->enc->forward(a->h, a->bctx, a->x, a->batch, &a->rng, &tok);
    if (!st) st = vimo_sum(a->bctx, &loss, tok);
    if (!st) st = vimo_backward(a->bctx, loss);
    vimo_ctx_reset(a->bctx);
    return st;
}

static int bench_encoder(vimo_bench_run *run, const char *id, int64_t b, int64_t t, const long long *threads, int nt)
{
    vimo_instance *inst = NULL;
    enc_arg a = {0};
    int rc = 1;
    if (vimo_instance_new(&inst, id, NULL) || vimo_ctx_new(&a.fctx) || vimo_ctx_new(&a.bctx) ||
        vimo_tensor_new3(&a.x, b, t, VIMO_HML3D_DIM))
        goto done;
    a.enc = vimo_instance_iface(inst, VIMO_IFACE_ENCODER);
    a.mod = vimo_instance_iface(inst, VIMO_IFACE_MODULE);
    if (!a.enc || !a.mod) {
        vimo_error(VIMO_ERR_NOT_FOUND, "%s: no encoder or module interface", id);
        goto done;
    }
    a.h = vimo_instance_handle(inst);
    a.batch = b;
    vimo_ctx_set_grad(a.fctx, 0);
    vimo_rng_seed(&a.rng, 1);
    vimo_bench_fill(vimo_tensor_data(a.x), b * t * VIMO_HML3D_DIM, 7);
    long long nparam = 0;
    for (int i = 0; i < a.mod->num_params(a.h); i++) nparam += vimo_tensor_numel(a.mod->param(a.h, i, NULL));
    for (int k = 0; k < nt; k++) {
        vimo_set_num_threads((int)threads[k]);
        const vimo_bench_body fns[2] = {body_forward, body_train};
        void *const args[2] = {&a, &a};
        vimo_bench_timing tm[2];
        vimo_bench_run at = *run; /* --cpu-time divides by this run's thread count */
        at.threads = (int)threads[k];
        if (vimo_bench_time(&at, 2, fns, args, tm)) goto done;
        double frames = (double)(b * t), f = frames / tm[0].median_s, fb = frames / tm[1].median_s;
        vimo_bench_printf(run, "%-27s %8lld %7lld %12.0f %12.0f %9.2f %9.2f\n", id, nparam, threads[k], f, fb,
                          tm[0].median_s * 1e3, tm[1].median_s * 1e3);
        cJSON *r = vimo_bench_result(run);
        if (r) {
            cJSON_AddStringToObject(r, "part", "encoder");
            cJSON_AddStringToObject(r, "encoder", id);
            cJSON_AddNumberToObject(r, "params", (double)nparam);
            cJSON_AddNumberToObject(r, "batch", (double)b);
            cJSON_AddNumberToObject(r, "frames", (double)t);
            cJSON_AddNumberToObject(r, "threads", (double)threads[k]);
            cJSON_AddNumberToObject(r, "forward_frames_per_s", f);
            cJSON_AddNumberToObject(r, "train_frames_per_s", fb);
            cJSON_AddNumberToObject(r, "forward_ms", tm[0].median_s * 1e3);
            cJSON_AddNumberToObject(r, "train_ms", tm[1].median_s * 1e3);
        }
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "vimo bench motion: %s\n", vimo_last_error());
    vimo_set_num_threads(run->threads);
    vimo_tensor_free(a.x);
    vimo_ctx_free(a.fctx);
    vimo_ctx_free(a.bctx);
    vimo_instance_free(inst);
    return rc;
}

static int bench_encoders(vimo_bench_run *run)
{
    long long b = 16, t = 64, threads[8] = {1, 2};
    int nt = 2;
    const char *s;
    if ((s = vimo_cli_opt(run->argc, run->argv, "batch")) && vimo_bench_int_list("batch", s, &b, 1, 1, 4096) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "frames")) && vimo_bench_int_list("frames", s, &t, 1, 4, 512) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "enc-threads")) &&
        (nt = vimo_bench_int_list("enc-threads", s, threads, 8, 1, 512)) < 0)
        return 2;
    if (vimo_plugin_scan()) {
        fprintf(stderr, "vimo bench motion: %s\n", vimo_last_error());
        return 1;
    }
    vimo_bench_printf(run, "\nencoders on x (%lld, %lld, %d), default options; frames/s = B*T / time\n", b, t,
                      VIMO_HML3D_DIM);
    vimo_bench_printf(run, "%-27s %8s %7s %12s %12s %9s %9s\n", "encoder", "params", "threads", "fwd fr/s",
                      "fwd+bwd fr/s", "fwd ms", "f+b ms");
    static const char *const ids[] = {"encoder.motion_mlp", "encoder.motion_tcn", "encoder.motion_transformer"};
    for (int i = 0; i < 3; i++)
        if (bench_encoder(run, ids[i], b, t, threads, nt)) return 1;
    return 0;
}

static int bench_motion(vimo_bench_run *run)
{
    const char *data = vimo_cli_opt(run->argc, run->argv, "data"), *s;
    char def[4096];
    snprintf(def, sizeof def, "%s/data/motion", VIMO_SOURCE_DIR);
    long long clips = 24;
    if ((s = vimo_cli_opt(run->argc, run->argv, "clips")) && vimo_bench_int_list("clips", s, &clips, 1, 0, 100000) < 0)
        return 2;
    if (!vimo_cli_flag(run->argc, run->argv, "skip-pipeline") && bench_pipeline(run, data ? data : def, (int)clips))
        return 1;
    if (!vimo_cli_flag(run->argc, run->argv, "skip-encoders")) return bench_encoders(run);
    return 0;
}

VIMO_BENCH(g_bench_motion, "motion", "BVH parse/FK/retarget/features and motion encoders, frames/s", bench_motion)
