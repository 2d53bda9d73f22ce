/*
 * pipeline.c - resampling and the BVH -> joints -> features pipeline, one file
 * at a time (see vimo/motion.h). Batch over folders lives in the CLI.
 *
 * Deliberately thin: every stage is its own public call (parse, FK,
 * retarget, resample, features) so benchmarks can time them apart.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "motion_internal.h"
#include "vimo/motion.h"

/* Stride k when src/dst is an integer to 0.1%, else 0 (interpolate). */
static int stride_of(double src, double dst)
{
    double r = src / dst;
    long k = lround(r);
    return (k >= 1 && fabs(r - (double)k) <= 1e-3 * r) ? (int)k : 0;
}

int vimo_motion_resample_count(int T, double src_fps, double dst_fps)
{
    if (T <= 0 || !(src_fps > 0) || !(dst_fps > 0)) return 0;
    int k = stride_of(src_fps, dst_fps);
    if (k) return (T + k - 1) / k;
    /* The 1e-4 frame slack absorbs rounded frame times. */
    double n = floor((double)(T - 1) * dst_fps / src_fps + 1e-4) + 1.0;
    return n > VIMO_BVH_MAX_FRAMES ? 0 : (int)n; /* absurd upsampling: refuse */
}

/* Output frame I reads source frames A and A + 1 with weight F on the second
 * (F = 0: A only). Shared by the array and the streaming resamplers. */
static void source_of(int i, int T, double src_fps, double dst_fps, int *a, double *f)
{
    int k = stride_of(src_fps, dst_fps);
    if (k) {
        *a = i * k;
        *f = 0.0;
        return;
    }
    double s = (double)i * src_fps / dst_fps;
    *a = (int)floor(s);
    *f = s - *a;
    if (*a >= T - 1) *a = T - 1, *f = 0.0;
}

vimo_status vimo_motion_resample(const float *in, int T, int K, double src_fps, double dst_fps, float *out)
{
    if (!in || !out || T < 1 || K < 1 || !(src_fps > 0) || !(dst_fps > 0))
        return vimo_error(VIMO_ERR_INVALID, "resample: bad arguments (T %d, K %d, %g -> %g fps)", T, K, src_fps,
                          dst_fps);
    int n = vimo_motion_resample_count(T, src_fps, dst_fps);
    if (n < 1) return vimo_error(VIMO_ERR_INVALID, "resample: %g -> %g fps is out of range", src_fps, dst_fps);
    for (int i = 0; i < n; i++) {
        int a;
        double f;
        source_of(i, T, src_fps, dst_fps, &a, &f);
        const float *p = in + (size_t)a * (size_t)K, *q = f > 0 ? p + K : p;
        float *o = out + (size_t)i * (size_t)K;
        for (int c = 0; c < K; c++) o[c] = (float)((1.0 - f) * p[c] + f * q[c]);
    }
    return VIMO_OK;
}

void vimo_motion_opts_init(vimo_motion_opts *o)
{
    if (!o) return;
    o->scale = 0.0;
    o->fps = VIMO_HML3D_FPS;
    o->map = NULL;
    o->skip_frames = -1;
    o->mirror = 0;
}

/* The file's rate, snapped to the nearest integer when within 0.01%: frame
 * times are written rounded (0.0333333 s -> 30.00003 fps), and over a long
 * clip the error would drop the last output frame. 29.97 fps stays. */
static double nominal_fps(const vimo_bvh *b)
{
    double f = vimo_bvh_fps(b), r = floor(f + 0.5);
    return r >= 1 && fabs(f - r) <= 1e-4 * f ? r : f;
}

typedef struct plan {
    const vimo_joint_map *map;
    double scale, fps, src_fps;
    int skip;  /* leading frames dropped: the map's or the caller's      */
    int trim;  /* then leading frames dropped as a capture glitch        */
    int T_in;  /* source frames used                                     */
    int T_out; /* frames after resampling                                */
} plan;

/* Streams retargeted source frames: FK of one frame at a time, the last two
 * kept, so memory is O(nodes) whatever the clip length. */
typedef struct src_cache {
    const vimo_bvh *b;
    const plan *p;
    map_idx map;     /* p->map resolved against b             */
    double *scratch; /* 12 N                                  */
    float *nodes;    /* (N, 3)                                 */
    float slot[2][VIMO_HML3D_JOINTS * 3];
    int idx[2];      /* file frame held by each slot, -1 none */
} src_cache;

