/*
 * test_pipeline.c - resampling against hand-worked examples, and the whole
 * BVH -> features pipeline over every shared clip: output frame counts from
 * the TSVs' frame counts by the rules written out here (not the library's),
 * finite features, files written and read back.
 */
#include <math.h>
#include <sys/resource.h>

#include "mtest.h"

static void test_resample_stride(void **state)
{
    (void)state;
    /* 120 -> 20 fps: every 6th frame; 13 frames -> frames 0, 6, 12. */
    float in[13 * 2], out[13 * 2];
    for (int i = 0; i < 13; i++) in[2 * i] = (float)i, in[2 * i + 1] = (float)(100 + i);
    assert_int_equal(vimo_motion_resample_count(13, 120, 20), 3);
    assert_int_equal(vimo_motion_resample(in, 13, 2, 120, 20, out), VIMO_OK);
    assert_true(out[0] == 0 && out[2] == 6 && out[4] == 12 && out[5] == 112);
    /* 14 frames -> 0, 6, 12 (ceil(14 / 6) = 3); 12 frames -> 0, 6. */
    assert_int_equal(vimo_motion_resample_count(14, 120, 20), 3);
    assert_int_equal(vimo_motion_resample_count(12, 120, 20), 2);
    /* CMU's rounded frame time still counts as an integer ratio. */
    assert_int_equal(vimo_motion_resample_count(343, 1.0 / 0.00833333, 20), 58);
    /* Same rate: a copy. */
    assert_int_equal(vimo_motion_resample(in, 13, 2, 20, 20, out), VIMO_OK);
    assert_true(out[6] == 3);
}

static void test_resample_interp(void **state)
{
    (void)state;
    /* 30 -> 20 fps: output i at source position 1.5 i; values 0, 10, 20, ...
     * 8 frames (t = 0..7/30 s) -> positions 0, 1.5, 3, 4.5, 6 -> 5 frames. */
    float in[8], out[8];
    for (int i = 0; i < 8; i++) in[i] = 10.0f * (float)i;
    assert_int_equal(vimo_motion_resample_count(8, 30, 20), 5);
    assert_int_equal(vimo_motion_resample(in, 8, 1, 30, 20, out), VIMO_OK);
    const float want[5] = {0, 15, 30, 45, 60};
    for (int i = 0; i < 5; i++) assert_true(fabsf(out[i] - want[i]) < 1e-5f);
    /* Bandai's 0.0333333 s frame time: 127 frames -> 85 (last at 4.2 s). */
    assert_int_equal(vimo_motion_resample_count(127, 1.0 / 0.0333333, 20), 85);
    assert_int_equal(vimo_motion_resample_count(128, 1.0 / 0.0333333, 20), 85);
    /* Up-sampling 10 -> 20 fps: midpoints. */
    assert_int_equal(vimo_motion_resample_count(3, 10, 20), 5);
    assert_int_equal(vimo_motion_resample(in, 3, 1, 10, 20, out), VIMO_OK);
    assert_true(fabsf(out[1] - 5) < 1e-6f && fabsf(out[4] - 20) < 1e-6f);
    assert_int_equal(vimo_motion_resample(in, 0, 1, 30, 20, out), VIMO_ERR_INVALID);
    assert_int_equal(vimo_motion_resample(in, 3, 1, 0, 20, out), VIMO_ERR_INVALID);
    assert_int_equal(vimo_motion_resample_count(3, 30, -1), 0);
}

/* Expected 20 fps frame count from the source count, written from the rules
 * in docs/motion.md: Bandai 30 fps -> interpolation at 1.5-frame steps,
 * floor((T - 1) / 1.5) + 1; CMU 120 fps, first frame dropped -> every 6th
 * of T - 1 frames, ceil((T - 1) / 6). */
static int expected_frames(int T, int cmu)
{
    return cmu ? (T - 1 + 5) / 6 : (2 * (T - 1)) / 3 + 1;
}

static void test_all_clips(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    const char *sets[3][2] = {{"motion/bandai_namco/dataset-1/labels.tsv", "motion/bandai_namco/dataset-1/data/"},
                              {"motion/bandai_namco/dataset-2/labels.tsv", "motion/bandai_namco/dataset-2/data/"},
                              {"motion/cmu_mocap/clips.tsv", "motion/cmu_mocap/"}};
    const char *out = mt_tmp("clip.npy");
    int n = 0;
    long frames_total = 0;
    for (int s = 0; s < 3; s++) {
        FILE *f = fopen(mt_path(0, sets[s][0]), "r");
        assert_non_null(f);
        char line[2048], rel[1024];
        assert_non_null(fgets(line, sizeof line, f));
        while (fgets(line, sizeof line, f)) {
            char *cols[8] = {0};
            int nc = 0;
            for (char *t = strtok(line, "\t\n"); t && nc < 8; t = strtok(NULL, "\t\n")) cols[nc++] = t;
            int T = atoi(cols[s < 2 ? 5 : 4]);
            snprintf(rel, sizeof rel, "%s%s", sets[s][1], cols[0]);
            int got = 0;
            if (vimo_motion_convert(mt_path(1, rel), out, NULL, 0, &got) != VIMO_OK)
                fail_msg("%s", vimo_last_error());
            int want = expected_frames(T, s == 2) - 1;
            if (got != want) fail_msg("%s: %d feature frames, expected %d from %d source frames", rel, got, want, T);
            vimo_npy a;
            assert_int_equal(vimo_npy_load(out, &a), VIMO_OK);
            assert_int_equal(a.ndim, 2);
            assert_int_equal(a.shape[0], want);
            assert_int_equal(a.shape[1], 263);
            for (int64_t i = 0; i < a.count; i++)
                if (!isfinite(a.data[i])) fail_msg("%s: non-finite feature at %lld", rel, (long long)i);
            /* Contacts are 0/1; root height of a standing-start human 0.6-1.2 m. */
            for (int64_t t = 0; t < a.shape[0]; t++)
                for (int k = 259; k < 263; k++) assert_true(a.data[t * 263 + k] == 0 || a.data[t * 263 + k] == 1);
            if (a.data[3] < 0.6f || a.data[3] > 1.2f) fail_msg("%s: root height %.3f m at frame 0", rel, a.data[3]);
            frames_total += a.shape[0];
            vimo_npy_free(&a);
            n++;
        }
        fclose(f);
    }
    unlink(out);
    print_message("%d clips -> %ld feature frames at 20 fps\n", n, frames_total);
    assert_int_equal(n, 404);
}

