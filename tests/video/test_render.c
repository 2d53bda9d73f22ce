/*
 * test_render.c - the motion renderer:
 *  - projection worked out by hand for a known camera, then found in the
 *    pixels (centroid of a coloured disc within half a pixel);
 *  - preset cameras: the box centre lands on the image centre in every view,
 *    and the preset distance matches the documented formula recomputed here;
 *  - output frame counts from the time-resampling rule, by hand;
 *  - an MP4 of a Bandai-Namco BVH clip (or, without the motion library, a
 *    synthetic 2-bone arm) probed with `ffprobe -count_frames`: codec, size,
 *    pixel format and frame count, with libx264 and with the MPEG-4 fallback;
 *  - the decoded MP4 matches the in-memory frames (lossy: small MAE);
 *  - bad input is refused.
 * The ffprobe parts skip (77) without the ffmpeg CLI.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"
#include "vimo/render.h"
#include "vimo/video.h"
#ifdef VIMO_TEST_HAVE_MOTION
#include "vimo/bvh.h"
#endif

static int g_ffmpeg;

/* Centroid of the pixels where red clearly dominates (the test joints are
 * pure red; background, floor and grid are grey). Returns the pixel count. */
static int red_centroid(const uint8_t *rgb, int W, int H, double *cx, double *cy)
{
    double sx = 0, sy = 0;
    int n = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = rgb + ((size_t)y * W + x) * 3;
            if (p[0] - p[1] > 60 && p[0] - p[2] > 60) {
                sx += x + 0.5; /* pixel centre */
                sy += y + 0.5;
                n++;
            }
        }
    if (n) *cx = sx / n, *cy = sy / n;
    return n;
}

/* Camera at (0, 1, 5) looking at (0, 1, 0), fov_y = 90 deg, 256 x 256:
 * F = 128 / tan(45 deg) = 128, r = (1, 0, 0), u = (0, 1, 0), f = (0, 0, -1).
 * Joint A (1, 1, 0): x = 1, y = 0, z = 5 -> (128 + 128/5, 128) = (153.6, 128).
 * Joint B (-1, 2, -3): d = (-1, 1, -8): x = -1, y = 1, z = 8
 *   -> (128 - 16, 128 - 16) = (112, 112). */
static void test_projection_by_hand(void **state)
{
    (void)state;
    vimo_camera cam = {{0, 1, 5}, {0, 1, 0}, M_PI / 2};
    double px, py, z;
    const double A[3] = {1, 1, 0}, B[3] = {-1, 2, -3};
    assert_int_equal(vimo_camera_project(&cam, 256, 256, A, &px, &py, &z), VIMO_OK);
    assert_true(fabs(px - 153.6) < 1e-9 && fabs(py - 128) < 1e-9 && fabs(z - 5) < 1e-12);
    assert_int_equal(vimo_camera_project(&cam, 256, 256, B, &px, &py, &z), VIMO_OK);
    assert_true(fabs(px - 112) < 1e-9 && fabs(py - 112) < 1e-9 && fabs(z - 8) < 1e-12);
    const double behind[3] = {0, 1, 6};
    assert_int_equal(vimo_camera_project(&cam, 256, 256, behind, &px, &py, &z), VIMO_ERR_STATE);

    /* Now in pixels: each joint alone (a root, no bones), pure red. */
    vimo_render_opts o;
    vimo_render_opts_default(&o);
    o.camera = &cam;
    o.fps = 0;
    o.joint_radius = 0.25; /* 6.4 px at z = 5, 4 px at z = 8 */
    const uint8_t red[3] = {255, 0, 0};
    o.joint_rgb = red;
    const int parents[1] = {-1};
    uint8_t *rgb = malloc(256 * 256 * 3);
    const double *pts[2] = {A, B};
    const double want[2][2] = {{153.6, 128}, {112, 112}};
    for (int i = 0; i < 2; i++) {
        float j[3] = {(float)pts[i][0], (float)pts[i][1], (float)pts[i][2]};
        assert_int_equal(vimo_render_rgb(j, 1, 1, parents, 20, &o, rgb), VIMO_OK);
        double cx = 0, cy = 0;
        int n = red_centroid(rgb, 256, 256, &cx, &cy);
        printf("  joint %d: %d red pixels, centroid (%.3f, %.3f), by hand (%.1f, %.1f)\n", i, n,
               cx, cy, want[i][0], want[i][1]);
        assert_true(n > 20);
        assert_true(fabs(cx - want[i][0]) < 0.5 && fabs(cy - want[i][1]) < 0.5);
    }
    free(rgb);
}

