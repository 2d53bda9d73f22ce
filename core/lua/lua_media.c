/*
 * lua_media.c - Lua bindings the dataset builder (scripts/vimo/data) needs:
 * a parallel per-clip pipeline over the motion and video libraries, a
 * MessagePack cache codec, and conversions of cached bytes to tensors.
 *
 *   media.process(jobs, opts)        BVH -> FK -> retarget -> 263-d features
 *                                    -> recovered joints -> trajectory stats
 *                                    -> rendered MP4 -> F frames read back;
 *                                    clips run in parallel on POSIX threads
 *   media.msgpack_pack / unpack / save / load, media.bin
 *   media.tensor_f32, media.video_tensor, media.feature_stats
 *   media.npy_load, media.video_sample, media.qa_normalize
 *   media.hml3d_mirror               left/right mirror of features (stage-0
 *                                    augmentation, vimo.augment)
 *
 * Binary data crosses into Lua as strings: float32 little-endian row-major
 * ("f32 blobs") and RGB8 crops (F, S, S, 3) ("u8 blobs").
 * Expected failures (a file that does not open, a malformed cache) return
 * nil, message; misuse (wrong argument types, absurd sizes) raises.
 * Deliberately not here: labels, captions, QA, splits and cache policy (Lua,
 * scripts/vimo/data/), and any decoding of msgpack ext types.
 *
 * Registration: luaopen_vimo calls lvt_open_media(), which puts the table
 * at vimo.media; luaopen_vimo_media() returns it alone.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "lvimo.h"
#include "vimo/eval.h"
#include "vimo/motion.h"
#include "vimo/render.h"
#include "vimo/video.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "f32 blobs are little-endian: big-endian hosts are not supported"
#endif

#define LVT_MEDIA_BATCH "vimo.media_batch"
#define LVT_MEDIA_BIN "vimo.media_bin"
#define MEDIA_MAX_JOBS 100000
#define MEDIA_MAX_THREADS 64
#define MEDIA_MAX_SIZE 1024               /* S and render sides, pixels      */
#define MEDIA_MAX_FILE (INT64_C(4) << 30) /* msgpack files read whole        */
#define MP_MAX_DEPTH 32                   /* msgpack nesting, both ways      */
#define D VIMO_HML3D_DIM
#define J VIMO_HML3D_JOINTS

VIMO_API int luaopen_vimo_media(lua_State *L); /* lvt_open_media: lvimo.h */

/* ========================================================================
 * The per-clip pipeline
 * ===================================================================== */

enum { JOB_BVH, JOB_FEAT, JOB_VIDEO, JOB_BLOB };

typedef struct media_opts {
    double fps;       /* feature / render rate, frames per second        */
    int frames, size; /* F sampled frames, S short side and crop         */
    int width, height;/* render size, pixels                             */
    int threads;      /* clip workers                                    */
} media_opts;

/* Trajectory statistics of the recovered root (see clip_stats). */
typedef struct media_stats {
    double dx, dz;        /* net root displacement, m: +X left, +Z forward */
    double path;          /* horizontal path length, m (0.25 s steps)       */
    double duration;      /* (T - 1) / fps, s                               */
    double lwrist, rwrist;/* max rise of the wrist above frame 0, m         */
} media_stats;

typedef struct media_job {
    int kind;
    char *src;        /* BVH, features .npy or video path; a name for blobs */
    char *mp4;        /* render target, or NULL                           */
    char *map;        /* joint map name, or NULL to detect                */
    vimo_joint_map custom;          /* a map given from Lua (entries != NULL) */
    vimo_joint_map_entry *entries;  /* its entries; names owned below         */
    int64_t first, count; /* JOB_FEAT: rows [first, first + count), count <= 0: all */
    /* results */
    vimo_status st;
    char err[1024];
    float *feat;      /* (T, 263)                                         */
    int T;
    double src_fps;
    int src_frames;
    media_stats stats;
    uint8_t *crops;   /* (F, S, S, 3)                                     */
    double *times;    /* (F) seconds                                      */
    double ms[3];     /* wall time: motion, render, read back             */
} media_job;

typedef struct media_batch {
    media_job *jobs;
    int n;
    media_opts o;
    atomic_int next;
} media_batch;

static void job_clear(media_job *j)
{
    for (int e = 0; j->entries && e < j->custom.n_entries; e++) {
        free((char *)j->entries[e].a);
        free((char *)j->entries[e].b);
    }
    free(j->entries);
    free(j->src);
    free(j->mp4);
    free(j->map);
    free(j->feat);
    free(j->crops);
    free(j->times);
    memset(j, 0, sizeof *j);
}

static void batch_free(media_batch *b)
{
    for (int i = 0; b->jobs && i < b->n; i++) job_clear(&b->jobs[i]);
    free(b->jobs);
    b->jobs = NULL;
    b->n = 0;
}

static int batch_gc(lua_State *L)
{
    batch_free(luaL_checkudata(L, 1, LVT_MEDIA_BATCH));
    return 0;
}

/* Root displacement, path, duration and wrist rises of joints (T, 22, 3)
 * recovered from the features: +Z is the facing of frame 0, +X its left. */
static void clip_stats(const float *rec, int T, double fps, media_stats *s)
{
    memset(s, 0, sizeof *s);
    if (T < 1) return;
    const float *a = rec, *z = rec + (size_t)(T - 1) * J * 3;
    s->dx = (double)z[0] - a[0];
    s->dz = (double)z[2] - a[2];
    s->duration = (T - 1) / fps;
    /* Path over 0.25 s steps: sway within a step is not travel. */
    int step = (int)fmax(1.0, floor(fps / 4.0 + 0.5));
    int prev = 0;
    for (int t = step; prev < T - 1; t += step) {
        if (t > T - 1) t = T - 1;
        const float *p = rec + (size_t)prev * J * 3, *q = rec + (size_t)t * J * 3;
        s->path += hypot((double)q[0] - p[0], (double)q[2] - p[2]);
        prev = t;
    }
    double l0 = rec[20 * 3 + 1], r0 = rec[21 * 3 + 1];
    for (int t = 0; t < T; t++) {
        const float *f = rec + (size_t)t * J * 3;
        s->lwrist = fmax(s->lwrist, f[20 * 3 + 1] - l0);
        s->rwrist = fmax(s->rwrist, f[21 * 3 + 1] - r0);
    }
}

