/*
 * test_video_reader.c - the video reader against independent references:
 *  - metadata of every shipped clip vs the values ffprobe 5.1 reports
 *    (width, height, nb_frames, avg_frame_rate, duration; PROVENANCE.md
 *    agrees on size and rate);
 *  - decoded RGB frames at native resolution vs the ffmpeg CLI's frame for
 *    the same time (`ffmpeg -ss T -i F -frames:v 1 -pix_fmt rgb24`);
 *  - the CLIP crops vs the ffmpeg CLI's scale (bicubic) + crop of the same
 *    frame, with sizes and offsets worked out here from the documented rule;
 *  - normalisation vs the published CLIP mean/std, computed here;
 *  - resize/crop geometry on a synthetic striped image worked out by hand;
 *  - the same bitstream in other containers (MPEG-TS, Matroska, raw H.264)
 *    gives the same frames as the MP4.
 * Skips (77) without the shared data or the ffmpeg CLI.
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
#include "vimo/video.h"

typedef struct clip {
    const char *rel;
    int w, h;
    int64_t frames;
    double fps, duration;
    int audio;
    int coarse_tb; /* stream time base is 1/fps (AVI): see test_native_vs_ffmpeg */
} clip;

/* From `ffprobe -show_entries stream=width,height,nb_frames,avg_frame_rate,
 * duration` on each file (FFmpeg 5.1 CLI, independent of vimo). */
static const clip k_clips[] = {
    {"video/mmaction2/demo.mp4", 340, 256, 280, 28.0, 10.0, 0, 0},
    {"video/mmaction2/demo_skeleton.mp4", 1920, 1080, 72, 2160.0 / 77.0, 2.566667, 0, 0},
    {"video/motionllm_examples/COBRA_PUSH_UPS_clip2.mp4", 1920, 1080, 53, 25.0, 2.12, 0, 0},
    {"video/motionllm_examples/Play_Electric_guitar_16_clip1.mp4", 1280, 720, 502, 30.0,
     16.733333, 0, 0},
    {"video/motionllm_examples/"
     "Shaolin_Kung_Fu_Wushu_Selfdefense_Sword_Form_Session_22_clip3.mp4",
     1280, 720, 150, 30.0, 5.0, 0, 0},
    {"video/motionllm_examples/lift_weight.mp4", 1280, 720, 214, 30.0, 7.133333, 1, 0},
    {"video/motionllm_examples/sample_demo_1.mp4", 640, 360, 243, 25.0, 9.72, 1, 0},
    {"video/motionllm_examples/sprint_run_18_clip1.mp4", 1280, 720, 90, 24.0, 3.75, 1, 0},
    {"video/mmaction2/S001C001P001R001A001_rgb.avi", 1920, 1080, 103, 30.0, 3.433333, 0, 1},
    {"video/pyskl/ntu_sample.avi", 1920, 1080, 72, 30.0, 2.4, 0, 1},
};
#define NCLIPS (int)(sizeof k_clips / sizeof k_clips[0])

static const float k_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float k_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

static void test_sample_times(void **state)
{
    (void)state;
    double t[4];
    assert_int_equal(vimo_video_sample_times(2.0, 4, t), VIMO_OK);
    assert_true(fabs(t[0] - 0.25) < 1e-12 && fabs(t[1] - 0.75) < 1e-12);
    assert_true(fabs(t[2] - 1.25) < 1e-12 && fabs(t[3] - 1.75) < 1e-12);
    assert_int_equal(vimo_video_sample_times(2.0, 0, t), VIMO_ERR_INVALID);
    assert_int_equal(vimo_video_sample_times(0.0, 4, t), VIMO_ERR_INVALID);
}

