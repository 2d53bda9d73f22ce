/*
 * test_video_corrupt.c - hostile and broken files: every one fails with an
 * error whose message names the file, within a bounded time, and never
 * crashes (run it under VIMO_SANITIZE=ON for memory errors too).
 *
 * Inputs are made here: truncated copies of two real MP4s (one with its
 * index at the end, one "faststart" with the index first), a copy with
 * garbage written over the middle of its media data, random bytes, a text
 * file, an empty file, a directory, a missing file, and an audio-only file
 * made with the ffmpeg CLI, and randomly mutated copies of a small clip.
 * Skips (77) without the shared data or the ffmpeg CLI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"
#include "vimo/video.h"

#define BOUND_S 15.0 /* seconds any one bad file may take */

static const char *g_dir;

/* Opens and samples path; returns the first error (VIMO_OK if none) and
 * checks the time bound and that an error message names the file. */
static vimo_status try_read(const char *path, const char *name)
{
    vimo_video_opts o = {.threads = 2, .timeout_ms = 5000};
    vimo_video *v = NULL;
    float *out = malloc(sizeof *out * 8 * 3 * 64 * 64);
    double t0 = now_s();
    vimo_status st = vimo_video_open(&v, path, &o);
    if (st == VIMO_OK) st = vimo_video_sample_clip(v, 8, 64, out, NULL, NULL);
    double dt = now_s() - t0;
    printf("  %-28s -> %-16s %6.3f s  %s\n", name, vimo_status_str(st), dt,
           st ? vimo_last_error() : "");
    assert_true(dt < BOUND_S);
    if (st != VIMO_OK) assert_non_null(strstr(vimo_last_error(), name));
    vimo_video_free(v);
    free(out);
    return st;
}

static char *path_in(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static void truncated_copies(const char *rel, const size_t *cuts, int ncuts, int expect_open_ok)
{
    size_t len;
    uint8_t *data = read_file(data_path(rel), 64u << 20, &len);
    assert_non_null(data);
    for (int i = 0; i < ncuts; i++) {
        size_t cut = cuts[i] < len ? cuts[i] : len - 1;
        char name[64];
        snprintf(name, sizeof name, "trunc_%zu.mp4", cut);
        assert_int_equal(write_file(path_in(name), data, cut), 0);
        vimo_status st = try_read(path_in(name), name);
        assert_int_not_equal(st, VIMO_OK);
        if (!expect_open_ok) assert_int_equal(st, VIMO_ERR_FORMAT);
    }
    free(data);
}

/* demo.mp4 keeps its index (moov) at the end: any cut loses it. */
static void test_truncated_moov_last(void **state)
{
    (void)state;
    const size_t cuts[] = {0, 7, 100, 4096, 317769, 631615, 635000};
    truncated_copies("video/mmaction2/demo.mp4", cuts, 7, 0);
}

/* sample_demo_1.mp4 is faststart: cuts after the index leave a file that
 * opens but whose later frames are missing. */
static void test_truncated_faststart(void **state)
{
    (void)state;
    const size_t cuts[] = {20, 5000, 9700, 200000, 464794, 1084520, 1400000};
    truncated_copies("video/motionllm_examples/sample_demo_1.mp4", cuts, 7, 1);
}

/* Garbage over the middle of the media data: the decoder may conceal it;
 * what matters is a bounded, clean outcome. */
static void test_garbage_inside(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = read_file(data_path("video/motionllm_examples/sample_demo_1.mp4"),
                              64u << 20, &len);
    assert_non_null(data);
    srand(12345);
    for (size_t i = len / 3; i < len / 3 + 200000 && i < len; i++) data[i] = (uint8_t)rand();
    assert_int_equal(write_file(path_in("garbage_mid.mp4"), data, len), 0);
    (void)try_read(path_in("garbage_mid.mp4"), "garbage_mid.mp4");
    /* and garbage over the index itself */
    for (size_t i = 100; i < 9000; i++) data[i] = (uint8_t)rand();
    assert_int_equal(write_file(path_in("garbage_moov.mp4"), data, len), 0);
    (void)try_read(path_in("garbage_moov.mp4"), "garbage_moov.mp4");
    free(data);
}

static void test_not_video(void **state)
{
    (void)state;
    uint8_t buf[100000];
    srand(4242);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)rand();
    assert_int_equal(write_file(path_in("random.mp4"), buf, sizeof buf), 0);
    assert_int_not_equal(try_read(path_in("random.mp4"), "random.mp4"), VIMO_OK);

    const char *text = "This is not a video.\nJust some text, 2 lines.\n";
    assert_int_equal(write_file(path_in("notes.txt"), text, strlen(text)), 0);
    assert_int_not_equal(try_read(path_in("notes.txt"), "notes.txt"), VIMO_OK);

    assert_int_equal(write_file(path_in("empty.mp4"), "", 0), 0);
    assert_int_not_equal(try_read(path_in("empty.mp4"), "empty.mp4"), VIMO_OK);

    assert_int_equal(try_read(path_in("missing.mp4"), "missing.mp4"), VIMO_ERR_NOT_FOUND);
    assert_int_not_equal(try_read(g_dir, "vimo_corrupt_"), VIMO_OK); /* a directory */

    /* A BVH text file with a video extension. */
    assert_int_not_equal(
        try_read(data_path("motion/cmu_mocap/bvh/09_01.bvh"), "09_01.bvh"), VIMO_OK);
}