static vimo_status job_motion_bvh(media_job *j, const media_opts *o)
{
    vimo_status st = VIMO_OK;
    vimo_bvh *b = NULL;
    float *joints = NULL;
    int Tj = 0;
    VIMO_TRY(vimo_bvh_load(&b, j->src));
    vimo_motion_opts mo;
    vimo_motion_opts_init(&mo);
    mo.fps = o->fps;
    if (j->entries) mo.map = &j->custom; /* checked against the skeleton by the pipeline */
    else if (j->map && !(mo.map = vimo_joint_map_find(j->map))) {
        st = vimo_error(VIMO_ERR_NOT_FOUND, "media: %s: no joint map named '%s'", j->src, j->map);
        goto fail;
    }
    j->src_fps = vimo_bvh_fps(b);
    j->src_frames = vimo_bvh_frame_count(b);
    VIMO_TRY(vimo_motion_bvh_frames(b, &mo, &Tj));
    if (Tj < 2) {
        st = vimo_error(VIMO_ERR_FORMAT, "media: %s: %d frames at %g fps, need 2", j->src, Tj, o->fps);
        goto fail;
    }
    joints = malloc((size_t)Tj * J * 3 * sizeof *joints);
    j->feat = malloc((size_t)(Tj - 1) * D * sizeof *j->feat);
    if (!joints || !j->feat) {
        st = vimo_error(VIMO_ERR_NOMEM, "media: %s: %d frames", j->src, Tj);
        goto fail;
    }
    VIMO_TRY(vimo_motion_bvh_joints(b, &mo, joints));
    VIMO_TRY(vimo_hml3d_features(joints, Tj, j->feat, NULL));
    j->T = Tj - 1;
fail:
    free(joints);
    vimo_bvh_free(b);
    return st;
}

static vimo_status job_motion_npy(media_job *j)
{
    vimo_status st = VIMO_OK;
    vimo_npy a = {0};
    VIMO_TRY(vimo_npy_load(j->src, &a));
    if (a.ndim != 2 || a.shape[1] != D) {
        st = vimo_error(VIMO_ERR_FORMAT, "media: %s: features must be (T, %d), got %d dims", j->src, D, a.ndim);
        goto fail;
    }
    int64_t T = a.shape[0], first = j->first, n = j->count > 0 ? j->count : T - first;
    if (first < 0 || first >= T || n > T - first) n = T - first;
    if (first < 0 || first >= T || n < 1) {
        st = vimo_error(VIMO_ERR_INVALID, "media: %s: rows [%lld, %lld) outside its %lld frames", j->src,
                        (long long)j->first, (long long)(j->first + j->count), (long long)T);
        goto fail;
    }
    j->feat = malloc((size_t)n * D * sizeof *j->feat);
    if (!j->feat) {
        st = vimo_error(VIMO_ERR_NOMEM, "media: %s: %lld frames", j->src, (long long)n);
        goto fail;
    }
    memcpy(j->feat, a.data + first * D, (size_t)n * D * sizeof *j->feat);
    j->T = (int)n;
    j->src_fps = VIMO_HML3D_FPS;
    j->src_frames = (int)T;
fail:
    vimo_npy_free(&a);
    return st;
}

static vimo_status job_sample(media_job *j, const char *path, const media_opts *o)
{
    vimo_status st = VIMO_OK;
    vimo_video *v = NULL;
    vimo_video_opts vo = {.threads = 1, .timeout_ms = 0}; /* clips are the parallel unit */
    size_t n = (size_t)o->frames * o->size * o->size * 3;
    j->crops = malloc(n);
    j->times = malloc((size_t)o->frames * sizeof *j->times);
    if (!j->crops || !j->times) return vimo_error(VIMO_ERR_NOMEM, "media: %s: %zu bytes of frames", path, n);
    VIMO_TRY(vimo_video_open(&v, path, &vo));
    VIMO_TRY(vimo_video_sample_clip(v, o->frames, o->size, NULL, j->crops, j->times));
fail:
    vimo_video_free(v);
    return st;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static vimo_status job_run(media_job *j, const media_opts *o)
{
    vimo_status st = VIMO_OK;
    float *rec = NULL;
    double t0 = now_ms();
    if (j->kind == JOB_VIDEO) {
        st = job_sample(j, j->src, o);
        j->ms[2] = now_ms() - t0;
        return st;
    }
    if (j->kind == JOB_BVH) VIMO_TRY(job_motion_bvh(j, o));
    else if (j->kind == JOB_FEAT) VIMO_TRY(job_motion_npy(j));
    rec = malloc((size_t)j->T * J * 3 * sizeof *rec);
    if (!rec) {
        st = vimo_error(VIMO_ERR_NOMEM, "media: %s: %d frames", j->src, j->T);
        goto fail;
    }
    VIMO_TRY(vimo_hml3d_recover(j->feat, j->T, rec));
    /* BVH features are made at o->fps; feature files are HumanML3D's 20 fps. */
    double ffps = j->kind == JOB_BVH ? o->fps : VIMO_HML3D_FPS;
    clip_stats(rec, j->T, ffps, &j->stats);
    double t1 = now_ms();
    j->ms[0] = t1 - t0;
    if (j->mp4) {
        vimo_render_opts ro;
        vimo_render_opts_default(&ro);
        ro.width = o->width;
        ro.height = o->height;
        ro.fps = o->fps;
        VIMO_TRY(vimo_render_mp4(rec, j->T, J, vimo_hml3d_parents(), ffps, &ro, j->mp4));
        double t2 = now_ms();
        j->ms[1] = t2 - t1;
        VIMO_TRY(job_sample(j, j->mp4, o));
        j->ms[2] = now_ms() - t2;
    }
fail:
    free(rec);
    return st;
}

static void *worker(void *arg)
{
    media_batch *b = arg;
    for (;;) {
        int i = atomic_fetch_add(&b->next, 1);
        if (i >= b->n) break;
        media_job *j = &b->jobs[i];
        j->st = job_run(j, &b->o);
        if (j->st) snprintf(j->err, sizeof j->err, "%s", vimo_last_error());
    }
    return NULL;
}

/* Copies string field k of the table at idx (or NULL when absent). */
static char *opt_strdup(lua_State *L, int idx, const char *k)
{
    char *s = NULL;
    if (lua_getfield(L, idx, k) != LUA_TNIL) {
        const char *v = lua_tostring(L, -1);
        if (!v) luaL_error(L, "media.process: field '%s' must be a string", k);
        if (!(s = strdup(v))) luaL_error(L, "media.process: out of memory");
    }
    lua_pop(L, 1);
    return s;
}

static lua_Integer opt_int(lua_State *L, int idx, const char *k, lua_Integer def, lua_Integer lo, lua_Integer hi)
{
    lua_getfield(L, idx, k);
    int ok = 1;
    lua_Integer v = lua_isnil(L, -1) ? def : lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || v < lo || v > hi)
        luaL_error(L, "media: option '%s' must be an integer in [%d, %d]", k, (int)lo, (int)hi);
    return v;
}