static void test_info_all(void **state)
{
    (void)state;
    for (int i = 0; i < NCLIPS; i++) {
        const clip *c = &k_clips[i];
        vimo_video *v = NULL;
        vimo_video_info in;
        vimo_status st = vimo_video_open(&v, data_path(c->rel), NULL);
        if (st) fprintf(stderr, "%s\n", vimo_last_error());
        assert_int_equal(st, VIMO_OK);
        assert_int_equal(vimo_video_get_info(v, &in), VIMO_OK);
        printf("  %-40.40s %dx%d %.4f fps %.4f s %lld frames %s\n", c->rel + 6, in.width,
               in.height, in.fps, in.duration_s, (long long)in.frame_count, in.codec);
        assert_int_equal(in.width, c->w);
        assert_int_equal(in.height, c->h);
        assert_int_equal(in.frame_count, c->frames);
        assert_int_equal(in.count_src, VIMO_VIDEO_COUNT_HEADER);
        assert_true(fabs(in.fps - c->fps) < 1e-3);
        assert_true(fabs(in.duration_s - c->duration) < 1e-3);
        assert_int_equal(in.has_audio, c->audio);
        assert_string_equal(in.codec, "h264");
        vimo_video_free(v);
    }
}

/* 8 frames of every clip: timestamps obey the rule, values are CLIP-normal,
 * crops and tensor agree with the published constants, frames differ. */
static void test_sample_all(void **state)
{
    (void)state;
    const int n = 8, S = 224;
    size_t plane = (size_t)S * S;
    float *out = malloc(sizeof *out * n * 3 * plane);
    uint8_t *crops = malloc((size_t)n * 3 * plane);
    assert_non_null(out);
    assert_non_null(crops);
    for (int i = 0; i < NCLIPS; i++) {
        const clip *c = &k_clips[i];
        vimo_video *v = NULL;
        double tf[8], t[8];
        assert_int_equal(vimo_video_open(&v, data_path(c->rel), NULL), VIMO_OK);
        vimo_status st = vimo_video_sample_clip(v, n, S, out, crops, tf);
        if (st) fprintf(stderr, "%s\n", vimo_last_error());
        assert_int_equal(st, VIMO_OK);
        vimo_video_sample_times(c->duration, n, t);
        for (int k = 0; k < n; k++) {
            /* first frame at or after t_k: within one frame period of it */
            assert_true(tf[k] >= t[k] - 1e-3);
            assert_true(tf[k] < t[k] + 1.0 / c->fps + 1e-3);
            if (k) assert_true(tf[k] > tf[k - 1]);
            const uint8_t *cr = crops + k * 3 * plane;
            const float *o = out + k * 3 * plane;
            double sum = 0, sum2 = 0;
            for (size_t p = 0; p < plane; p++)
                for (int ch = 0; ch < 3; ch++) {
                    float want = (cr[3 * p + ch] / 255.0f - k_mean[ch]) / k_std[ch];
                    float got = o[ch * plane + p];
                    assert_true(isfinite(got));
                    assert_true(fabsf(got - want) < 1e-4f);
                    sum += cr[3 * p + ch];
                    sum2 += (double)cr[3 * p + ch] * cr[3 * p + ch];
                }
            double mean = sum / (3.0 * plane), sd = sqrt(sum2 / (3.0 * plane) - mean * mean);
            assert_true(sd > 5.0); /* a real picture, not a blank frame */
            if (k) {
                int mx;
                double d = mean_abs_diff(cr, cr - 3 * plane, 3 * plane, &mx);
                assert_true(d > 0.1); /* the clip moves between samples */
            }
        }
        vimo_video_free(v);
    }
    free(out);
    free(crops);
}

/* Native frames vs the ffmpeg CLI at the first and last sample times (and
 * the middle one below 1080p).
 * The CLI shifts timestamps by -ss rounded to the stream time base, so with
 * a 1/30 s time base (the AVIs) `-ss t` returns the first frame at or after
 * round(t * 30) / 30, not t; there the reference is asked for the frame's
 * own timestamp, which is exact (the rule itself is checked in
 * test_sample_all). MP4 time bases (1/12288..1/15360 s) are fine enough to
 * ask for t itself. */
