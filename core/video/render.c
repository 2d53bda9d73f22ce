/*
 * render.c - skeleton motion to RGB frames with cairo, and to MP4 through
 * the video writer (contract in vimo/render.h).
 *
 * The 3D part is only the pinhole projection and a depth sort; every pixel
 * is drawn by cairo (strokes, arcs, gradients). Does not: draw meshes,
 * compute lighting, resolve intersections beyond painter's order, or clip
 * bones that cross the near plane (they are skipped; the presets keep the
 * whole motion in front of the camera).
 */
#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/render.h"
#include "vimo/video.h"

#define NEAR_Z 0.05         /* metres: nothing closer is drawn             */
#define PRESET_FOV_DEG 40.0
#define PRESET_ELEV_DEG 15.0
#define FRAME_MARGIN 1.1
#define MIN_DIST 1.0        /* metres: presets never come closer           */
#define GRID_STEP 0.5       /* metres                                      */
#define GRID_PAD 1.0        /* metres of floor beyond the motion           */
#define DEPTH_DARKEN 0.35

static const double k_up[3] = {0, 1, 0};
static const uint8_t k_palette[][3] = {
    {70, 90, 110}, {220, 60, 50}, {40, 110, 220}, {240, 170, 30},
    {60, 170, 90}, {150, 80, 200}, {30, 170, 170}, {230, 110, 170},
};
#define PALETTE_N (int)(sizeof k_palette / sizeof k_palette[0])

/* ---- camera math ------------------------------------------------------------ */

typedef struct cam_basis {
    double eye[3], r[3], u[3], f[3]; /* right, up, forward (unit)     */
    double F, cx, cy;                /* focal length (px), centre (px) */
} cam_basis;

static void cross(const double a[3], const double b[3], double o[3])
{
    o[0] = a[1] * b[2] - a[2] * b[1];
    o[1] = a[2] * b[0] - a[0] * b[2];
    o[2] = a[0] * b[1] - a[1] * b[0];
}

static double dot(const double a[3], const double b[3])
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static int normalize(double v[3])
{
    double n = sqrt(dot(v, v));
    if (!(n > 1e-9)) return -1;
    for (int i = 0; i < 3; i++) v[i] /= n;
    return 0;
}

static vimo_status basis_init(const vimo_camera *c, int W, int H, cam_basis *b)
{
    for (int i = 0; i < 3; i++) {
        b->eye[i] = c->eye[i];
        b->f[i] = c->target[i] - c->eye[i];
    }
    if (!(c->fov_y > 1e-3 && c->fov_y < M_PI - 1e-3) || normalize(b->f))
        return vimo_error(VIMO_ERR_INVALID, "render: camera: fov %g rad or eye == target",
                          c->fov_y);
    cross(b->f, k_up, b->r);
    if (normalize(b->r) || sqrt(dot(b->f, b->f)) < 1e-9)
        return vimo_error(VIMO_ERR_INVALID, "render: camera looks straight up or down");
    cross(b->r, b->f, b->u);
    b->F = (H / 2.0) / tan(c->fov_y / 2.0);
    b->cx = W / 2.0;
    b->cy = H / 2.0;
    return VIMO_OK;
}

/* World -> camera coordinates (x right, y up, z depth). */
static void to_cam(const cam_basis *b, const double p[3], double c[3])
{
    double d[3] = {p[0] - b->eye[0], p[1] - b->eye[1], p[2] - b->eye[2]};
    c[0] = dot(d, b->r);
    c[1] = dot(d, b->u);
    c[2] = dot(d, b->f);
}

static void cam_to_px(const cam_basis *b, const double c[3], double *px, double *py)
{
    *px = b->cx + b->F * c[0] / c[2];
    *py = b->cy - b->F * c[1] / c[2];
}