static void read_opts(lua_State *L, int idx, media_opts *o)
{
    lua_getfield(L, idx, "fps");
    o->fps = luaL_optnumber(L, -1, VIMO_HML3D_FPS);
    lua_pop(L, 1);
    if (!(o->fps > 0 && o->fps <= 240)) luaL_error(L, "media: option 'fps' must be in (0, 240]");
    o->frames = (int)opt_int(L, idx, "frames", VIMO_VIDEO_DEFAULT_FRAMES, 1, VIMO_VIDEO_MAX_SAMPLES);
    o->size = (int)opt_int(L, idx, "size", 64, 1, MEDIA_MAX_SIZE);
    o->width = (int)opt_int(L, idx, "width", 128, 16, MEDIA_MAX_SIZE);
    o->height = (int)opt_int(L, idx, "height", 128, 16, MEDIA_MAX_SIZE);
    o->threads = (int)opt_int(L, idx, "threads", 2, 1, MEDIA_MAX_THREADS);
    if (o->width % 2 || o->height % 2) luaL_error(L, "media: render width and height must be even");
}

/* A job on features given as an f32 blob (on top of the stack) of T rows:
 * copied, so the workers never touch Lua memory. */
static void read_blob_job(lua_State *L, int t, int i, media_job *j)
{
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (len == 0 || len % (D * sizeof(float)) || len / (D * sizeof(float)) > INT32_MAX)
        luaL_error(L, "media.process: job %d: feat_blob is not rows of %d float32", i + 1, D);
    j->kind = JOB_BLOB;
    j->T = (int)(len / (D * sizeof(float)));
    j->src_fps = VIMO_HML3D_FPS;
    j->src_frames = j->T;
    j->src = opt_strdup(L, t, "name");
    if (!j->src && !(j->src = strdup("(features)"))) luaL_error(L, "media.process: out of memory");
    if (!(j->feat = malloc(len))) luaL_error(L, "media.process: out of memory");
    memcpy(j->feat, s, len);
}

/* A joint map given from Lua, for any skeleton: a list of
 *   {smpl = 0..21, joint = "NodeName" [, toward = "Node2", weight = w]}
 * (position = (1 - w) joint + w toward), each SMPL joint once; the motion
 * library checks it against the skeleton (vimo_joint_map_check). */
static void read_map(lua_State *L, int m, int i, media_job *j)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, m);
    if (n < 1 || n > 64) luaL_error(L, "media.process: job %d: map has %d entries (22 expected)", i + 1, (int)n);
    if (!(j->entries = calloc((size_t)n, sizeof *j->entries))) luaL_error(L, "media.process: out of memory");
    j->custom.name = "custom";
    j->custom.entries = j->entries;
    for (lua_Integer e = 1; e <= n; e++) {
        lua_rawgeti(L, m, e);
        int t = lua_gettop(L);
        if (!lua_istable(L, t)) luaL_error(L, "media.process: job %d: map entry %d is not a table", i + 1, (int)e);
        vimo_joint_map_entry *en = &j->entries[e - 1];
        j->custom.n_entries = (int)e; /* job_clear frees the names read so far */
        en->smpl = (int)opt_int(L, t, "smpl", -1, 0, 21);
        en->a = opt_strdup(L, t, "joint");
        en->b = opt_strdup(L, t, "toward");
        lua_getfield(L, t, "weight");
        en->w = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0.0;
        lua_pop(L, 1);
        if (!en->a) luaL_error(L, "media.process: job %d: map entry %d has no joint name", i + 1, (int)e);
        lua_settop(L, t - 1);
    }
}

/* Reads job i of the table at idx into j. */
static void read_job(lua_State *L, int idx, int i, media_job *j)
{
    lua_rawgeti(L, idx, i + 1);
    if (!lua_istable(L, -1)) luaL_error(L, "media.process: job %d is not a table", i + 1);
    int t = lua_gettop(L);
    j->first = (int64_t)opt_int(L, t, "first", 0, 0, INT32_MAX);
    j->count = (int64_t)opt_int(L, t, "count", 0, 0, INT32_MAX);
    j->mp4 = opt_strdup(L, t, "mp4");
    if (lua_getfield(L, t, "map") == LUA_TTABLE) {
        read_map(L, lua_gettop(L), i, j);
        lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
        j->map = opt_strdup(L, t, "map");
    }
    static const char *const keys[] = {"bvh", "feat", "video"};
    for (int k = 0; k < 3 && !j->src; k++) {
        j->src = opt_strdup(L, t, keys[k]);
        j->kind = k;
    }
    if (!j->src && lua_getfield(L, t, "feat_blob") == LUA_TSTRING) read_blob_job(L, t, i, j);
    else if (!j->src) luaL_error(L, "media.process: job %d needs one of bvh=, feat=, feat_blob=, video=", i + 1);
    lua_settop(L, t - 1);
}

static void push_blob(lua_State *L, const void *p, size_t n) { lua_pushlstring(L, p, n); }