static void test_native_vs_ffmpeg(void **state)
{
    (void)state;
    for (int i = 0; i < NCLIPS; i++) {
        const clip *c = &k_clips[i];
        const char *path = data_path(c->rel);
        vimo_video *v = NULL;
        size_t bytes = (size_t)c->w * c->h * 3;
        uint8_t *rgb = malloc(bytes);
        double t[8];
        assert_non_null(rgb);
        vimo_video_sample_times(c->duration, 8, t);
        assert_int_equal(vimo_video_open(&v, path, NULL), VIMO_OK);
        const int ks[3] = {0, 7, 4}; /* the middle one only below 1080p: keeps it fast */
        for (int j = 0; j < (c->w * c->h <= 1280 * 720 ? 3 : 2); j++) {
            double tf;
            assert_int_equal(vimo_video_read_rgb(v, t[ks[j]], rgb, &tf), VIMO_OK);
            uint8_t *ref = ffmpeg_frame(path, c->coarse_tb ? tf : t[ks[j]], NULL, bytes);
            assert_non_null(ref);
            int mx;
            double mae = mean_abs_diff(rgb, ref, bytes, &mx);
            printf("  %-40.40s t=%.4f frame %.4f: MAE %.4f max %d\n", c->rel + 6, t[ks[j]], tf,
                   mae, mx);
            assert_true(mae < 0.1);
            free(ref);
        }
        vimo_video_free(v);
        free(rgb);
    }
}

/* The documented geometry, worked out independently of the library. */
static void resize_rule(int w, int h, int S, int *rw, int *rh)
{
    if (w <= h) *rw = S, *rh = (int)((long long)h * S / w);
    else *rh = S, *rw = (int)((long long)w * S / h);
}

/* CLIP crops vs ffmpeg's scale=rw:rh:flags=bicubic,crop=S:S:x:y. */
static void test_crops_vs_ffmpeg(void **state)
{
    (void)state;
    const int pick[] = {0, 3, 6, 9}; /* 340x256 (odd resize width), 720p, 360p, 1080p avi */
    const int n = 8, S = 224;
    uint8_t *crops = malloc((size_t)n * S * S * 3);
    assert_non_null(crops);
    for (size_t q = 0; q < sizeof pick / sizeof pick[0]; q++) {
        const clip *c = &k_clips[pick[q]];
        const char *path = data_path(c->rel);
        vimo_video *v = NULL;
        double t[8], tf[8];
        int rw, rh;
        resize_rule(c->w, c->h, S, &rw, &rh);
        char vf[256];
        snprintf(vf, sizeof vf, "scale=%d:%d:flags=bicubic,crop=%d:%d:%d:%d", rw, rh, S, S,
                 (rw - S) / 2, (rh - S) / 2);
        vimo_video_sample_times(c->duration, n, t);
        assert_int_equal(vimo_video_open(&v, path, NULL), VIMO_OK);
        assert_int_equal(vimo_video_sample_clip(v, n, S, NULL, crops, tf), VIMO_OK);
        for (int k = 0; k < n; k += 7) {
            uint8_t *ref = ffmpeg_frame(path, c->coarse_tb ? tf[k] : t[k], vf, (size_t)S * S * 3);
            assert_non_null(ref);
            int mx;
            double mae = mean_abs_diff(crops + (size_t)k * S * S * 3, ref, (size_t)S * S * 3, &mx);
            printf("  %-40.40s %s t=%.3f: MAE %.4f max %d\n", c->rel + 6, vf, t[k], mae, mx);
            assert_true(mae < 0.1);
            free(ref);
        }
        vimo_video_free(v);
    }
    free(crops);
}

/* A 400x200 image: red x < 100, green 100 <= x < 300, blue x >= 300.
 * Short side 200 -> 224: 448x224, stripes at 112 and 336; the centre crop
 * starts at (448 - 224) / 2 = 112, so it is the green stripe exactly:
 * green everywhere but the bicubic transition at the two edge columns. */
