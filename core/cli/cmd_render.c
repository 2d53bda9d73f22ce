/*
 * cmd_render.c - `vimo render`: a BVH clip (or HumanML3D joints .npy) to an
 * MP4 of the moving skeleton.
 *
 * Motion files are read by libvimo_motion (bvh.h: load + forward
 * kinematics with End Sites; npy.h + humanml3d.h for (T, 22, 3) joints);
 * drawing and encoding are libvimo_video's (render.h). Does not retarget,
 * smooth or crop the motion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vimo/bvh.h"
#include "vimo/humanml3d.h"
#include "vimo/npy.h"
#include "vimo/render.h"

static const char *const k_valued[] = {"view", "size", "fps", "src-fps", NULL};

typedef struct motion {
    float *joints; /* (T, J, 3) metres */
    int *parents;  /* (J) */
    int T, J;
    double fps;
} motion;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Drops node 0 when it never moves and has one child: a placeholder ROOT
 * such as Bandai-Namco's joint_Root, which stays at the origin while Hips
 * carries the motion. Drawn, it is a long bone to nowhere, and the camera
 * would follow it instead of the body. */
static void drop_static_root(motion *m)
{
    int children = 0;
    for (int j = 1; j < m->J; j++) children += m->parents[j] == 0;
    if (m->J < 2 || children != 1) return;
    for (int t = 1; t < m->T; t++)
        for (int c = 0; c < 3; c++)
            if (m->joints[(size_t)t * m->J * 3 + c] != m->joints[c]) return;
    int J = m->J - 1;
    for (int t = 0; t < m->T; t++) /* in place: rows only move left */
        memmove(m->joints + (size_t)t * J * 3, m->joints + ((size_t)t * m->J + 1) * 3,
                sizeof *m->joints * (size_t)J * 3);
    for (int j = 0; j < J; j++) m->parents[j] = m->parents[j + 1] - 1; /* 0 -> -1 */
    m->J = J;
}

/* Joints and End Sites of a BVH, in metres (the library's unit guess). */
static vimo_status load_bvh(const char *path, motion *m)
{
    vimo_bvh *b = NULL;
    vimo_status st = vimo_bvh_load(&b, path);
    if (st != VIMO_OK) return st;
    m->T = vimo_bvh_frame_count(b);
    m->J = vimo_bvh_node_count(b);
    m->fps = vimo_bvh_fps(b);
    if (m->T < 1) {
        vimo_bvh_free(b);
        return vimo_error(VIMO_ERR_FORMAT, "render: %s: no frames", path);
    }
    m->joints = malloc(sizeof *m->joints * (size_t)m->T * m->J * 3);
    m->parents = malloc(sizeof *m->parents * (size_t)m->J);
    if (!m->joints || !m->parents) st = vimo_error(VIMO_ERR_NOMEM, "render: %s", path);
    else st = vimo_bvh_fk(b, 0.0, 1, m->joints);
    for (int j = 0; st == VIMO_OK && j < m->J; j++) m->parents[j] = vimo_bvh_node_parent(b, j);
    vimo_bvh_free(b);
    if (st == VIMO_OK) drop_static_root(m);
    return st;
}

/* HumanML3D new_joints: float32 (T, 22, 3) metres, 20 fps. */
static vimo_status load_npy(const char *path, motion *m)
{
    vimo_npy a;
    vimo_status st = vimo_npy_load(path, &a);
    if (st != VIMO_OK) return st;
    if (a.ndim != 3 || a.shape[1] != VIMO_HML3D_JOINTS || a.shape[2] != 3 || a.shape[0] < 1 ||
        a.shape[0] > VIMO_RENDER_MAX_FRAMES) {
        vimo_npy_free(&a);
        return vimo_error(VIMO_ERR_SHAPE, "render: %s: expected HumanML3D joints (T, 22, 3)",
                          path);
    }
    m->T = (int)a.shape[0];
    m->J = VIMO_HML3D_JOINTS;
    m->fps = VIMO_HML3D_FPS;
    m->joints = a.data; /* take ownership */
    m->parents = malloc(sizeof *m->parents * VIMO_HML3D_JOINTS);
    if (!m->parents) return vimo_error(VIMO_ERR_NOMEM, "render: %s", path);
    memcpy(m->parents, vimo_hml3d_parents(), sizeof *m->parents * VIMO_HML3D_JOINTS);
    return VIMO_OK;
}