static void push_result(lua_State *L, const media_job *j, const media_opts *o)
{
    lua_createtable(L, 0, 10);
    lua_pushboolean(L, j->st == VIMO_OK);
    lua_setfield(L, -2, "ok");
    if (j->st) {
        lua_pushstring(L, j->err);
        lua_setfield(L, -2, "err");
        return;
    }
    if (j->feat) {
        push_blob(L, j->feat, (size_t)j->T * D * sizeof *j->feat);
        lua_setfield(L, -2, "feat");
        lua_pushinteger(L, j->T);
        lua_setfield(L, -2, "T");
        lua_pushnumber(L, j->src_fps);
        lua_setfield(L, -2, "src_fps");
        lua_pushinteger(L, j->src_frames);
        lua_setfield(L, -2, "src_frames");
        const media_stats *s = &j->stats;
        lua_createtable(L, 0, 6);
        const struct { const char *k; double v; } f[] = {{"dx", s->dx},       {"dz", s->dz},
                                                          {"path", s->path},   {"duration", s->duration},
                                                          {"lwrist", s->lwrist}, {"rwrist", s->rwrist}};
        for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
            lua_pushnumber(L, f[k].v);
            lua_setfield(L, -2, f[k].k);
        }
        lua_setfield(L, -2, "stats");
    }
    lua_createtable(L, 0, 3);
    static const char *const stage[3] = {"motion", "render", "read"};
    for (int k = 0; k < 3; k++) {
        lua_pushnumber(L, j->ms[k]);
        lua_setfield(L, -2, stage[k]);
    }
    lua_setfield(L, -2, "ms");
    if (j->crops) {
        push_blob(L, j->crops, (size_t)o->frames * o->size * o->size * 3);
        lua_setfield(L, -2, "crops");
        lua_createtable(L, o->frames, 0);
        for (int k = 0; k < o->frames; k++) {
            lua_pushnumber(L, j->times[k]);
            lua_rawseti(L, -2, k + 1);
        }
        lua_setfield(L, -2, "times");
    }
}

/* media.process(jobs, opts) -> results (one table per job, same order).
 * jobs[i]: {bvh = PATH | feat = NPY [, first =, count =] | video = PATH |
 *           feat_blob = f32 (T, 263) [, name = for messages],
 *           mp4 = PATH (render + read back),
 *           map = NAME of a built-in map | {{smpl =, joint = [, toward =, weight =]}, ...}}
 * opts: {fps = 20, frames = 8, size = 64, width = 128, height = 128, threads = 2}
 * result: {ok = true, feat = f32 (T, 263), T, src_fps, src_frames,
 *          stats = {dx, dz, path, duration, lwrist, rwrist},
 *          crops = u8 (F, S, S, 3), times = {F seconds},
 *          ms = {motion, render, read} wall milliseconds} or {ok = false, err}. */
static int l_process(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    if (n > MEDIA_MAX_JOBS) luaL_error(L, "media.process: %d jobs, at most %d", (int)n, MEDIA_MAX_JOBS);
    media_batch *b = lua_newuserdatauv(L, sizeof *b, 0); /* 3: frees everything on error */
    memset(b, 0, sizeof *b);
    if (luaL_newmetatable(L, LVT_MEDIA_BATCH)) {
        lua_pushcfunction(L, batch_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, batch_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    read_opts(L, 2, &b->o);
    if (n == 0) {
        lua_newtable(L);
        return 1;
    }
    b->jobs = calloc((size_t)n, sizeof *b->jobs);
    if (!b->jobs) luaL_error(L, "media.process: out of memory");
    b->n = (int)n;
    for (int i = 0; i < b->n; i++) read_job(L, 1, i, &b->jobs[i]);
    atomic_init(&b->next, 0);
    int nt = b->o.threads < b->n ? b->o.threads : b->n, started = 0;
    pthread_t th[MEDIA_MAX_THREADS];
    for (int i = 1; i < nt; i++) {
        if (pthread_create(&th[i], NULL, worker, b) != 0) break;
        started = i;
    }
    worker(b); /* the calling thread works too */
    for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
    lua_createtable(L, b->n, 0);
    for (int i = 0; i < b->n; i++) {
        push_result(L, &b->jobs[i], &b->o);
        lua_rawseti(L, -2, i + 1);
    }
    batch_free(b); /* at collection it finds nothing left */
    return 1;
}

/* media.video_sample(path, F, S) -> crops u8 (F, S, S, 3), times; or nil,
 * msg. The reader's uniform sampling and CLIP crop (video.h), one file. */
static int l_video_sample(lua_State *L)
{
    luaL_checkstring(L, 1);
    lua_Integer F = luaL_checkinteger(L, 2), S = luaL_checkinteger(L, 3);
    luaL_argcheck(L, F >= 1 && F <= VIMO_VIDEO_MAX_SAMPLES, 2, "frame count out of range");
    luaL_argcheck(L, S >= 1 && S <= MEDIA_MAX_SIZE, 3, "size out of range");
    lua_settop(L, 3);
    lua_pushcfunction(L, l_process);
    lua_createtable(L, 1, 0); /* jobs = {{video = path}} */
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "video");
    lua_rawseti(L, -2, 1);
    lua_createtable(L, 0, 3); /* opts */
    lua_pushinteger(L, F);
    lua_setfield(L, -2, "frames");
    lua_pushinteger(L, S);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, 1);
    lua_setfield(L, -2, "threads");
    lua_call(L, 2, 1);
    lua_rawgeti(L, -1, 1); /* 5: the result */
    if (lua_getfield(L, 5, "ok") != LUA_TBOOLEAN || !lua_toboolean(L, -1)) {
        lua_pushnil(L);
        lua_getfield(L, 5, "err");
        return 2;
    }
    lua_getfield(L, 5, "crops");
    lua_getfield(L, 5, "times");
    return 2;
}

/* ========================================================================
 * Tensors from blobs
 * ===================================================================== */

/* An optional f32 blob of exactly n floats at idx, or NULL. */
static const float *opt_f32(lua_State *L, int idx, int64_t n)
{
    if (lua_isnoneornil(L, idx)) return NULL;
    size_t len;
    const char *s = luaL_checklstring(L, idx, &len);
    if ((int64_t)len != n * 4)
        luaL_argerror(L, idx, lua_pushfstring(L, "expected %d float32 (%d bytes), got %d bytes", (int)n, (int)(n * 4),
                                              (int)len));
    return (const float *)s;
}

/* media.tensor_f32(blob, shape [, mean, std]) -> owned tensor of the shape,
 * (x - mean) / std along the last dimension when mean and std are given
 * (f32 blobs of that dimension's length; std entries must be > 0). */
static int l_tensor_f32(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t shape[VIMO_MAX_DIMS];
    int nd = lvt_check_shape(L, 2, shape);
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] < 1 || shape[i] > (INT64_C(1) << 31)) luaL_argerror(L, 2, "shape entries must be 1 to 2^31");
        n *= shape[i];
        if (n > (INT64_C(1) << 32)) luaL_argerror(L, 2, "tensor too large");
    }
    if ((int64_t)len != n * 4)
        luaL_argerror(L, 1, lua_pushfstring(L, "blob has %d bytes, shape needs %d", (int)len, (int)(n * 4)));
    int64_t last = shape[nd - 1];
    const float *mean = opt_f32(L, 3, last), *std = opt_f32(L, 4, last);
    if (!mean != !std) luaL_argerror(L, 3, "give both mean and std, or neither");
    for (int64_t k = 0; std && k < last; k++)
        if (!(std[k] > 0) || !isfinite(std[k])) luaL_argerror(L, 4, "std entries must be finite and > 0");
    lvt_tensor *h = lvt_new_owned_holder(L);
    LVT_CHECK(L, vimo_tensor_new(&h->t, nd, shape));
    float *dst = vimo_tensor_data(h->t);
    memcpy(dst, s, len);
    if (mean)
        for (int64_t i = 0; i < n; i++) dst[i] = (dst[i] - mean[i % last]) / std[i % last];
    return 1;
}