static void test_preprocess_geometry(void **state)
{
    (void)state;
    const int W = 400, H = 200, S = 224;
    uint8_t *img = malloc((size_t)W * H * 3), *crop = malloc((size_t)S * S * 3);
    float *out = malloc(sizeof *out * 3 * S * S);
    assert_true(img && crop && out);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = img + ((size_t)y * W + x) * 3;
            p[0] = x < 100 ? 255 : 0;
            p[1] = x >= 100 && x < 300 ? 255 : 0;
            p[2] = x >= 300 ? 255 : 0;
        }
    assert_int_equal(vimo_video_preprocess_rgb(img, W, H, W * 3, S, out, crop), VIMO_OK);
    for (int y = 0; y < S; y++)
        for (int x = 3; x < S - 3; x++) {
            const uint8_t *p = crop + ((size_t)y * S + x) * 3;
            assert_true(p[0] <= 2 && p[1] >= 253 && p[2] <= 2);
        }
    /* the edges are transitions: some red bleeds into column 0, blue into 223 */
    assert_true(crop[0] > 5 && crop[0] < 250);
    assert_true(crop[(S - 1) * 3 + 2] > 5 && crop[(S - 1) * 3 + 2] < 250);
    /* normalisation: green 255 -> (1 - mean_g) / std_g at the centre */
    float g = out[S * S + (S / 2) * S + S / 2];
    assert_true(fabsf(g - (1.0f - k_mean[1]) / k_std[1]) < 1e-4f);
    float r = out[(S / 2) * S + S / 2];
    assert_true(fabsf(r - (0.0f - k_mean[0]) / k_std[0]) < 1e-4f);
    /* portrait: short side is the width */
    assert_int_equal(vimo_video_preprocess_rgb(img, 200, 400, W * 3, S, out, crop), VIMO_OK);
    assert_int_equal(vimo_video_preprocess_rgb(img, W, H, W * 2, S, out, crop),
                     VIMO_ERR_INVALID);
    free(img);
    free(crop);
    free(out);
}

/* Random access: backwards, repeated, and past the end. */
static void test_random_access(void **state)
{
    (void)state;
    const clip *c = &k_clips[0];
    vimo_video *v = NULL;
    size_t bytes = (size_t)c->w * c->h * 3;
    uint8_t *a = malloc(bytes), *b = malloc(bytes);
    double ta, tb;
    assert_int_equal(vimo_video_open(&v, data_path(c->rel), NULL), VIMO_OK);
    assert_int_equal(vimo_video_read_rgb(v, 9.0, a, &ta), VIMO_OK);
    assert_int_equal(vimo_video_read_rgb(v, 1.0, b, &tb), VIMO_OK);
    assert_true(tb < ta);
    assert_int_equal(vimo_video_read_rgb(v, 9.0, b, &tb), VIMO_OK);
    assert_true(tb == ta && memcmp(a, b, bytes) == 0);
    /* the last frame (9.964 s) answers until the end, 10 s; later is an error */
    assert_int_equal(vimo_video_read_rgb(v, 9.99, b, &tb), VIMO_OK);
    assert_true(fabs(tb - 279.0 / 28.0) < 1e-3);
    assert_int_equal(vimo_video_read_rgb(v, 10.5, b, &tb), VIMO_ERR_NOT_FOUND);
    assert_non_null(strstr(vimo_last_error(), "demo.mp4"));
    assert_int_equal(vimo_video_read_rgb(v, -1.0, b, &tb), VIMO_ERR_INVALID);
    /* more samples than frames: duplicates, no error */
    vimo_video_free(v);
    v = NULL;
    assert_int_equal(vimo_video_open(&v, data_path(k_clips[2].rel), NULL), VIMO_OK);
    uint8_t *crops = malloc((size_t)64 * 32 * 32 * 3);
    double tf[64];
    assert_int_equal(vimo_video_sample_clip(v, 64, 32, NULL, crops, tf), VIMO_OK);
    for (int k = 1; k < 64; k++) assert_true(tf[k] >= tf[k - 1]);
    free(crops);
    vimo_video_free(v);
    free(a);
    free(b);
}

/* A 10-frame clip (10 fps, B-frames) made by the ffmpeg CLI: 8 samples at
 * t_i = (i + 0.5) / 8 s take frames ceil(10 t_i) = 1, 2, 4, 5, 6, 7, 9 and,
 * for t_7 = 0.9375 s past the last frame (0.9 s) but before the end (1 s),
 * the last frame 9. Reference frames: the CLI's full decode, in order. */
