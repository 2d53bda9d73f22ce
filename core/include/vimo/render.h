/*
 * vimo/render.h - skeleton motion to video frames (libvimo_video, cairo).
 *
 * Contract
 * --------
 * Input: joint positions (T, J, 3) float32 in metres, Y up (HumanML3D,
 * metre-scaled BVH), and parents (J): parents[j] is the parent joint of j,
 * -1 for a root; parents come before children (parents[j] < j), as in BVH
 * node order and HumanML3D. Several roots are allowed.
 *
 * Time: output frame k shows time k / fps, i.e. source frame
 * s = k * src_fps / fps, linearly interpolated between floor(s) and
 * ceil(s). T_out = floor((T - 1) * fps / src_fps) + 1. opts.fps <= 0, or a
 * rate within 10 ppm of src_fps (BVH stores 1/fps rounded: "Frame Time:
 * 0.0333333"), keeps the source frames (T_out = T, no interpolation).
 *
 * Camera: a pinhole with vertical field of view fov_y looking from `eye` at
 * `target`, `up` = +Y. Camera axes: forward f = normalize(target - eye),
 * right r = normalize(f x up), up u = r x f. A point p with
 * d = p - eye, x = d.r, y = d.u, z = d.f (depth, > 0 in front) lands at
 *     px = W/2 + F x / z,   py = H/2 - F y / z,   F = (H/2) / tan(fov_y/2),
 * in image coordinates whose origin is the top-left corner of the top-left
 * pixel (pixel (i, j) covers [i, i+1) x [j, j+1)).
 *
 * Presets frame the motion: fov_y = 40 degrees; the camera looks along
 * f = -d, d = (sin a cos e, sin e, cos a cos e), e = 15 degrees elevation,
 * azimuth a around +Y (front: a = 0, on the +Z side looking towards -Z,
 * which faces a body that faces +Z; side: a = 90, on the +X side, the
 * body's left; three-quarter: a = 45), at the centre c of a box with half
 * extents h, from eye = c + dist * d. dist is the smallest distance at which
 * all 8 corners q = (+-h0, +-h1, +-h2) fit the picture with a 1.1 margin:
 *     dist = max_q max(1.1 |q.r| / tan(fov_x/2), 1.1 |q.u| / tan(fov_y/2)) - q.f,
 * tan(fov_x/2) = tan(fov_y/2) * W / H, and at least max(|h| + 0.1, 1) m.
 * By default (opts.follow = 1) the box is that of the joints relative to
 * the root's ground position (x, z of joint 0) over all frames, and the
 * camera moves with the root, c(t) = c + root_xz(t): the body stays large
 * and centred and the floor grid slides under it (as HumanML3D's plots do).
 * With follow = 0 the camera is fixed and frames the world box of all
 * joints over all frames.
 *
 * Drawing (cairo, antialiased, 2D shapes only; the projection is the math
 * above): background, floor grid at y = 0 (0.5 m squares, the motion's
 * extent plus 1 m, clipped at the near plane z = 0.05 m), then bones and
 * joints in depth order, farthest first (painter's algorithm): bones as
 * round-capped strokes of width 2 * limb_radius * F / z at their midpoint
 * depth, shaded across their width; joints as discs of radius
 * joint_radius * F / z with a radial highlight. Colours: opts.joint_rgb
 * (a bone takes the colour of its child joint) or one colour per kinematic
 * chain (a chain starts at each child of a joint that has several
 * children). Farther primitives are darkened by up to 35 %.
 *
 * Output: RGB8 frames (T_out, H, W, 3) in memory, or an MP4 (H.264 yuv420p
 * via vimo_video_writer, see video.h).
 *
 * Limits: 1 <= T <= 1,000,000, 1 <= J <= 1024, sizes even 16..4096.
 * Not here: meshes, lighting models, text overlays, occlusion beyond
 * painter's order.
 */
#ifndef VIMO_RENDER_H
#define VIMO_RENDER_H

#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_RENDER_MAX_FRAMES 1000000
#define VIMO_RENDER_MAX_JOINTS 1024

typedef enum vimo_render_view {
    VIMO_VIEW_FRONT = 0,
    VIMO_VIEW_SIDE = 1,
    VIMO_VIEW_THREE_QUARTER = 2
} vimo_render_view;

typedef struct vimo_camera {
    double eye[3];    /* metres, world */
    double target[3]; /* metres, world */
    double fov_y;     /* radians, (0, pi)          */
} vimo_camera;

typedef struct vimo_render_opts {
    int width, height;        /* pixels, even; default 256 x 256              */
    double fps;               /* output rate; <= 0 keeps the source rate      */
    vimo_render_view view;    /* preset, default front                        */
    int follow;               /* 1 (default): camera follows the root; 0: fixed */
    const vimo_camera *camera;/* explicit camera for every frame, or NULL     */
    double limb_radius;       /* metres, default 0.035                        */
    double joint_radius;      /* metres, default 0.045                        */
    const uint8_t *joint_rgb; /* (J, 3) colours, or NULL for chain colours    */
} vimo_render_opts;

/* Defaults: 256 x 256, fps 20, front view, camera follows the root. */
VIMO_API void vimo_render_opts_default(vimo_render_opts *o);

/* T_out for T source frames at src_fps (see Time). Errors: VIMO_ERR_INVALID. */
VIMO_API vimo_status vimo_render_frame_count(int T, double src_fps, const vimo_render_opts *o,
                                             int *t_out);

/* The camera of output frame k (preset framing, or opts->camera).
 * joints: (T, J, 3). Errors: VIMO_ERR_INVALID. */
VIMO_API vimo_status vimo_render_camera(const float *joints, int T, int J, double src_fps,
                                        const vimo_render_opts *o, int k, vimo_camera *cam);

/* Projects world point p (metres) with cam into a width x height image
 * (formula in the contract). px, py: pixels; depth: z in metres.
 * Errors: VIMO_ERR_INVALID (degenerate camera: eye == target, looking
 * straight up/down, bad fov), VIMO_ERR_STATE when depth <= 0 (behind). */
VIMO_API vimo_status vimo_camera_project(const vimo_camera *cam, int width, int height,
                                         const double p[3], double *px, double *py,
                                         double *depth);

/* Renders every output frame into rgb: (T_out, H, W, 3) bytes.
 * joints: (T, J, 3) metres; parents: (J); src_fps > 0; o NULL = defaults.
 * Errors: VIMO_ERR_INVALID (sizes, parents not before children, non-finite
 * positions), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_render_rgb(const float *joints, int T, int J, const int *parents,
                                     double src_fps, const vimo_render_opts *o, uint8_t *rgb);

/* Renders to an MP4 file at o->fps (or src_fps), frame by frame.
 * Errors: as vimo_render_rgb, plus those of vimo_video_writer_open/add/finish. */
VIMO_API vimo_status vimo_render_mp4(const float *joints, int T, int J, const int *parents,
                                     double src_fps, const vimo_render_opts *o,
                                     const char *path);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_RENDER_H */