vimo_status vimo_camera_project(const vimo_camera *cam, int width, int height, const double p[3],
                                double *px, double *py, double *depth)
{
    if (!cam || !p || !px || !py || width < 1 || height < 1)
        return vimo_error(VIMO_ERR_INVALID, "render: camera_project: bad arguments");
    cam_basis b;
    vimo_status st = basis_init(cam, width, height, &b);
    if (st != VIMO_OK) return st;
    double c[3];
    to_cam(&b, p, c);
    if (depth) *depth = c[2];
    if (!(c[2] > 0))
        return vimo_error(VIMO_ERR_STATE, "render: point (%g, %g, %g) is behind the camera",
                          p[0], p[1], p[2]);
    cam_to_px(&b, c, px, py);
    return VIMO_OK;
}

/* ---- options, timing --------------------------------------------------------- */

void vimo_render_opts_default(vimo_render_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->width = o->height = 256;
    o->fps = 20;
    o->view = VIMO_VIEW_FRONT;
    o->follow = 1;
    o->limb_radius = 0.035;
    o->joint_radius = 0.045;
}

/* Source frames per output frame. Rates within 10 ppm count as equal: BVH
 * files store 1/fps rounded ("Frame Time: 0.0333333" is 30.0000003 fps). */
static double step_ratio(double src_fps, double fps)
{
    if (fps <= 0) return 1;
    double r = src_fps / fps;
    return fabs(r - 1) < 1e-5 ? 1 : r;
}

static int out_frames(int T, double src_fps, double fps)
{
    return (int)floor((T - 1) / step_ratio(src_fps, fps) + 1e-6) + 1;
}

vimo_status vimo_render_frame_count(int T, double src_fps, const vimo_render_opts *o, int *t_out)
{
    vimo_render_opts d;
    if (!o) vimo_render_opts_default(&d), o = &d;
    if (!t_out || T < 1 || T > VIMO_RENDER_MAX_FRAMES || !(src_fps > 0) || src_fps > 1000 ||
        !(o->fps <= 1000))
        return vimo_error(VIMO_ERR_INVALID, "render: T=%d src_fps=%g fps=%g", T, src_fps,
                          o->fps);
    *t_out = out_frames(T, src_fps, o->fps);
    return VIMO_OK;
}

/* ---- the renderer ------------------------------------------------------------ */

typedef struct prim {
    double z;     /* depth used for sorting                       */
    int j;        /* joint (disc) or child joint (bone)           */
    int is_bone;
} prim;

typedef struct renderer {
    const float *joints; /* (T, J, 3) */
    const int *parents;  /* (J) */
    int T, J, T_out;
    double src_fps;
    vimo_render_opts o;
    double bmin[3], bmax[3]; /* box framed: world, or root-relative (follow) */
    uint8_t (*color)[3];     /* (J) */
    double *pos;             /* (J, 3) positions of the frame being drawn */
    double *cam;             /* (J, 3) the same in camera coordinates      */
    prim *prims;             /* (2J) */
    cairo_surface_t *surf;
    cairo_t *cr;
} renderer;

/* Everything but the parents. */
static vimo_status check_common(const float *joints, int T, int J, double src_fps,
                                const vimo_render_opts *o)
{
    if (!joints) return vimo_error(VIMO_ERR_INVALID, "render: NULL joints");
    if (T < 1 || T > VIMO_RENDER_MAX_FRAMES || J < 1 || J > VIMO_RENDER_MAX_JOINTS)
        return vimo_error(VIMO_ERR_INVALID, "render: (T, J) = (%d, %d) out of range", T, J);
    if (!(src_fps > 0 && src_fps <= 1000) || !(o->fps <= 1000))
        return vimo_error(VIMO_ERR_INVALID, "render: src_fps %g / fps %g out of range", src_fps,
                          o->fps);
    if (o->width < 16 || o->height < 16 || o->width > 4096 || o->height > 4096 ||
        (o->width | o->height) & 1)
        return vimo_error(VIMO_ERR_INVALID, "render: size %dx%d must be even, 16..4096",
                          o->width, o->height);
    if (!(o->limb_radius >= 0 && o->limb_radius < 10 && o->joint_radius >= 0 &&
          o->joint_radius < 10))
        return vimo_error(VIMO_ERR_INVALID, "render: limb/joint radius out of range");
    if ((int)o->view < 0 || (int)o->view > VIMO_VIEW_THREE_QUARTER)
        return vimo_error(VIMO_ERR_INVALID, "render: unknown view %d", (int)o->view);
    for (size_t i = 0, n = (size_t)T * J * 3; i < n; i++)
        if (!isfinite(joints[i]))
            return vimo_error(VIMO_ERR_INVALID, "render: joint value %zu (frame %zu, joint "
                              "%zu) is not finite", i, i / (3 * (size_t)J),
                              i / 3 % (size_t)J);
    return VIMO_OK;
}