/* Three still joints on a vertical line; the middle one (red) is the box
 * centre, so every preset view puts it at the image centre (128, 128).
 * Distance by hand for front view: h = (0, 1, 0) (box 0..2 m in y, zero
 * width), e = 15 deg, f = -(0, sin e, cos e), u = (0, cos e, -sin e):
 * corners q = (0, +-1, 0): q.u = +-cos e, q.f = -+sin e, so
 * dist = 1.1 cos e / tan 20 + sin e (the worse corner) = 3.1800 m. */
static void test_preset_views(void **state)
{
    (void)state;
    const float joints[9] = {0, 0, 0, 0, 2, 0, 0, 1, 0};
    const int parents[3] = {-1, -1, -1};
    const uint8_t colors[9] = {40, 40, 200, 40, 40, 200, 255, 0, 0};
    vimo_render_opts o;
    vimo_render_opts_default(&o);
    o.joint_rgb = colors;
    o.fps = 0;
    uint8_t *rgb = malloc(256 * 256 * 3);
    for (int view = 0; view < 3; view++) {
        o.view = (vimo_render_view)view;
        vimo_camera cam;
        assert_int_equal(vimo_render_camera(joints, 1, 3, 20, &o, 0, &cam), VIMO_OK);
        assert_true(fabs(cam.target[0]) < 1e-9 && fabs(cam.target[1] - 1) < 1e-9 &&
                    fabs(cam.target[2]) < 1e-9);
        double e = 15 * M_PI / 180, a = (view == 0 ? 0 : view == 1 ? 90 : 45) * M_PI / 180;
        double dist = 1.1 * cos(e) / tan(20 * M_PI / 180) + sin(e);
        double eye[3] = {dist * sin(a) * cos(e), 1 + dist * sin(e), dist * cos(a) * cos(e)};
        for (int i = 0; i < 3; i++) assert_true(fabs(cam.eye[i] - eye[i]) < 1e-6);
        assert_int_equal(vimo_render_rgb(joints, 1, 3, parents, 20, &o, rgb), VIMO_OK);
        double cx = 0, cy = 0;
        assert_true(red_centroid(rgb, 256, 256, &cx, &cy) > 10);
        printf("  view %d: dist %.4f, centre joint at (%.3f, %.3f)\n", view, dist, cx, cy);
        assert_true(fabs(cx - 128) < 0.5 && fabs(cy - 128) < 0.5);
    }
    free(rgb);
}

/* T_out = floor((T - 1) * fps / src_fps) + 1. */
static void test_frame_counts(void **state)
{
    (void)state;
    vimo_render_opts o;
    vimo_render_opts_default(&o);
    int n;
    assert_int_equal(vimo_render_frame_count(195, 30, &o, &n), VIMO_OK);
    assert_int_equal(n, 130); /* 194 * 20 / 30 = 129.33 -> 129 + 1 */
    assert_int_equal(vimo_render_frame_count(149, 120, &o, &n), VIMO_OK);
    assert_int_equal(n, 25); /* 148 / 6 = 24.67 -> 24 + 1 */
    assert_int_equal(vimo_render_frame_count(31, 30, &o, &n), VIMO_OK);
    assert_int_equal(n, 21); /* exactly 20 + 1 */
    o.fps = 0;
    assert_int_equal(vimo_render_frame_count(195, 30, &o, &n), VIMO_OK);
    assert_int_equal(n, 195);
    o.fps = 60;
    assert_int_equal(vimo_render_frame_count(10, 30, &o, &n), VIMO_OK);
    assert_int_equal(n, 19);
}