/* A cpu, contiguous tensor of n floats at idx (mean/std of hml3d_mirror). */
static const float *check_f32_tensor(lua_State *L, int idx, int64_t n, const char *what)
{
    vimo_tensor *t = lvt_check_tensor(L, idx);
    if (vimo_tensor_device(t) != VIMO_DEVICE_CPU || !vimo_tensor_is_contiguous(t) || vimo_tensor_numel(t) != n)
        luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a contiguous cpu tensor of %d floats", what, (int)n));
    return vimo_tensor_data(t);
}

/* media.hml3d_mirror(x [, mean, std]) -> owned tensor (T, 263): HumanML3D's
 * left/right mirror of motion features x (T, 263) (vimo_hml3d_mirror_features).
 * With mean and std (tensors (263), unlike tensor_f32's blobs) x is normalised, (f - mean) / std, and so
 * is the result: denormalise, mirror, normalise. */
static int l_hml3d_mirror(lua_State *L)
{
    vimo_tensor *x = lvt_check_tensor(L, 1);
    if (vimo_tensor_device(x) != VIMO_DEVICE_CPU || !vimo_tensor_is_contiguous(x) || vimo_tensor_ndim(x) != 2 ||
        vimo_tensor_dim(x, 1) != VIMO_HML3D_DIM || vimo_tensor_dim(x, 0) > INT32_MAX)
        return luaL_argerror(L, 1, "x must be a contiguous cpu tensor (T, 263)");
    const float *mean = NULL, *std = NULL;
    if (lua_isnoneornil(L, 2) != lua_isnoneornil(L, 3))
        return luaL_argerror(L, 2, "give both mean and std, or neither");
    if (!lua_isnoneornil(L, 2)) {
        mean = check_f32_tensor(L, 2, VIMO_HML3D_DIM, "mean");
        std = check_f32_tensor(L, 3, VIMO_HML3D_DIM, "std");
        for (int k = 0; k < VIMO_HML3D_DIM; k++)
            if (!(std[k] > 0) || !isfinite(std[k])) return luaL_argerror(L, 3, "std entries must be finite and > 0");
    }
    int T = (int)vimo_tensor_dim(x, 0);
    int64_t shape[2] = {T, VIMO_HML3D_DIM};
    lvt_tensor *h = lvt_new_owned_holder(L);
    LVT_CHECK(L, vimo_tensor_new(&h->t, 2, shape));
    float *y = vimo_tensor_data(h->t);
    memcpy(y, vimo_tensor_data(x), (size_t)T * VIMO_HML3D_DIM * sizeof *y);
    if (mean) LVT_CHECK(L, vimo_hml3d_denormalize(y, T, mean, std));
    LVT_CHECK(L, vimo_hml3d_mirror_features(y, T, y));
    if (mean) LVT_CHECK(L, vimo_hml3d_normalize(y, T, mean, std));
    return 1;
}

/* media.video_tensor(crops, F, S) -> owned tensor (F, 3, S, S), the CLIP
 * normalisation of vimo_video_sample_clip (x * 1/(255 std) - mean/std per
 * channel, the same float expression, so the values are identical). */
static int l_video_tensor(lua_State *L)
{
    size_t len;
    const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &len);
    lua_Integer F = luaL_checkinteger(L, 2), S = luaL_checkinteger(L, 3);
    luaL_argcheck(L, F >= 1 && F <= VIMO_VIDEO_MAX_SAMPLES, 2, "frame count out of range");
    luaL_argcheck(L, S >= 1 && S <= MEDIA_MAX_SIZE, 3, "size out of range");
    size_t plane = (size_t)S * (size_t)S;
    if (len != (size_t)F * plane * 3)
        luaL_argerror(L, 1, lua_pushfstring(L, "crops have %d bytes, (%d, %d, %d, 3) needs %d", (int)len, (int)F,
                                            (int)S, (int)S, (int)(F * plane * 3)));
    static const float mean[3] = {VIMO_CLIP_MEAN_R, VIMO_CLIP_MEAN_G, VIMO_CLIP_MEAN_B};
    static const float stdv[3] = {VIMO_CLIP_STD_R, VIMO_CLIP_STD_G, VIMO_CLIP_STD_B};
    float a[3], b[3];
    for (int c = 0; c < 3; c++) {
        a[c] = 1.0f / (255.0f * stdv[c]);
        b[c] = -mean[c] / stdv[c];
    }
    lvt_tensor *h = lvt_new_owned_holder(L);
    int64_t shape[4] = {F, 3, S, S};
    LVT_CHECK(L, vimo_tensor_new(&h->t, 4, shape));
    float *dst = vimo_tensor_data(h->t);
    for (lua_Integer f = 0; f < F; f++) {
        const uint8_t *src = s + (size_t)f * plane * 3;
        float *out = dst + (size_t)f * plane * 3;
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++) out[c * plane + p] = src[3 * p + c] * a[c] + b[c];
    }
    return 1;
}

/* media.feature_stats(blobs, dim) -> mean, std (f32 blobs of dim), rows.
 * Population statistics (ddof 0, as numpy's std) over every row of every
 * blob, accumulated in double, two passes. */