static vimo_status check_input(const float *joints, int T, int J, const int *parents,
                               double src_fps, const vimo_render_opts *o)
{
    vimo_status st = check_common(joints, T, J, src_fps, o);
    if (st != VIMO_OK) return st;
    if (!parents) return vimo_error(VIMO_ERR_INVALID, "render: NULL parents");
    for (int j = 0; j < J; j++)
        if (parents[j] < -1 || parents[j] >= j)
            return vimo_error(VIMO_ERR_INVALID, "render: parents[%d] = %d: parents must come "
                              "before their children (-1 for a root)", j, parents[j]);
    return VIMO_OK;
}

/* Interpolated positions of output frame k into out (J, 3). */
static void frame_positions(const float *joints, int T, int J, double src_fps, double fps, int k,
                            double *out)
{
    double s = k * step_ratio(src_fps, fps);
    int i0 = (int)floor(s);
    if (i0 > T - 1) i0 = T - 1;
    int i1 = i0 + 1 < T ? i0 + 1 : i0;
    double w = s - i0;
    if (w < 0) w = 0;
    const float *a = joints + (size_t)i0 * J * 3, *b = joints + (size_t)i1 * J * 3;
    for (int i = 0; i < J * 3; i++) out[i] = (1 - w) * a[i] + w * b[i];
}

static void compute_box(const float *joints, int T, int J, int follow, double bmin[3],
                        double bmax[3])
{
    for (int c = 0; c < 3; c++) bmin[c] = INFINITY, bmax[c] = -INFINITY;
    for (int t = 0; t < T; t++) {
        const float *f = joints + (size_t)t * J * 3;
        for (int j = 0; j < J; j++)
            for (int c = 0; c < 3; c++) {
                double v = f[3 * j + c] - (follow && c != 1 ? f[c] : 0.0);
                if (v < bmin[c]) bmin[c] = v;
                if (v > bmax[c]) bmax[c] = v;
            }
    }
}

/* The preset camera: looks at the box centre c from azimuth/elevation of
 * the view, at the smallest distance at which all 8 corners of the box
 * (half extents h) fit the picture with the margin (contract). */
static void preset_camera(const vimo_render_opts *o, const double c[3], const double h[3],
                          vimo_camera *cam)
{
    static const double az_deg[] = {0.0, 90.0, 45.0};
    double a = az_deg[o->view] * M_PI / 180, e = PRESET_ELEV_DEG * M_PI / 180;
    double fy = PRESET_FOV_DEG * M_PI / 180;
    double ty = tan(fy / 2), tx = ty * o->width / o->height;
    double dir[3] = {sin(a) * cos(e), sin(e), cos(a) * cos(e)};
    double f[3] = {-dir[0], -dir[1], -dir[2]}, r[3], u[3];
    cross(f, k_up, r);
    normalize(r);
    cross(r, f, u);
    double R = sqrt(dot(h, h)), dist = fmax(R + 0.1, MIN_DIST);
    for (int i = 0; i < 8; i++) {
        double q[3] = {(i & 1 ? 1 : -1) * h[0], (i & 2 ? 1 : -1) * h[1], (i & 4 ? 1 : -1) * h[2]};
        double need = fmax(FRAME_MARGIN * fabs(dot(q, r)) / tx, FRAME_MARGIN * fabs(dot(q, u)) / ty);
        dist = fmax(dist, need - dot(q, f));
    }
    for (int i = 0; i < 3; i++) {
        cam->target[i] = c[i];
        cam->eye[i] = c[i] + dist * dir[i];
    }
    cam->fov_y = fy;
}