static void test_short_clip_end(void **state)
{
    (void)state;
    const char *dir = make_scratch_dir("short");
    assert_non_null(dir);
    char d[4096], path[4200], cmd[8400];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(path, sizeof path, "%s/short.mp4", d);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=128x96:rate=10:duration=1 "
             "-c:v libx264 -bf 3 -g 10 -pix_fmt yuv420p '%s'", path);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -i '%s' -f rawvideo -pix_fmt rgb24 -",
             path);
    const size_t fb = 128 * 96 * 3;
    uint8_t *all, *mine = malloc(fb);
    size_t len;
    assert_int_equal(run_capture(cmd, 20 * fb, &all, &len), 0);
    assert_int_equal(len, 10 * fb);
    vimo_video *v = NULL;
    double t[8], tf;
    const int want[8] = {1, 2, 4, 5, 6, 7, 9, 9};
    assert_int_equal(vimo_video_open(&v, path, NULL), VIMO_OK);
    vimo_video_sample_times(1.0, 8, t);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(vimo_video_read_rgb(v, t[i], mine, &tf), VIMO_OK);
        int mx;
        double mae = mean_abs_diff(mine, all + want[i] * fb, fb, &mx);
        printf("  t=%.4f -> frame at %.2f s, MAE vs CLI frame %d: %.3f\n", t[i], tf, want[i], mae);
        assert_true(fabs(tf - want[i] / 10.0) < 1e-6);
        assert_true(mae < 0.1);
    }
    assert_int_equal(vimo_video_read_rgb(v, 1.0, mine, &tf), VIMO_ERR_NOT_FOUND);
    vimo_video_free(v);
    free(all);
    free(mine);
    rm_rf(d);
}

/* The same H.264 bitstream as demo.mp4 stream-copied by the ffmpeg CLI into
 * MPEG-TS (no index; its seeks land after keyframes), Matroska, and a raw
 * Annex B stream (cannot seek at all, no duration in the header): the 8
 * sampled crops must equal the MP4's bit for bit. */
static void test_other_containers(void **state)
{
    (void)state;
    const int n = 8, S = 112;
    const size_t bytes = (size_t)n * S * S * 3;
    uint8_t *ref = malloc(bytes), *got = malloc(bytes);
    vimo_video *v = NULL;
    assert_int_equal(vimo_video_open(&v, data_path(k_clips[0].rel), NULL), VIMO_OK);
    assert_int_equal(vimo_video_sample_clip(v, n, S, NULL, ref, NULL), VIMO_OK);
    vimo_video_free(v);
    const char *dir = make_scratch_dir("containers");
    assert_non_null(dir);
    char d[4096], path[4200], cmd[9000];
    snprintf(d, sizeof d, "%s", dir);
    const char *ext[3] = {"ts", "mkv", "h264"};
    const vimo_video_count_src src[3] = {VIMO_VIDEO_COUNT_ESTIMATED, VIMO_VIDEO_COUNT_ESTIMATED,
                                         VIMO_VIDEO_COUNT_SCANNED};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/demo.%s", d, ext[i]);
        snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -y -i '%s' -c copy %s '%s'",
                 data_path(k_clips[0].rel), i == 2 ? "-bsf:v h264_mp4toannexb" : "", path);
        assert_int_equal(system(cmd), 0);
        vimo_video_info in;
        assert_int_equal(vimo_video_open(&v, path, NULL), VIMO_OK);
        vimo_video_get_info(v, &in);
        assert_int_equal(in.width, 340);
        assert_int_equal(in.frame_count, 280);
        assert_int_equal(in.count_src, src[i]);
        assert_true(fabs(in.duration_s - 10.0) < 0.05);
        vimo_status st = vimo_video_sample_clip(v, n, S, NULL, got, NULL);
        if (st) fprintf(stderr, "%s\n", vimo_last_error());
        assert_int_equal(st, VIMO_OK);
        int mx;
        double mae = mean_abs_diff(ref, got, bytes, &mx);
        printf("  demo.%s: %s, %lld frames, %.3f s; crops vs the MP4's: MAE %.4f\n", ext[i],
               in.container, (long long)in.frame_count, in.duration_s, mae);
        assert_true(mae == 0.0);
        vimo_video_free(v);
        v = NULL;
    }
    free(ref);
    free(got);
    rm_rf(d);
}

int main(void)
{
    if (!have_data() || !have_ffmpeg()) {
        fprintf(stderr, "skipped: needs %s and the ffmpeg CLI\n", data_path("video"));
        return SKIP_CODE;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_times),     cmocka_unit_test(test_info_all),
        cmocka_unit_test(test_sample_all),       cmocka_unit_test(test_native_vs_ffmpeg),
        cmocka_unit_test(test_crops_vs_ffmpeg),  cmocka_unit_test(test_preprocess_geometry),
        cmocka_unit_test(test_random_access),    cmocka_unit_test(test_short_clip_end),
        cmocka_unit_test(test_other_containers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