static int l_feature_stats(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer dim = luaL_checkinteger(L, 2);
    luaL_argcheck(L, dim >= 1 && dim <= 65536, 2, "dim must be 1 to 65536");
    lua_Integer nb = (lua_Integer)lua_rawlen(L, 1);
    double *acc = lua_newuserdatauv(L, (size_t)dim * 2 * sizeof *acc, 0);
    double *mean = acc, *var = acc + dim;
    memset(acc, 0, (size_t)dim * 2 * sizeof *acc);
    int64_t rows = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (lua_Integer i = 1; i <= nb; i++) {
            lua_rawgeti(L, 1, i);
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            if (!s || len % ((size_t)dim * 4))
                luaL_error(L, "media.feature_stats: blob %d is not rows of %d float32", (int)i, (int)dim);
            const float *x = (const float *)s;
            size_t r = len / ((size_t)dim * 4);
            for (size_t t = 0; t < r; t++)
                for (lua_Integer k = 0; k < dim; k++) {
                    double v = x[t * (size_t)dim + (size_t)k];
                    if (pass == 0) mean[k] += v;
                    else var[k] += (v - mean[k]) * (v - mean[k]);
                }
            if (pass == 0) rows += (int64_t)r;
            lua_pop(L, 1);
        }
        if (rows == 0) luaL_error(L, "media.feature_stats: no rows");
        for (lua_Integer k = 0; k < dim && pass == 0; k++) mean[k] /= (double)rows;
    }
    float *out = lua_newuserdatauv(L, (size_t)dim * 2 * sizeof *out, 0);
    for (lua_Integer k = 0; k < dim; k++) {
        out[k] = (float)mean[k];
        out[dim + k] = (float)sqrt(var[k] / (double)rows);
    }
    push_blob(L, out, (size_t)dim * 4);
    push_blob(L, out + dim, (size_t)dim * 4);
    lua_pushinteger(L, rows);
    return 3;
}

static int npy_gc(lua_State *L)
{
    vimo_npy_free(luaL_checkudata(L, 1, "vimo.media_npy"));
    return 0;
}

/* media.npy_load(path) -> f32 blob, shape table; or nil, msg. */
static int l_npy_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    vimo_npy *a = lua_newuserdatauv(L, sizeof *a, 0); /* freed by __gc if a push raises */
    memset(a, 0, sizeof *a);
    if (luaL_newmetatable(L, "vimo.media_npy")) {
        lua_pushcfunction(L, npy_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (vimo_npy_load(path, a) != VIMO_OK) {
        lua_pushnil(L);
        lua_pushstring(L, vimo_last_error());
        return 2;
    }
    push_blob(L, a->data, (size_t)a->count * 4);
    lua_createtable(L, a->ndim, 0);
    for (int i = 0; i < a->ndim; i++) {
        lua_pushinteger(L, a->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    vimo_npy_free(a);
    return 2;
}

/* media.qa_normalize(answer) -> the answer as vimo_qa_normalize writes it. */
static int l_qa_normalize(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char *out = lua_newuserdatauv(L, n + 1, 0);
    if (vimo_qa_normalize(s, out, n + 1) != VIMO_OK) return lvt_raise(L);
    lua_pushstring(L, out);
    return 1;
}

/* ========================================================================
 * MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md)
 * Encoding: msgpack-c's packer. Decoding: a bounds-checking scan first
 * (every length inside the buffer, container counts no larger than the bytes
 * left, nesting <= MP_MAX_DEPTH, no ext types), then msgpack-c's unpacker,
 * whose up-front container allocations the scan has bounded by the size of
 * the input.
 * ===================================================================== */

#define LVT_MP_BOX "vimo.media_mp"

typedef struct mp_box {
    msgpack_sbuffer sb; /* encoder output (data NULL when unused)      */
    char *buf;          /* file contents being decoded                 */
    msgpack_unpacked up;
    int has_up;
} mp_box;

static int mp_box_gc(lua_State *L)
{
    mp_box *b = luaL_checkudata(L, 1, LVT_MP_BOX);
    msgpack_sbuffer_destroy(&b->sb);
    memset(&b->sb, 0, sizeof b->sb);
    free(b->buf);
    b->buf = NULL;
    if (b->has_up) msgpack_unpacked_destroy(&b->up);
    b->has_up = 0;
    return 0;
}

static mp_box *mp_box_new(lua_State *L)
{
    mp_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    if (luaL_newmetatable(L, LVT_MP_BOX)) {
        lua_pushcfunction(L, mp_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

/* media.bin(s) -> a marker that msgpack_pack writes as bin instead of str. */
static int l_bin(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TSTRING);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    luaL_setmetatable(L, LVT_MEDIA_BIN);
    return 1;
}

typedef struct mp_key {
    int is_int;
    lua_Integer i;
    const char *s;
    size_t n;
} mp_key;

static int mp_key_cmp(const void *pa, const void *pb)
{
    const mp_key *a = pa, *b = pb;
    if (a->is_int != b->is_int) return a->is_int ? -1 : 1;
    if (a->is_int) return (a->i > b->i) - (a->i < b->i);
    int c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);
    return c ? c : (a->n > b->n) - (a->n < b->n);
}

#define MP_CHECK(L, e)                                                          \
    do {                                                                        \
        if ((e) < 0) luaL_error(L, "msgpack_pack: out of memory");             \
    } while (0)

static void mp_encode(lua_State *L, int idx, msgpack_packer *pk, int depth);

static void mp_encode_table(lua_State *L, int idx, msgpack_packer *pk, int depth)
{
    if (lua_getmetatable(L, idx)) {
        luaL_getmetatable(L, LVT_MEDIA_BIN);
        int is_bin = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        if (is_bin) {
            lua_rawgeti(L, idx, 1);
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            if (!s || n > UINT32_MAX) luaL_error(L, "msgpack_pack: bad media.bin value");
            MP_CHECK(L, msgpack_pack_bin(pk, n));
            MP_CHECK(L, msgpack_pack_bin_body(pk, s, n));
            lua_pop(L, 1);
            return;
        }
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    int seq = 1; /* every key an integer in 1..n */
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) seq = 0;
    }
    if (seq && count == n) { /* keys 1..n (or empty): an array */
        if (n > UINT32_MAX) luaL_error(L, "msgpack_pack: array too long");
        MP_CHECK(L, msgpack_pack_array(pk, (size_t)n));
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            mp_encode(L, lua_gettop(L), pk, depth + 1);
            lua_pop(L, 1);
        }
        return;
    }
    /* A map with sorted keys, so that equal tables give equal bytes. */
    mp_key *keys = lua_newuserdatauv(L, (size_t)count * sizeof *keys, 0);
    lua_Integer k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        mp_key *e = &keys[k++];
        if (lua_type(L, -1) == LUA_TSTRING) {
            e->is_int = 0;
            e->s = lua_tolstring(L, -1, &e->n); /* alive: the table holds it */
        } else if (lua_isinteger(L, -1)) {
            e->is_int = 1;
            e->i = lua_tointeger(L, -1);
        } else {
            luaL_error(L, "msgpack_pack: map keys must be strings or integers, got a %s", luaL_typename(L, -1));
        }
    }
    qsort(keys, (size_t)count, sizeof *keys, mp_key_cmp);
    MP_CHECK(L, msgpack_pack_map(pk, (size_t)count));
    for (lua_Integer i = 0; i < count; i++) {
        if (keys[i].is_int) {
            lua_pushinteger(L, keys[i].i);
            MP_CHECK(L, msgpack_pack_int64(pk, keys[i].i));
        } else {
            lua_pushlstring(L, keys[i].s, keys[i].n);
            MP_CHECK(L, msgpack_pack_str(pk, keys[i].n));
            MP_CHECK(L, msgpack_pack_str_body(pk, keys[i].s, keys[i].n));
        }
        lua_rawget(L, idx);
        mp_encode(L, lua_gettop(L), pk, depth + 1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* keys */
}

static void mp_encode(lua_State *L, int idx, msgpack_packer *pk, int depth)
{
    if (depth > MP_MAX_DEPTH) luaL_error(L, "msgpack_pack: nested deeper than %d (a cycle?)", MP_MAX_DEPTH);
    luaL_checkstack(L, 6, "msgpack_pack");
    switch (lua_type(L, idx)) {
    case LUA_TNIL: MP_CHECK(L, msgpack_pack_nil(pk)); break;
    case LUA_TBOOLEAN: MP_CHECK(L, lua_toboolean(L, idx) ? msgpack_pack_true(pk) : msgpack_pack_false(pk)); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) MP_CHECK(L, msgpack_pack_int64(pk, lua_tointeger(L, idx)));
        else MP_CHECK(L, msgpack_pack_double(pk, lua_tonumber(L, idx)));
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        if (n > UINT32_MAX) luaL_error(L, "msgpack_pack: string too long");
        MP_CHECK(L, msgpack_pack_str(pk, n));
        MP_CHECK(L, msgpack_pack_str_body(pk, s, n));
        break;
    }
    case LUA_TTABLE: mp_encode_table(L, idx, pk, depth); break;
    default: luaL_error(L, "msgpack_pack: cannot encode a %s", luaL_typename(L, idx));
    }
}

/* Encodes the value at idx into a new box (left on the stack). */
static mp_box *mp_pack_value(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    mp_box *b = mp_box_new(L);
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b->sb, msgpack_sbuffer_write);
    mp_encode(L, idx, &pk, 0);
    return b;
}