static void camera_for(const renderer *r, const double *pos, vimo_camera *cam)
{
    if (r->o.camera) {
        *cam = *r->o.camera;
        return;
    }
    double c[3], h[3];
    for (int i = 0; i < 3; i++) {
        c[i] = 0.5 * (r->bmin[i] + r->bmax[i]);
        h[i] = 0.5 * (r->bmax[i] - r->bmin[i]);
    }
    if (r->o.follow) c[0] += pos[0], c[2] += pos[2];
    preset_camera(&r->o, c, h, cam);
}

vimo_status vimo_render_camera(const float *joints, int T, int J, double src_fps,
                               const vimo_render_opts *o, int k, vimo_camera *cam)
{
    vimo_render_opts d;
    if (!o) vimo_render_opts_default(&d), o = &d;
    if (!cam) return vimo_error(VIMO_ERR_INVALID, "render_camera: NULL camera");
    vimo_status st = check_common(joints, T, J, src_fps, o);
    if (st != VIMO_OK) return st;
    int T_out = out_frames(T, src_fps, o->fps);
    if (k < 0 || k >= T_out)
        return vimo_error(VIMO_ERR_INVALID, "render_camera: frame %d of %d", k, T_out);
    renderer r = {.joints = joints, .T = T, .J = J, .src_fps = src_fps, .o = *o};
    double *pos = malloc(sizeof *pos * 3 * (size_t)J);
    if (!pos) return vimo_error(VIMO_ERR_NOMEM, "render_camera");
    frame_positions(joints, T, J, src_fps, o->fps, k, pos);
    compute_box(joints, T, J, o->follow, r.bmin, r.bmax);
    camera_for(&r, pos, cam);
    free(pos);
    return VIMO_OK;
}

static void chain_colors(const int *parents, int J, uint8_t (*color)[3])
{
    int *nchild = calloc((size_t)J, sizeof *nchild), *chain = malloc(sizeof *chain * (size_t)J);
    int next = 1;
    if (!nchild || !chain) { /* fall back to one colour: never fails */
        for (int j = 0; j < J; j++) memcpy(color[j], k_palette[1], 3);
        free(nchild);
        free(chain);
        return;
    }
    for (int j = 0; j < J; j++)
        if (parents[j] >= 0) nchild[parents[j]]++;
    for (int j = 0; j < J; j++) {
        int p = parents[j];
        chain[j] = p < 0 ? 0 : nchild[p] > 1 ? next++ : chain[p];
        memcpy(color[j], k_palette[chain[j] % PALETTE_N], 3);
    }
    free(nchild);
    free(chain);
}

static void renderer_free(renderer *r)
{
    if (r->cr) cairo_destroy(r->cr);
    if (r->surf) cairo_surface_destroy(r->surf);
    free(r->color);
    free(r->pos);
    free(r->cam);
    free(r->prims);
}

static vimo_status renderer_init(renderer *r, const float *joints, int T, int J,
                                 const int *parents, double src_fps, const vimo_render_opts *o)
{
    vimo_render_opts d;
    if (!o) vimo_render_opts_default(&d), o = &d;
    memset(r, 0, sizeof *r);
    vimo_status st = check_input(joints, T, J, parents, src_fps, o);
    if (st != VIMO_OK) return st;
    r->joints = joints;
    r->parents = parents;
    r->T = T;
    r->J = J;
    r->src_fps = src_fps;
    r->o = *o;
    r->T_out = out_frames(T, src_fps, o->fps);
    r->color = malloc(sizeof *r->color * (size_t)J);
    r->pos = malloc(sizeof *r->pos * 3 * (size_t)J);
    r->cam = malloc(sizeof *r->cam * 3 * (size_t)J);
    r->prims = malloc(sizeof *r->prims * 2 * (size_t)J);
    r->surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, o->width, o->height);
    if (cairo_surface_status(r->surf) == CAIRO_STATUS_SUCCESS) r->cr = cairo_create(r->surf);
    if (!r->color || !r->pos || !r->cam || !r->prims || !r->cr ||
        cairo_status(r->cr) != CAIRO_STATUS_SUCCESS) {
        renderer_free(r);
        return vimo_error(VIMO_ERR_NOMEM, "render: buffers for %dx%d, %d joints", o->width,
                          o->height, J);
    }
    if (o->joint_rgb) memcpy(r->color, o->joint_rgb, 3 * (size_t)J);
    else chain_colors(parents, J, r->color);
    compute_box(joints, T, J, o->follow, r->bmin, r->bmax);
    return VIMO_OK;
}