/* ffprobe -count_frames: codec, size, pix_fmt and decoded frame count. */
static void probe(const char *path, int want_frames, int want_size, const char *codec)
{
    char cmd[4600];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=codec_name,width,height,pix_fmt,nb_read_frames -of "
             "default=noprint_wrappers=1 '%s'",
             path);
    uint8_t *out;
    size_t len;
    assert_int_equal(run_capture(cmd, 1 << 16, &out, &len), 0);
    out = realloc(out, len + 1);
    out[len] = 0;
    printf("  ffprobe %s:\n%s", path, (char *)out);
    char want[64];
    snprintf(want, sizeof want, "nb_read_frames=%d\n", want_frames);
    assert_non_null(strstr((char *)out, want));
    snprintf(want, sizeof want, "width=%d\nheight=%d\n", want_size, want_size);
    assert_non_null(strstr((char *)out, want));
    assert_non_null(strstr((char *)out, "pix_fmt=yuv420p\n"));
    snprintf(want, sizeof want, "codec_name=%s\n", codec);
    assert_non_null(strstr((char *)out, want));
    free(out);
}

/* Rendered MP4 frames decode to what was drawn in memory (lossy codec). */
static void compare_mp4_with_memory(const char *path, const float *joints, int T, int J,
                                    const int *parents, double src_fps,
                                    const vimo_render_opts *o)
{
    int n;
    assert_int_equal(vimo_render_frame_count(T, src_fps, o, &n), VIMO_OK);
    size_t fb = (size_t)o->width * o->height * 3;
    uint8_t *mem = malloc(fb * n), *dec = malloc(fb);
    assert_non_null(mem);
    assert_int_equal(vimo_render_rgb(joints, T, J, parents, src_fps, o, mem), VIMO_OK);
    vimo_video *v = NULL;
    vimo_video_info in;
    assert_int_equal(vimo_video_open(&v, path, NULL), VIMO_OK);
    vimo_video_get_info(v, &in);
    assert_int_equal(in.frame_count, n);
    const int ks[3] = {0, n / 2, n - 1};
    for (int i = 0; i < 3; i++) {
        double t = ks[i] / in.fps, tf;
        assert_int_equal(vimo_video_read_rgb(v, t, dec, &tf), VIMO_OK);
        int mx;
        double mae = mean_abs_diff(mem + fb * ks[i], dec, fb, &mx);
        printf("  frame %d (t=%.3f): MAE vs in-memory %.3f (max %d)\n", ks[i], tf, mae, mx);
        assert_true(mae < 2.0);
    }
    vimo_video_free(v);
    free(mem);
    free(dec);
}

static void test_mp4_synthetic(void **state)
{
    (void)state;
    if (!g_ffmpeg) skip();
    const char *dir = make_scratch_dir("render");
    assert_non_null(dir);
    char d[4096], path[4200];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(path, sizeof path, "%s/arm.mp4", d);
    const int T = 60, parents[3] = {-1, 0, 1};
    float *j = synthetic_arm(T);
    vimo_render_opts o;
    vimo_render_opts_default(&o); /* 20 fps from 30: floor(59 * 2 / 3) + 1 = 40 */
    o.view = VIMO_VIEW_SIDE;
    assert_int_equal(vimo_render_mp4(j, T, 3, parents, 30, &o, path), VIMO_OK);
    probe(path, 40, 256, "h264");
    compare_mp4_with_memory(path, j, T, 3, parents, 30, &o);
    /* the MPEG-4 part 2 fallback, for FFmpeg builds without libx264 */
    setenv("VIMO_VIDEO_ENCODER", "mpeg4", 1);
    assert_int_equal(vimo_render_mp4(j, T, 3, parents, 30, &o, path), VIMO_OK);
    unsetenv("VIMO_VIDEO_ENCODER");
    probe(path, 40, 256, "mpeg4");
    compare_mp4_with_memory(path, j, T, 3, parents, 30, &o);
    free(j);
    rm_rf(d);
}