/* media.msgpack_pack(value) -> string. Tables with keys 1..n (and empty
 * tables) become arrays, others maps with sorted keys (strings or integers);
 * media.bin(s) becomes bin. Raises on functions, userdata, deep nesting. */
static int l_msgpack_pack(lua_State *L)
{
    luaL_checkany(L, 1);
    mp_box *b = mp_pack_value(L, 1);
    lua_pushlstring(L, b->sb.data ? b->sb.data : "", b->sb.size);
    return 1;
}

/* ---- decoding ------------------------------------------------------------ */

typedef struct mp_scan {
    const uint8_t *p;
    size_t n;
    size_t off;
    int64_t objects;
    const char *what; /* set on failure */
} mp_scan;

static uint64_t be(const uint8_t *p, int k)
{
    uint64_t v = 0;
    for (int i = 0; i < k; i++) v = v << 8 | p[i];
    return v;
}

/* Validates one object at s->off and moves past it; 0 on failure. */
static int mp_scan_one(mp_scan *s, int depth)
{
    if (depth > MP_MAX_DEPTH) return s->what = "nested too deep", 0;
    if (++s->objects > (INT64_C(1) << 26)) return s->what = "more than 2^26 objects", 0;
    if (s->off >= s->n) return s->what = "truncated", 0;
    size_t at = s->off;
    uint8_t c = s->p[at];
    size_t left = s->n - s->off - 1;
    uint64_t len = 0, items = 0;
    int hdr = 0; /* bytes of length field */
    int container = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        s->off += 1;
        return 1;
    }
    if (c >= 0x80 && c <= 0x8f) items = 2u * (c & 0x0f), container = 1;
    else if (c >= 0x90 && c <= 0x9f) items = c & 0x0f, container = 1;
    else if (c >= 0xa0 && c <= 0xbf) len = c & 0x1f;
    else switch (c) {
        case 0xc4: case 0xd9: hdr = 1; break;
        case 0xc5: case 0xda: hdr = 2; break;
        case 0xc6: case 0xdb: hdr = 4; break;
        case 0xca: len = 4; break;
        case 0xcb: len = 8; break;
        case 0xcc: case 0xd0: len = 1; break;
        case 0xcd: case 0xd1: len = 2; break;
        case 0xce: case 0xd2: len = 4; break;
        case 0xcf: case 0xd3: len = 8; break;
        case 0xdc: hdr = 2, container = 1; break;
        case 0xdd: hdr = 4, container = 1; break;
        case 0xde: hdr = 2, container = 2; break;
        case 0xdf: hdr = 4, container = 2; break;
        default: return s->what = (c == 0xc1 ? "never-used byte 0xc1" : "ext types are not supported"), 0;
        }
    if ((size_t)hdr > left) return s->what = "truncated length", 0;
    if (hdr) {
        uint64_t v = be(s->p + s->off + 1, hdr);
        if (container) items = container == 2 ? 2 * v : v;
        else len = v;
    }
    left -= (size_t)hdr;
    s->off += 1 + (size_t)hdr;
    if (!container) {
        if (len > left) {
            s->off = at;
            return s->what = "length beyond the end", 0;
        }
        s->off += (size_t)len;
        return 1;
    }
    if (items > left) {
        s->off = at; /* report the container's own offset */
        return s->what = "container count larger than the bytes left", 0;
    }
    for (uint64_t i = 0; i < items; i++)
        if (!mp_scan_one(s, depth + 1)) return 0;
    return 1;
}

static int mp_push(lua_State *L, const msgpack_object *o, int depth);