/* ---- drawing ------------------------------------------------------------------ */

static void stop_rgb(cairo_pattern_t *p, double off, const uint8_t c[3], double k, double white)
{
    double v[3];
    for (int i = 0; i < 3; i++) v[i] = fmin(1, (c[i] / 255.0) * k * (1 - white) + white);
    cairo_pattern_add_color_stop_rgb(p, off, v[0], v[1], v[2]);
}

/* Clips the floor polygon (camera coordinates) against z >= NEAR_Z
 * (Sutherland-Hodgman, one plane) and fills it. */
static void fill_floor(cairo_t *cr, const cam_basis *b, double in[4][3])
{
    double out[8][3];
    int n = 0;
    for (int i = 0; i < 4; i++) {
        const double *p = in[i], *q = in[(i + 1) % 4];
        int pin = p[2] >= NEAR_Z, qin = q[2] >= NEAR_Z;
        if (pin) memcpy(out[n++], p, sizeof out[0]);
        if (pin != qin) {
            double t = (NEAR_Z - p[2]) / (q[2] - p[2]);
            for (int c = 0; c < 3; c++) out[n][c] = p[c] + t * (q[c] - p[c]);
            n++;
        }
    }
    if (n < 3) return;
    for (int i = 0; i < n; i++) {
        double px, py;
        cam_to_px(b, out[i], &px, &py);
        if (i == 0) cairo_move_to(cr, px, py);
        else cairo_line_to(cr, px, py);
    }
    cairo_close_path(cr);
    cairo_set_source_rgb(cr, 0.84, 0.84, 0.85);
    cairo_fill(cr);
}

/* One world-space segment on the floor, clipped at the near plane. */
static void floor_line(cairo_t *cr, const cam_basis *b, const double p0[3], const double p1[3])
{
    double a[3], c[3];
    to_cam(b, p0, a);
    to_cam(b, p1, c);
    if (a[2] < NEAR_Z && c[2] < NEAR_Z) return;
    if (a[2] < NEAR_Z || c[2] < NEAR_Z) {
        double *behind = a[2] < NEAR_Z ? a : c, *front = a[2] < NEAR_Z ? c : a;
        double t = (NEAR_Z - front[2]) / (behind[2] - front[2]);
        for (int i = 0; i < 3; i++) behind[i] = front[i] + t * (behind[i] - front[i]);
    }
    double x0, y0, x1, y1;
    cam_to_px(b, a, &x0, &y0);
    cam_to_px(b, c, &x1, &y1);
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
}

static void draw_floor(const renderer *r, const cam_basis *b, const double centre[3])
{
    cairo_t *cr = r->cr;
    double hx = 0.5 * (r->bmax[0] - r->bmin[0]) + GRID_PAD;
    double hz = 0.5 * (r->bmax[2] - r->bmin[2]) + GRID_PAD;
    double x0 = floor((centre[0] - hx) / GRID_STEP) * GRID_STEP;
    double x1 = ceil((centre[0] + hx) / GRID_STEP) * GRID_STEP;
    double z0 = floor((centre[2] - hz) / GRID_STEP) * GRID_STEP;
    double z1 = ceil((centre[2] + hz) / GRID_STEP) * GRID_STEP;
    double corners[4][3] = {{x0, 0, z0}, {x1, 0, z0}, {x1, 0, z1}, {x0, 0, z1}}, cc[4][3];
    for (int i = 0; i < 4; i++) to_cam(b, corners[i], cc[i]);
    fill_floor(cr, b, cc);
    int nx = (int)llround((x1 - x0) / GRID_STEP), nz = (int)llround((z1 - z0) / GRID_STEP);
    for (int i = 0; i <= nx && i <= 400; i++) {
        double x = x0 + i * GRID_STEP, p0[3] = {x, 0, z0}, p1[3] = {x, 0, z1};
        floor_line(cr, b, p0, p1);
    }
    for (int i = 0; i <= nz && i <= 400; i++) {
        double z = z0 + i * GRID_STEP, p0[3] = {x0, 0, z}, p1[3] = {x1, 0, z};
        floor_line(cr, b, p0, p1);
    }
    cairo_set_source_rgb(cr, 0.62, 0.62, 0.64);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
}