static vimo_status cache_init(src_cache *c, const vimo_bvh *b, const plan *p)
{
    size_t N = (size_t)vimo_bvh_node_count(b);
    c->b = b;
    c->p = p;
    c->scratch = malloc(N * 12 * sizeof *c->scratch);
    c->nodes = malloc(N * 3 * sizeof *c->nodes);
    c->idx[0] = c->idx[1] = -1;
    if (!c->scratch || !c->nodes) return vimo_error(VIMO_ERR_NOMEM, "motion: %s: out of memory", vimo_bvh_name(b));
    return vimo_map_resolve_(b, p->map, &c->map);
}

static void cache_free(src_cache *c)
{
    free(c->scratch);
    free(c->nodes);
}

/* The 22 joints of file frame T (metres). */
static vimo_status cache_get(src_cache *c, int t, const float **out)
{
    for (int s = 0; s < 2; s++)
        if (c->idx[s] == t) return *out = c->slot[s], VIMO_OK;
    int s = c->idx[0] < c->idx[1] ? 0 : 1; /* frames go forward: evict the older */
    vimo_bvh_fk_frame_(c->b, c->p->scale, t, c->scratch, c->nodes);
    vimo_map_apply_(&c->map, c->nodes, c->slot[s]);
    c->idx[s] = t;
    *out = c->slot[s];
    return VIMO_OK;
}

/* Pelvis speed above which consecutive frames cannot both be a human. The
 * sprint record is about 12 m/s; CMU 07_12 starts with two frames whose
 * root jumps 2.6 m in 1/120 s (317 m/s) to the real trajectory. */
#define GLITCH_SPEED 20.0

/* Number of leading frames (after p->skip) to drop: up to and including the
 * last frame within the first second followed by a pelvis jump faster than
 * GLITCH_SPEED. Mid-clip glitches are left alone. */
static vimo_status leading_glitch(const vimo_bvh *b, const plan *p, int *trim)
{
    vimo_status st = VIMO_OK;
    src_cache c = {0};
    int T = vimo_bvh_frame_count(b) - p->skip;
    int n = p->src_fps < (double)T ? (int)ceil(p->src_fps) : T;
    *trim = 0;
    VIMO_TRY(cache_init(&c, b, p));
    for (int t = 1; t < n; t++) {
        const float *a, *z;
        VIMO_TRY(cache_get(&c, p->skip + t - 1, &a));
        VIMO_TRY(cache_get(&c, p->skip + t, &z));
        double d = sqrt((double)(z[0] - a[0]) * (z[0] - a[0]) + (double)(z[1] - a[1]) * (z[1] - a[1]) +
                        (double)(z[2] - a[2]) * (z[2] - a[2]));
        if (d * p->src_fps > GLITCH_SPEED) *trim = t;
    }
fail:
    cache_free(&c);
    return st;
}

static vimo_status make_plan(const vimo_bvh *b, const vimo_motion_opts *o, plan *p)
{
    vimo_motion_opts d;
    vimo_status st = VIMO_OK;
    if (!b) return vimo_error(VIMO_ERR_INVALID, "motion: NULL bvh");
    if (!o) vimo_motion_opts_init(&d), o = &d;
    p->map = o->map;
    if (!p->map) VIMO_TRY(vimo_joint_map_detect(b, &p->map));
    VIMO_TRY(vimo_joint_map_check(b, p->map));
    p->scale = o->scale > 0 ? o->scale : vimo_bvh_auto_scale(b);
    p->fps = o->fps > 0 ? o->fps : VIMO_HML3D_FPS;
    p->skip = o->skip_frames >= 0 ? o->skip_frames : p->map->skip_frames;
    p->src_fps = nominal_fps(b);
    p->trim = 0;
    if (vimo_bvh_frame_count(b) - p->skip < 1)
        return vimo_error(VIMO_ERR_INVALID, "motion: %s: %d frames, none left after skipping %d", vimo_bvh_name(b),
                          vimo_bvh_frame_count(b), p->skip);
    VIMO_TRY(leading_glitch(b, p, &p->trim));
    p->T_in = vimo_bvh_frame_count(b) - p->skip - p->trim;
    p->T_out = vimo_motion_resample_count(p->T_in, p->src_fps, p->fps);
    if (p->T_out < 1)
        return vimo_error(VIMO_ERR_INVALID, "motion: %s: cannot resample %d frames %g -> %g fps", vimo_bvh_name(b),
                          p->T_in, p->src_fps, p->fps);
fail:
    return st;
}

vimo_status vimo_motion_bvh_frames(const vimo_bvh *b, const vimo_motion_opts *o, int *T_out)
{
    plan p;
    if (!T_out) return vimo_error(VIMO_ERR_INVALID, "motion: NULL argument");
    vimo_status st = make_plan(b, o, &p);
    *T_out = st ? 0 : p.T_out;
    return st;
}