/* A valid media file with no video stream: a clear NOT_FOUND. */
static void test_audio_only(void **state)
{
    (void)state;
    char cmd[4600];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i sine=frequency=440:duration=1 -c:a aac "
             "'%s'", path_in("tone.m4a"));
    assert_int_equal(system(cmd), 0);
    vimo_status st = try_read(path_in("tone.m4a"), "tone.m4a");
    assert_int_equal(st, VIMO_ERR_NOT_FOUND);
    assert_non_null(strstr(vimo_last_error(), "no video stream"));
}

/* 60 copies of a small clip (made by the ffmpeg CLI) with random bytes
 * overwritten (a third of them in the header area) and random cuts: each
 * either reads or fails cleanly, in bounded time. */
static void test_mutations(void **state)
{
    (void)state;
    char cmd[4600], name[64];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=128x96:rate=10:duration=2 "
             "-c:v libx264 -bf 3 -g 10 -pix_fmt yuv420p '%s'", path_in("small.mp4"));
    assert_int_equal(system(cmd), 0);
    size_t len;
    uint8_t *orig = read_file(path_in("small.mp4"), 1u << 20, &len), *m = malloc(len);
    assert_true(orig && m && len > 1000);
    srand(777);
    int ok = 0;
    for (int it = 0; it < 60; it++) {
        memcpy(m, orig, len);
        size_t lim = it % 3 == 0 ? 2000 : len, cut = it % 4 == 0 ? (size_t)rand() % len : len;
        for (int k = 1 + rand() % 16; k > 0; k--) m[(size_t)rand() % lim] = (uint8_t)rand();
        snprintf(name, sizeof name, "mut_%02d.mp4", it);
        assert_int_equal(write_file(path_in(name), m, cut), 0);
        ok += try_read(path_in(name), name) == VIMO_OK;
    }
    printf("  %d of 60 mutated files still read\n", ok);
    free(orig);
    free(m);
}

static void test_bad_args(void **state)
{
    (void)state;
    vimo_video *v = NULL;
    assert_int_equal(vimo_video_open(NULL, "x", NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_video_open(&v, NULL, NULL), VIMO_ERR_INVALID);
    vimo_video_free(NULL);
    assert_int_equal(vimo_video_open(&v, data_path("video/mmaction2/demo.mp4"), NULL), VIMO_OK);
    float f[3 * 8 * 8];
    assert_int_equal(vimo_video_sample_clip(v, 0, 8, f, NULL, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_video_sample_clip(v, 1, 0, f, NULL, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_video_sample_clip(v, 1, 100000, f, NULL, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_video_read_rgb(v, 1.0, NULL, NULL), VIMO_ERR_INVALID);
    vimo_video_free(v);
}

int main(void)
{
    if (!have_data() || !have_ffmpeg()) {
        fprintf(stderr, "skipped: needs %s and the ffmpeg CLI\n", data_path("video"));
        return SKIP_CODE;
    }
    g_dir = make_scratch_dir("corrupt");
    if (!g_dir) return 1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", g_dir);
    g_dir = dir;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated_moov_last), cmocka_unit_test(test_truncated_faststart),
        cmocka_unit_test(test_garbage_inside),      cmocka_unit_test(test_not_video),
        cmocka_unit_test(test_audio_only),          cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_bad_args),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rm_rf(dir);
    return rc;
}