static int cmp_prim(const void *pa, const void *pb)
{
    const prim *a = pa, *b = pb;
    if (a->z != b->z) return a->z > b->z ? -1 : 1; /* far first */
    if (a->is_bone != b->is_bone) return a->is_bone ? -1 : 1;
    return a->j - b->j;
}

static void draw_bone(const renderer *r, const cam_basis *b, int j, double k)
{
    const double *a = r->cam + 3 * r->parents[j], *c = r->cam + 3 * j;
    double x0, y0, x1, y1;
    cam_to_px(b, a, &x0, &y0);
    cam_to_px(b, c, &x1, &y1);
    double w = 2 * r->o.limb_radius * b->F / (0.5 * (a[2] + c[2]));
    double dx = x1 - x0, dy = y1 - y0, len = hypot(dx, dy);
    double nx = len > 1e-9 ? -dy / len : 1, ny = len > 1e-9 ? dx / len : 0;
    double mx = 0.5 * (x0 + x1), my = 0.5 * (y0 + y1);
    /* Shaded across the width like a lit cylinder: dark rims, bright band. */
    cairo_pattern_t *p = cairo_pattern_create_linear(mx + nx * w / 2, my + ny * w / 2,
                                                     mx - nx * w / 2, my - ny * w / 2);
    stop_rgb(p, 0.0, r->color[j], 0.55 * k, 0);
    stop_rgb(p, 0.35, r->color[j], 1.05 * k, 0.15);
    stop_rgb(p, 1.0, r->color[j], 0.45 * k, 0);
    cairo_set_source(r->cr, p);
    cairo_set_line_width(r->cr, w);
    cairo_set_line_cap(r->cr, CAIRO_LINE_CAP_ROUND);
    cairo_move_to(r->cr, x0, y0);
    cairo_line_to(r->cr, x1, y1);
    cairo_stroke(r->cr);
    cairo_pattern_destroy(p);
}

static void draw_joint(const renderer *r, const cam_basis *b, int j, double k)
{
    const double *c = r->cam + 3 * j;
    double x, y, rad = r->o.joint_radius * b->F / c[2];
    cam_to_px(b, c, &x, &y);
    cairo_pattern_t *p =
        cairo_pattern_create_radial(x - 0.3 * rad, y - 0.3 * rad, 0, x, y, rad);
    stop_rgb(p, 0.0, r->color[j], k, 0.4);
    stop_rgb(p, 1.0, r->color[j], 0.6 * k, 0);
    cairo_set_source(r->cr, p);
    cairo_arc(r->cr, x, y, rad, 0, 2 * M_PI);
    cairo_fill(r->cr);
    cairo_pattern_destroy(p);
}

static void draw_body(renderer *r, const cam_basis *b)
{
    int n = 0;
    double zmin = INFINITY, zmax = -INFINITY;
    for (int j = 0; j < r->J; j++) {
        to_cam(b, r->pos + 3 * j, r->cam + 3 * j);
        double z = r->cam[3 * j + 2];
        if (z < NEAR_Z) continue;
        zmin = fmin(zmin, z);
        zmax = fmax(zmax, z);
        if (r->o.joint_radius > 0) r->prims[n++] = (prim){z, j, 0};
        int p = r->parents[j];
        if (p >= 0 && r->cam[3 * p + 2] >= NEAR_Z && r->o.limb_radius > 0)
            r->prims[n++] = (prim){0.5 * (z + r->cam[3 * p + 2]), j, 1};
    }
    qsort(r->prims, (size_t)n, sizeof *r->prims, cmp_prim);
    double span = zmax - zmin > 1e-9 ? zmax - zmin : 1;
    for (int i = 0; i < n; i++) {
        double k = 1 - DEPTH_DARKEN * (r->prims[i].z - zmin) / span;
        if (r->prims[i].is_bone) draw_bone(r, b, r->prims[i].j, k);
        else draw_joint(r, b, r->prims[i].j, k);
    }
}