static void test_convert_paths(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    const char *jo = mt_tmp("j.npy"), *fo = mt_tmp("f.npy");
    const char *clip = mt_path(0, "motion/cmu_mocap/bvh/09_05.bvh"); /* 144 frames */
    int n;
    /* Joints at 20 fps, then features from that .npy = features from the BVH. */
    assert_int_equal(vimo_motion_convert(clip, jo, NULL, 1, &n), VIMO_OK);
    assert_int_equal(n, 24); /* ceil(143 / 6) */
    assert_int_equal(vimo_motion_convert(jo, fo, NULL, 0, &n), VIMO_OK);
    assert_int_equal(n, 23);
    vimo_npy a, b;
    assert_int_equal(vimo_npy_load(fo, &a), VIMO_OK);
    assert_int_equal(vimo_motion_convert(clip, fo, NULL, 0, &n), VIMO_OK);
    assert_int_equal(vimo_npy_load(fo, &b), VIMO_OK);
    assert_int_equal(a.count, b.count);
    assert_memory_equal(a.data, b.data, (size_t)a.count * sizeof(float));
    vimo_npy_free(&a);
    vimo_npy_free(&b);
    /* Options: keep the first frame, 30 fps -> every 4th of 144 = 36 frames. */
    vimo_motion_opts o;
    vimo_motion_opts_init(&o);
    o.fps = 30;
    o.skip_frames = 0;
    o.map = vimo_joint_map_find("cmu-cgspeed");
    assert_int_equal(vimo_motion_convert(clip, jo, &o, 1, &n), VIMO_OK);
    assert_int_equal(n, 36);
    /* The wrong map is refused with the missing node named. */
    o.map = vimo_joint_map_find("bandai-namco");
    assert_int_equal(vimo_motion_convert(clip, jo, &o, 1, &n), VIMO_ERR_INVALID);
    mt_assert_msg("'Hips' not in");
    /* A features file is not joints. */
    assert_int_equal(vimo_motion_convert(mt_path(1, "motion/humanml3d/new_joint_vecs/012314.npy"), fo, NULL, 0, &n),
                     VIMO_ERR_SHAPE);
    unlink(jo);
    unlink(fo);
}

/* 1001 joints without channels and 200k one-value frames: about 1.4 MB of
 * text. FK of every node of every frame would take 2.4 GB; the pipeline
 * streams, so it must run under a 1 GiB address-space limit. (Skipped under
 * AddressSanitizer, which reserves far more address space.) */
static void test_hostile_memory(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip();
#else
    enum { NJ = 1000, NT = 200000 };
    size_t cap = 64 + NJ * 48 + 64 + (size_t)NT * 2 + 64, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text + n, cap - n, "HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 1 Xposition\n");
    for (int i = 0; i < NJ; i++)
        n += (size_t)snprintf(text + n, cap - n, "JOINT j%d\n{\nOFFSET 0 1 0\nCHANNELS 0\n}\n", i);
    n += (size_t)snprintf(text + n, cap - n, "}\nMOTION\nFrames: %d\nFrame Time: 0.05\n", NT);
    for (int t = 0; t < NT; t++) text[n++] = '0', text[n++] = '\n';
    vimo_bvh *b;
    assert_int_equal(vimo_bvh_parse(&b, text, n, "wide.bvh"), VIMO_OK);
    free(text);
    vimo_joint_map_entry e[22];
    for (int i = 0; i < 22; i++) e[i] = (vimo_joint_map_entry){i, i % 2 ? "j7" : "r", NULL, 0};
    vimo_joint_map m = {"wide", 22, e, 0};
    vimo_motion_opts o;
    vimo_motion_opts_init(&o);
    o.map = &m;
    o.scale = 1.0;
    int T;
    assert_int_equal(vimo_motion_bvh_frames(b, &o, &T), VIMO_OK);
    assert_int_equal(T, NT);
    float *out = malloc((size_t)T * 66 * sizeof *out);
    assert_non_null(out);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)1 << 30;
    assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
    vimo_status st = vimo_motion_bvh_joints(b, &o, out);
    setrlimit(RLIMIT_AS, &old);
    assert_int_equal(st, VIMO_OK);
    assert_true(out[(size_t)(T - 1) * 66 + 4] == 1.0f); /* j7 is 1 above the root */
    free(out);
    vimo_bvh_free(b);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resample_stride), cmocka_unit_test(test_resample_interp),
        cmocka_unit_test(test_all_clips),       cmocka_unit_test(test_convert_paths),
        cmocka_unit_test(test_hostile_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