#ifdef VIMO_TEST_HAVE_MOTION
/* dataset-1_walk_normal_001.bvh: 195 frames at 30 fps -> 130 at 20 fps. */
static void test_mp4_bandai(void **state)
{
    (void)state;
    if (!g_ffmpeg || !have_data()) skip();
    vimo_bvh *b = NULL;
    const char *bvh = data_path("motion/bandai_namco/dataset-1/data/dataset-1_walk_normal_001.bvh");
    assert_int_equal(vimo_bvh_load(&b, bvh), VIMO_OK);
    int T = vimo_bvh_frame_count(b), J = vimo_bvh_node_count(b);
    assert_int_equal(T, 195);
    float *joints = malloc(sizeof *joints * (size_t)T * J * 3);
    int *parents = malloc(sizeof *parents * (size_t)J);
    assert_int_equal(vimo_bvh_fk(b, 0.0, 1, joints), VIMO_OK);
    for (int i = 0; i < J; i++) parents[i] = vimo_bvh_node_parent(b, i);
    const char *dir = make_scratch_dir("render");
    char d[4096], path[4200];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(path, sizeof path, "%s/walk.mp4", d);
    vimo_render_opts o;
    vimo_render_opts_default(&o);
    o.view = VIMO_VIEW_THREE_QUARTER;
    o.follow = 0;
    assert_int_equal(vimo_render_mp4(joints, T, J, parents, vimo_bvh_fps(b), &o, path), VIMO_OK);
    probe(path, 130, 256, "h264");
    o.width = o.height = 128;
    o.follow = 1;
    o.fps = 0; /* the source rate: all 195 frames */
    assert_int_equal(vimo_render_mp4(joints, T, J, parents, vimo_bvh_fps(b), &o, path), VIMO_OK);
    probe(path, 195, 128, "h264");
    compare_mp4_with_memory(path, joints, T, J, parents, vimo_bvh_fps(b), &o);
    free(joints);
    free(parents);
    vimo_bvh_free(b);
    rm_rf(d);
}
#endif

static void test_bad_input(void **state)
{
    (void)state;
    float j[9] = {0, 0, 0, 0, 1, 0, 0, 2, 0};
    uint8_t *rgb = malloc(256 * 256 * 3 * 2);
    vimo_render_opts o;
    vimo_render_opts_default(&o);
    o.fps = 0;
    const int cyc[3] = {-1, 2, 1}, self[3] = {-1, 1, 1}, ok[3] = {-1, 0, 1};
    assert_int_equal(vimo_render_rgb(j, 1, 3, cyc, 20, &o, rgb), VIMO_ERR_INVALID);
    assert_int_equal(vimo_render_rgb(j, 1, 3, self, 20, &o, rgb), VIMO_ERR_INVALID);
    assert_int_equal(vimo_render_rgb(j, 1, 3, ok, 20, &o, rgb), VIMO_OK);
    assert_int_equal(vimo_render_rgb(j, 0, 3, ok, 20, &o, rgb), VIMO_ERR_INVALID);
    assert_int_equal(vimo_render_rgb(j, 1, 3, ok, 0, &o, rgb), VIMO_ERR_INVALID);
    j[4] = NAN;
    assert_int_equal(vimo_render_rgb(j, 1, 3, ok, 20, &o, rgb), VIMO_ERR_INVALID);
    j[4] = 1;
    o.width = 255;
    assert_int_equal(vimo_render_rgb(j, 1, 3, ok, 20, &o, rgb), VIMO_ERR_INVALID);
    o.width = 256;
    vimo_camera bad = {{0, 1, 0}, {0, 1, 0}, 1.0}; /* eye == target */
    o.camera = &bad;
    assert_int_equal(vimo_render_rgb(j, 1, 3, ok, 20, &o, rgb), VIMO_ERR_INVALID);
    vimo_camera down = {{0, 5, 0}, {0, 0, 0}, 1.0}; /* straight down: no "right" */
    o.camera = &down;
    assert_int_equal(vimo_render_rgb(j, 1, 3, ok, 20, &o, rgb), VIMO_ERR_INVALID);
    vimo_video_writer *w = NULL;
    assert_int_equal(vimo_video_writer_open(&w, "/tmp/x.mp4", 255, 256, 20), VIMO_ERR_INVALID);
    assert_int_equal(vimo_video_writer_open(&w, "/nonexistent-dir/x.mp4", 256, 256, 20),
                     VIMO_ERR_IO);
    assert_non_null(strstr(vimo_last_error(), "/nonexistent-dir/x.mp4"));
    vimo_video_writer_free(NULL);
    free(rgb);
}

int main(void)
{
    g_ffmpeg = have_ffmpeg();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projection_by_hand),
        cmocka_unit_test(test_preset_views),
        cmocka_unit_test(test_frame_counts),
        cmocka_unit_test(test_mp4_synthetic),
#ifdef VIMO_TEST_HAVE_MOTION
        cmocka_unit_test(test_mp4_bandai),
#endif
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