/* Pushes o; returns 0 (nothing pushed) for a map key type Lua cannot hold. */
static int mp_push(lua_State *L, const msgpack_object *o, int depth)
{
    luaL_checkstack(L, 4, "msgpack_unpack");
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: lua_pushnil(L); return 1;
    case MSGPACK_OBJECT_BOOLEAN: lua_pushboolean(L, o->via.boolean); return 1;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX) lua_pushnumber(L, (lua_Number)o->via.u64);
        else lua_pushinteger(L, (lua_Integer)o->via.u64);
        return 1;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: lua_pushinteger(L, (lua_Integer)o->via.i64); return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: lua_pushnumber(L, o->via.f64); return 1;
    case MSGPACK_OBJECT_STR: lua_pushlstring(L, o->via.str.ptr, o->via.str.size); return 1;
    case MSGPACK_OBJECT_BIN: lua_pushlstring(L, o->via.bin.ptr, o->via.bin.size); return 1;
    case MSGPACK_OBJECT_ARRAY: {
        const msgpack_object_array *a = &o->via.array;
        lua_createtable(L, (int)a->size, 0);
        for (uint32_t i = 0; i < a->size; i++) {
            if (!mp_push(L, &a->ptr[i], depth + 1)) return 0;
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 1;
    }
    case MSGPACK_OBJECT_MAP: {
        const msgpack_object_map *m = &o->via.map;
        lua_createtable(L, 0, (int)m->size);
        for (uint32_t i = 0; i < m->size; i++) {
            msgpack_object_type kt = m->ptr[i].key.type;
            if (kt != MSGPACK_OBJECT_STR && kt != MSGPACK_OBJECT_POSITIVE_INTEGER &&
                kt != MSGPACK_OBJECT_NEGATIVE_INTEGER)
                return 0;
            if (!mp_push(L, &m->ptr[i].key, depth + 1)) return 0;
            if (!mp_push(L, &m->ptr[i].val, depth + 1)) return 0;
            lua_rawset(L, -3);
        }
        return 1;
    }
    default: return 0;
    }
}

/* Decodes n bytes (one object, nothing after it); name is used in messages.
 * Pushes the value, or nil and "msgpack: NAME: offset N: what". */
static int mp_decode(lua_State *L, mp_box *b, const char *p, size_t n, const char *name)
{
    mp_scan s = {(const uint8_t *)p, n, 0, 0, NULL};
    if (!mp_scan_one(&s, 0)) {
        lua_pushnil(L);
        lua_pushfstring(L, "msgpack: %s: offset %d: %s", name, (int)s.off, s.what);
        return 2;
    }
    if (s.off != n) {
        lua_pushnil(L);
        lua_pushfstring(L, "msgpack: %s: offset %d: %d bytes after the value", name, (int)s.off, (int)(n - s.off));
        return 2;
    }
    msgpack_unpacked_init(&b->up);
    b->has_up = 1;
    size_t off = 0;
    if (msgpack_unpack_next(&b->up, p, n, &off) != MSGPACK_UNPACK_SUCCESS) {
        lua_pushnil(L);
        lua_pushfstring(L, "msgpack: %s: the decoder refused the value (out of memory?)", name);
        return 2;
    }
    int top = lua_gettop(L);
    if (!mp_push(L, &b->up.data, 0)) {
        lua_settop(L, top);
        lua_pushnil(L);
        lua_pushfstring(L, "msgpack: %s: a map key is neither a string nor an integer", name);
        return 2;
    }
    return 1;
}

/* media.msgpack_unpack(bytes) -> value, or nil, message. bin and str both
 * come back as strings. */
static int l_msgpack_unpack(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    mp_box *b = mp_box_new(L);
    return mp_decode(L, b, p, n, "(string)");
}

/* media.msgpack_load(path) -> value, or nil, message. */
static int l_msgpack_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mp_box *b = mp_box_new(L);
    FILE *f = fopen(path, "rb");
    if (!f) {
        lua_pushnil(L);
        lua_pushfstring(L, "msgpack: %s: %s", path, strerror(errno));
        return 2;
    }
    int64_t size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || size > MEDIA_MAX_FILE || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        lua_pushnil(L);
        lua_pushfstring(L, "msgpack: %s: cannot size the file (or larger than 4 GiB)", path);
        return 2;
    }
    b->buf = malloc((size_t)size + 1);
    size_t got = b->buf ? fread(b->buf, 1, (size_t)size, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!b->buf || got != (size_t)size || err) {
        lua_pushnil(L);
        lua_pushfstring(L, "msgpack: %s: %s", path, !b->buf ? "out of memory" : "read failed");
        return 2;
    }
    return mp_decode(L, b, b->buf, (size_t)size, path);
}

/* media.msgpack_save(path, value) -> true, or nil, message. Written to
 * PATH.tmp.<pid>, flushed, fsynced and renamed over PATH. */
static int l_msgpack_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checkany(L, 2);
    mp_box *b = mp_pack_value(L, 2);
    const char *tmp = lua_pushfstring(L, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    const char *fail = NULL;
    if (!f) fail = "open";
    else {
        if (b->sb.size && fwrite(b->sb.data, 1, b->sb.size, f) != b->sb.size) fail = "write";
        if (!fail && fflush(f) != 0) fail = "flush";
        if (!fail && fsync(fileno(f)) != 0) fail = "fsync";
        if (fclose(f) != 0 && !fail) fail = "close";
        if (!fail && rename(tmp, path) != 0) fail = "rename";
        if (fail) remove(tmp);
    }
    if (fail) {
        lua_pushnil(L);
        lua_pushfstring(L, "msgpack: %s: %s failed: %s", path, fail, strerror(errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ========================================================================
 * Registration
 * ===================================================================== */

VIMO_API int luaopen_vimo_media(lua_State *L)
{
    if (vimo_init() != VIMO_OK) return lvt_raise(L);
    luaL_newmetatable(L, LVT_MEDIA_BIN);
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"process", l_process},           {"video_sample", l_video_sample},
        {"tensor_f32", l_tensor_f32},     {"video_tensor", l_video_tensor},
        {"feature_stats", l_feature_stats}, {"npy_load", l_npy_load},
        {"hml3d_mirror", l_hml3d_mirror},
        {"qa_normalize", l_qa_normalize}, {"bin", l_bin},
        {"msgpack_pack", l_msgpack_pack}, {"msgpack_unpack", l_msgpack_unpack},
        {"msgpack_save", l_msgpack_save}, {"msgpack_load", l_msgpack_load},
        {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_pushinteger(L, VIMO_HML3D_DIM);
    lua_setfield(L, -2, "feature_dim");
    return 1;
}

/* For luaopen_vimo: sets vimo.media on the module table on top of the stack. */
void lvt_open_media(lua_State *L)
{
    luaopen_vimo_media(L);
    lua_setfield(L, -2, "media");
}