static int parse_view(const char *s, vimo_render_view *v)
{
    if (!s || strcmp(s, "front") == 0) *v = VIMO_VIEW_FRONT;
    else if (strcmp(s, "side") == 0) *v = VIMO_VIEW_SIDE;
    else if (strcmp(s, "three-quarter") == 0) *v = VIMO_VIEW_THREE_QUARTER;
    else return -1;
    return 0;
}

static int parse_opts(int argc, char **argv, vimo_render_opts *o, double *src_fps)
{
    vimo_render_opts_default(o);
    const char *s;
    if (parse_view(vimo_cli_opt(argc, argv, "view"), &o->view)) {
        fprintf(stderr, "vimo render: --view must be front, side or three-quarter\n");
        return -1;
    }
    if ((s = vimo_cli_opt(argc, argv, "size"))) {
        int n = atoi(s);
        if (n < 16 || n > 4096 || n & 1) {
            fprintf(stderr, "vimo render: --size %s: expected an even number 16..4096\n", s);
            return -1;
        }
        o->width = o->height = n;
    }
    if ((s = vimo_cli_opt(argc, argv, "fps"))) {
        o->fps = atof(s);
        if (!(o->fps >= 0 && o->fps <= 240)) {
            fprintf(stderr, "vimo render: --fps %s: expected 0 (= source) .. 240\n", s);
            return -1;
        }
    }
    if ((s = vimo_cli_opt(argc, argv, "src-fps"))) {
        *src_fps = atof(s);
        if (!(*src_fps > 0 && *src_fps <= 1000)) {
            fprintf(stderr, "vimo render: --src-fps %s: expected 0 < fps <= 1000\n", s);
            return -1;
        }
    }
    o->follow = !vimo_cli_flag(argc, argv, "fixed");
    return 0;
}

static int run(int argc, char **argv)
{
    const char *in = vimo_cli_pos(argc, argv, k_valued, 0);
    const char *out = vimo_cli_pos(argc, argv, k_valued, 1);
    if (!in || !out) {
        fprintf(stderr, "usage: vimo render IN.bvh|IN.npy OUT.mp4 [options] (vimo help render)\n");
        return 2;
    }
    vimo_render_opts o;
    double src_fps = 0;
    if (parse_opts(argc, argv, &o, &src_fps)) return 2;
    motion m = {0};
    vimo_status st = ends_with(in, ".npy") ? load_npy(in, &m) : load_bvh(in, &m);
    if (st == VIMO_OK) {
        if (src_fps > 0) m.fps = src_fps;
        st = vimo_render_mp4(m.joints, m.T, m.J, m.parents, m.fps, &o, out);
    }
    int frames = 0;
    if (st == VIMO_OK) vimo_render_frame_count(m.T, m.fps, &o, &frames);
    free(m.joints);
    free(m.parents);
    if (st != VIMO_OK) {
        fprintf(stderr, "vimo render: %s\n", vimo_last_error());
        return 1;
    }
    printf("%s: %d frames, %dx%d @ %g fps (source %d frames @ %g fps, %d joints)\n", out, frames,
           o.width, o.height, o.fps > 0 ? o.fps : m.fps, m.T, m.fps, m.J);
    return 0;
}

VIMO_COMMAND(g_cmd_render, "render", "render a motion clip (BVH, HumanML3D .npy) to MP4",
             "usage: vimo render IN OUT.mp4 [--view front|side|three-quarter] [--size 256]\n"
             "                   [--fps 20] [--fixed] [--src-fps F]\n"
             "  IN is a BVH file (.bvh, .bvh.gz: joints and End Sites, units guessed\n"
             "  and converted to metres; a ROOT that never moves and has one child,\n"
             "  like Bandai-Namco's joint_Root, is not drawn) or HumanML3D joints\n"
             "  (T, 22, 3) .npy (20 fps).\n"
             "  --view    camera preset (default front: on the +Z side, 15 deg above)\n"
             "  --size    output width = height in pixels, even (default 256)\n"
             "  --fps     output frame rate (default 20; 0 keeps the source rate);\n"
             "            frames are interpolated linearly in time\n"
             "  --fixed   fixed camera framing the whole clip (default: the camera\n"
             "            follows the root and the floor grid slides under the body)\n"
             "  --src-fps override the source frame rate\n"
             "  Writes H.264 (libx264) yuv420p MP4, MPEG-4 part 2 if libx264 is absent.",
             run)