vimo_status vimo_motion_bvh_joints(const vimo_bvh *b, const vimo_motion_opts *o, float *out)
{
    vimo_status st = VIMO_OK;
    src_cache c = {0};
    plan p;
    if (!out) return vimo_error(VIMO_ERR_INVALID, "motion: NULL output");
    VIMO_TRY(make_plan(b, o, &p));
    VIMO_TRY(cache_init(&c, b, &p));
    int first = p.skip + p.trim;
    for (int i = 0; i < p.T_out; i++) {
        int a;
        double f;
        const float *x, *y;
        source_of(i, p.T_in, p.src_fps, p.fps, &a, &f);
        VIMO_TRY(cache_get(&c, first + a, &x));
        y = x;
        if (f > 0) VIMO_TRY(cache_get(&c, first + a + 1, &y));
        float *dst = out + (size_t)i * VIMO_HML3D_JOINTS * 3;
        for (int k = 0; k < VIMO_HML3D_JOINTS * 3; k++) dst[k] = (float)((1.0 - f) * x[k] + f * y[k]);
    }
fail:
    cache_free(&c);
    return st;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Joints (T, 22, 3) -> features (T-1, 263) saved to OUT. */
static vimo_status save_features(const char *out, const float *joints, int T, int *frames)
{
    if (T < 2) return vimo_error(VIMO_ERR_INVALID, "motion: %s: %d frame(s) at 20 fps, features need 2", out, T);
    float *feat = malloc((size_t)(T - 1) * VIMO_HML3D_DIM * sizeof *feat);
    if (!feat) return vimo_error(VIMO_ERR_NOMEM, "motion: out of memory");
    vimo_status st = vimo_hml3d_features(joints, T, feat, NULL);
    if (!st) st = vimo_npy_save(out, feat, 2, (int64_t[]){T - 1, VIMO_HML3D_DIM});
    if (!st && frames) *frames = T - 1;
    free(feat);
    return st;
}

/* IN is a .npy of joints (T, 22, 3) at 20 fps: features only. */
static vimo_status convert_npy(const char *in, const char *out, int joints_only, int mirror, int *frames)
{
    vimo_status st = VIMO_OK;
    vimo_npy a = {0};
    if (joints_only) return vimo_error(VIMO_ERR_INVALID, "motion: %s already holds joints", in);
    VIMO_TRY(vimo_npy_load(in, &a));
    if (a.ndim != 3 || a.shape[1] != VIMO_HML3D_JOINTS || a.shape[2] != 3 || a.shape[0] > VIMO_BVH_MAX_FRAMES) {
        st = vimo_error(VIMO_ERR_SHAPE, "motion: %s: expected joints (T, 22, 3), got %d dims", in, a.ndim);
        goto fail;
    }
    if (mirror && a.shape[0] >= 1) st = vimo_hml3d_mirror_joints(a.data, (int)a.shape[0], a.data);
    if (!st) st = save_features(out, a.data, (int)a.shape[0], frames); /* names OUT when T < 2 */
fail:
    vimo_npy_free(&a);
    return st;
}

vimo_status vimo_motion_convert(const char *in, const char *out, const vimo_motion_opts *o, int joints_only,
                                int *frames)
{
    vimo_status st = VIMO_OK;
    vimo_bvh *b = NULL;
    float *joints = NULL;
    int T = 0;
    if (!in || !out) return vimo_error(VIMO_ERR_INVALID, "motion: convert: NULL path");
    if (frames) *frames = 0;
    int mirror = o && o->mirror;
    if (ends_with(in, ".npy")) return convert_npy(in, out, joints_only, mirror, frames);
    VIMO_TRY(vimo_bvh_load(&b, in));
    VIMO_TRY(vimo_motion_bvh_frames(b, o, &T));
    joints = malloc((size_t)T * VIMO_HML3D_JOINTS * 3 * sizeof *joints);
    if (!joints) {
        st = vimo_error(VIMO_ERR_NOMEM, "motion: %s: out of memory", in);
        goto fail;
    }
    VIMO_TRY(vimo_motion_bvh_joints(b, o, joints));
    if (mirror) VIMO_TRY(vimo_hml3d_mirror_joints(joints, T, joints));
    if (joints_only) {
        VIMO_TRY(vimo_npy_save(out, joints, 3, (int64_t[]){T, VIMO_HML3D_JOINTS, 3}));
        if (frames) *frames = T;
    } else {
        st = save_features(out, joints, T, frames);
        if (st && st != VIMO_ERR_NOMEM && st != VIMO_ERR_IO) {
            /* Prefix the input name: the feature code does not know it. */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", vimo_last_error());
            st = vimo_error(st, "motion: %s: %s", in, msg);
        }
    }
fail:
    vimo_bvh_free(b);
    free(joints);
    return st;
}