/* Draws output frame k and copies it into rgb (H, W, 3). */
static vimo_status draw_frame(renderer *r, int k, uint8_t *rgb)
{
    vimo_camera cam;
    cam_basis b;
    frame_positions(r->joints, r->T, r->J, r->src_fps, r->o.fps, k, r->pos);
    camera_for(r, r->pos, &cam);
    vimo_status st = basis_init(&cam, r->o.width, r->o.height, &b);
    if (st != VIMO_OK) return st;
    cairo_t *cr = r->cr;
    cairo_set_source_rgb(cr, 0.92, 0.92, 0.93);
    cairo_paint(cr);
    draw_floor(r, &b, cam.target);
    draw_body(r, &b);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        return vimo_error(VIMO_ERR_INTERNAL, "render: cairo: %s",
                          cairo_status_to_string(cairo_status(cr)));
    cairo_surface_flush(r->surf);
    const unsigned char *data = cairo_image_surface_get_data(r->surf);
    int stride = cairo_image_surface_get_stride(r->surf), W = r->o.width;
    for (int y = 0; y < r->o.height; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(data + (size_t)y * stride);
        uint8_t *o = rgb + (size_t)y * W * 3;
        for (int x = 0; x < W; x++) { /* opaque: premultiplication is a no-op */
            o[3 * x + 0] = (uint8_t)(row[x] >> 16);
            o[3 * x + 1] = (uint8_t)(row[x] >> 8);
            o[3 * x + 2] = (uint8_t)row[x];
        }
    }
    return VIMO_OK;
}

vimo_status vimo_render_rgb(const float *joints, int T, int J, const int *parents,
                            double src_fps, const vimo_render_opts *o, uint8_t *rgb)
{
    if (!rgb) return vimo_error(VIMO_ERR_INVALID, "render: NULL output");
    renderer r;
    vimo_status st = renderer_init(&r, joints, T, J, parents, src_fps, o);
    if (st != VIMO_OK) return st;
    size_t frame = (size_t)r.o.width * r.o.height * 3;
    for (int k = 0; k < r.T_out && st == VIMO_OK; k++) st = draw_frame(&r, k, rgb + k * frame);
    renderer_free(&r);
    return st;
}

vimo_status vimo_render_mp4(const float *joints, int T, int J, const int *parents,
                            double src_fps, const vimo_render_opts *o, const char *path)
{
    if (!path) return vimo_error(VIMO_ERR_INVALID, "render: NULL path");
    renderer r;
    vimo_video_writer *w = NULL;
    uint8_t *rgb = NULL;
    vimo_status st = renderer_init(&r, joints, T, J, parents, src_fps, o);
    if (st != VIMO_OK) return st;
    double fps = r.o.fps > 0 ? r.o.fps : src_fps;
    if (!(rgb = malloc((size_t)r.o.width * r.o.height * 3))) {
        st = vimo_error(VIMO_ERR_NOMEM, "render: frame buffer");
        goto fail;
    }
    VIMO_TRY(vimo_video_writer_open(&w, path, r.o.width, r.o.height, fps));
    for (int k = 0; k < r.T_out; k++) {
        VIMO_TRY(draw_frame(&r, k, rgb));
        VIMO_TRY(vimo_video_writer_add_rgb(w, rgb));
    }
    VIMO_TRY(vimo_video_writer_finish(w));
fail:
    vimo_video_writer_free(w);
    free(rgb);
    renderer_free(&r);
    return st;
}
