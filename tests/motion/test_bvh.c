/*
 * test_bvh.c - BVH parsing: hand-written files (structure, channels, End
 * Sites, names), gzip, malformed files (each error must name the file and the
 * right line), and every real clip in ../shared checked against the frame
 * counts and frame times of labels.tsv / clips.tsv (built from the files by
 * a separate tool, see PROVENANCE.md).
 */
#include <math.h>
#include <zlib.h>

#include "mtest.h"

static const char *k_small =
    "HIERARCHY\n"                                                         /* 1 */
    "ROOT Hips\n"                                                         /* 2 */
    "{\n"                                                                 /* 3 */
    "\tOFFSET 0.0 90.0 0.0\n"                                             /* 4 */
    "\tCHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation\n"
    "\tJOINT Left Leg\n"                                                  /* 6: a name with a space */
    "\t{\n"
    "\t\tOFFSET 10 -40 0\n"
    "\t\tCHANNELS 3 Zrotation Xrotation Yrotation\n"
    "\t\tEnd Site\n"
    "\t\t{\n"
    "\t\t\tOFFSET 0 -40 5\n"
    "\t\t}\n"
    "\t}\n"
    "\tJOINT Spine {\n"                                                   /* brace on the name line */
    "\t\tOFFSET 0 20 0\n"
    "\t\tCHANNELS 1 Yrotation\n"
    "\t\tEnd Site\n"
    "\t\t{\n"
    "\t\t\tOFFSET 0 10 0\n"
    "\t\t}\n"
    "\t\tEnd Site\n"
    "\t\t{\n"
    "\t\t\tOFFSET 5 0 0\n"
    "\t\t}\n"
    "\t}\n"
    "}\n"
    "MOTION\n"
    "Frames: 3\n"
    "Frame Time: 0.04\n"
    "1 2 3 4 5 6 7 8 9 10\r\n"
    "\n"
    "-1e1 2.5 3 4 5 6 7 8 9 10\n"
    "  0 0 0 0 0 0 0 0 0 0  \n"
    "\n";

static void test_small(void **state)
{
    (void)state;
    vimo_bvh *b;
    assert_int_equal(vimo_bvh_parse(&b, k_small, strlen(k_small), "small.bvh"), VIMO_OK);
    assert_int_equal(vimo_bvh_joint_count(b), 3);
    assert_int_equal(vimo_bvh_end_site_count(b), 3);
    assert_int_equal(vimo_bvh_node_count(b), 6);
    assert_int_equal(vimo_bvh_channel_count(b), 10);
    assert_int_equal(vimo_bvh_frame_count(b), 3);
    assert_true(fabs(vimo_bvh_frame_time(b) - 0.04) < 1e-12);
    assert_true(fabs(vimo_bvh_fps(b) - 25.0) < 1e-9);
    assert_string_equal(vimo_bvh_node_name(b, 0), "Hips");
    assert_string_equal(vimo_bvh_node_name(b, 1), "Left Leg");
    assert_string_equal(vimo_bvh_node_name(b, 2), "Spine");
    assert_string_equal(vimo_bvh_node_name(b, 3), "Left Leg_End");
    assert_string_equal(vimo_bvh_node_name(b, 4), "Spine_End");
    assert_string_equal(vimo_bvh_node_name(b, 5), "Spine_End2");
    assert_int_equal(vimo_bvh_node_parent(b, 0), -1);
    assert_int_equal(vimo_bvh_node_parent(b, 2), 0);
    assert_int_equal(vimo_bvh_node_parent(b, 3), 1);
    assert_int_equal(vimo_bvh_node_parent(b, 5), 2);
    assert_int_equal(vimo_bvh_find(b, "Spine_End2"), 5);
    assert_int_equal(vimo_bvh_find(b, "spine"), -1);
    double off[3];
    vimo_bvh_node_offset(b, 3, off);
    assert_true(off[0] == 0 && off[1] == -40 && off[2] == 5);
    vimo_bvh_channel ch[6];
    assert_int_equal(vimo_bvh_joint_channels(b, 0, ch), 6);
    assert_int_equal(ch[3], VIMO_BVH_ZROT);
    assert_int_equal(ch[4], VIMO_BVH_YROT);
    assert_int_equal(ch[5], VIMO_BVH_XROT);
    assert_int_equal(vimo_bvh_joint_channels(b, 1, ch), 3);
    assert_int_equal(ch[1], VIMO_BVH_XROT);
    assert_int_equal(vimo_bvh_channel_offset(b, 2), 9);
    assert_int_equal(vimo_bvh_joint_channels(b, 4, ch), 0);
    const float *f = vimo_bvh_frames(b);
    assert_true(f[0] == 1 && f[9] == 10 && f[10] == -10 && f[11] == 2.5f && f[29] == 0);
    vimo_bvh_free(b);
    vimo_bvh_free(NULL);
}

static void test_gzip_and_file(void **state)
{
    (void)state;
    const char *plain = mt_tmp("s.bvh"), *gz = mt_tmp("s.bvh.gz");
    mt_write(plain, k_small, strlen(k_small));
    gzFile g = gzopen(gz, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, k_small, (unsigned)strlen(k_small)), (int)strlen(k_small));
    assert_int_equal(gzclose(g), Z_OK);
    vimo_bvh *a, *b;
    assert_int_equal(vimo_bvh_load(&a, plain), VIMO_OK);
    assert_int_equal(vimo_bvh_load(&b, gz), VIMO_OK);
    assert_int_equal(vimo_bvh_frame_count(a), vimo_bvh_frame_count(b));
    assert_memory_equal(vimo_bvh_frames(a), vimo_bvh_frames(b), 30 * sizeof(float));
    assert_string_equal(vimo_bvh_name(b), gz);
    vimo_bvh_free(a);
    vimo_bvh_free(b);
    /* A truncated gzip stream is an error, not a short file. */
    FILE *f = fopen(gz, "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    mt_write(gz, buf, n / 2);
    assert_int_not_equal(vimo_bvh_load(&b, gz), VIMO_OK);
    assert_null(b);
    unlink(plain);
    unlink(gz);
    assert_int_equal(vimo_bvh_load(&b, plain), VIMO_ERR_IO);
    mt_assert_msg(plain);
}

/* Parses TEXT and expects VIMO_ERR_FORMAT with "bad.bvh:LINE:" and NEEDLE. */
static void expect_bad(const char *text, int line, const char *needle)
{
    vimo_bvh *b = (vimo_bvh *)&b;
    char where[64];
    assert_int_equal(vimo_bvh_parse(&b, text, strlen(text), "bad.bvh"), VIMO_ERR_FORMAT);
    assert_null(b);
    snprintf(where, sizeof where, "bad.bvh:%d:", line);
    mt_assert_msg(where);
    mt_assert_msg(needle);
}

#define HDR "HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n"
#define TAIL_OK "}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3\n4 5 6\n"

static void test_malformed(void **state)
{
    (void)state;
    /* Sanity: the header plus tail is valid. */
    vimo_bvh *b;
    assert_int_equal(vimo_bvh_parse(&b, HDR TAIL_OK, strlen(HDR TAIL_OK), "ok.bvh"), VIMO_OK);
    vimo_bvh_free(b);

    expect_bad("", 1, "expected 'HIERARCHY'");
    expect_bad("HIERARCHY\nROOT A\nOFFSET 0 0 0\n", 3, "expected '{' after ROOT A");
    expect_bad(HDR "JOINT B\n{\nOFFSET 1 2 3\n}\n", 9, "missing '}'");
    expect_bad(HDR "JOINT B\n{\nOFFSET 1 2 3\n" TAIL_OK, 10, "MOTION");
    expect_bad("HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition\n}\n", 6,
               "CHANNELS 3 lists 2 channel names");
    expect_bad("HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\nCHANNELS 7 Xposition\n", 5, "0..6");
    expect_bad("HIERARCHY\nROOT A\n{\nOFFSET 0 zero 0\n", 4, "'zero' is not a number");
    expect_bad("HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n\n", 6,
               "no CHANNELS");
    expect_bad(HDR "End Site\n{\nOFFSET 0 0 1\nCHANNELS 1 Xrotation\n}\n" TAIL_OK, 9, "unexpected 'CHANNELS'");
    expect_bad(HDR "}\nMOTION\nFrames: 999999999999\nFrame Time: 0.1\n1 2 3\n", 8, "exceeds the limit");
    expect_bad(HDR "}\nMOTION\nFrames: -4\nFrame Time: 0.1\n", 8, "not a non-negative integer");
    expect_bad(HDR "}\nMOTION\nFrames: 2\nFrame Time: 0\n1 2 3\n4 5 6\n", 9, "must be positive");
    expect_bad(HDR "}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3\n4 5\n", 11, "frame 1 has 2 values");
    expect_bad(HDR "}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3 4\n4 5 6\n", 10, "more than the 3 values");
    expect_bad(HDR "}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3\n4 x5 6\n", 11, "'x5' is not a number");
    expect_bad(HDR "}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3\n4 nan 6\n", 11, "not a number");
    expect_bad(HDR "}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3\n4 1e39 6\n", 11, "out of float range");
    expect_bad(HDR "}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3\n4 5 6\n7 8 9\n", 12, "more frame lines");
    /* Truncated: the header promises a million frames, two follow; the
     * error comes at the end, after storage for only what was read. */
    expect_bad(HDR "}\nMOTION\nFrames: 1000000\nFrame Time: 0.1\n1 2 3\n4 5 6\n", 11,
               "after 2 frames, 'Frames:' declares 1000000");
    expect_bad(HDR "}\nJUNK\n", 7, "expected ROOT or MOTION");
    expect_bad("HIERARCHY\nMOTION\n", 2, "before any ROOT");
    char nul[] = HDR "}\nMOTION\nFrames: 1\nFrame Time: 0.1\n1 2\0 3\n";
    vimo_bvh *c;
    assert_int_equal(vimo_bvh_parse(&c, nul, sizeof nul - 1, "bad.bvh"), VIMO_ERR_FORMAT);
    mt_assert_msg("bad.bvh:10:");
    mt_assert_msg("NUL");
    assert_int_equal(vimo_bvh_parse(NULL, "x", 1, "x"), VIMO_ERR_INVALID);
}

static void test_deep_and_wide(void **state)
{
    (void)state;
    /* Nesting deeper than the cap fails cleanly (no stack overflow). */
    size_t cap = 400000, n = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    n += (size_t)snprintf(t + n, cap - n, "HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n");
    for (int i = 0; i < VIMO_BVH_MAX_DEPTH + 10; i++)
        n += (size_t)snprintf(t + n, cap - n, "JOINT j%d\n{\nOFFSET 0 1 0\n", i);
    vimo_bvh *b;
    assert_int_equal(vimo_bvh_parse(&b, t, n, "deep.bvh"), VIMO_ERR_FORMAT);
    mt_assert_msg("deeper than");
    /* Too many joints. */
    n = (size_t)snprintf(t, cap, "HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n");
    for (int i = 0; i < VIMO_BVH_MAX_JOINTS + 5; i++)
        n += (size_t)snprintf(t + n, cap - n, "JOINT j%d\n{\nOFFSET 0 1 0\n}\n", i);
    assert_int_equal(vimo_bvh_parse(&b, t, n, "wide.bvh"), VIMO_ERR_FORMAT);
    mt_assert_msg("more than 1024 joints");
    free(t);
}

/* Every real clip: joint count (22 Bandai-Namco, 43 CMU cgspeed, from the
 * file headers per PROVENANCE.md), frames and frame time from the TSVs. */
static int check_tsv(const char *tsv_rel, const char *data_rel, int frames_col, int ft_col, int joints,
                     int channels, int *n_files)
{
    FILE *f = fopen(mt_path(0, tsv_rel), "r");
    assert_non_null(f);
    char line[2048];
    int bad = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        char *cols[8] = {0};
        int nc = 0;
        for (char *s = strtok(line, "\t\n"); s && nc < 8; s = strtok(NULL, "\t\n")) cols[nc++] = s;
        if (nc <= frames_col) continue;
        char rel[1024];
        snprintf(rel, sizeof rel, "%s/%s", data_rel, cols[0]);
        vimo_bvh *b;
        if (vimo_bvh_load(&b, mt_path(1, rel)) != VIMO_OK) {
            print_error("%s\n", vimo_last_error());
            bad++;
            continue;
        }
        long frames = atol(cols[frames_col]);
        double want_ft = ft_col >= 0 ? atof(cols[ft_col]) : atof(cols[frames_col + 1]) / (double)frames;
        double tol = ft_col >= 0 ? 1e-9 : 0.0005 / (double)frames + 1e-9; /* seconds rounded to 3 dp */
        if (vimo_bvh_joint_count(b) != joints || vimo_bvh_frame_count(b) != frames ||
            vimo_bvh_channel_count(b) != channels || fabs(vimo_bvh_frame_time(b) - want_ft) > tol) {
            print_error("%s: J %d T %d C %d ft %.8g; expected %d %ld %d %.8g\n", cols[0], vimo_bvh_joint_count(b),
                        vimo_bvh_frame_count(b), vimo_bvh_channel_count(b), vimo_bvh_frame_time(b), joints, frames,
                        channels, want_ft);
            bad++;
        }
        vimo_bvh_free(b);
        (*n_files)++;
    }
    fclose(f);
    return bad;
}

static void test_real_files(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    int n1 = 0, n2 = 0, n3 = 0;
    /* labels.tsv: file content style content_id style_id frames seconds. */
    assert_int_equal(check_tsv("motion/bandai_namco/dataset-1/labels.tsv", "motion/bandai_namco/dataset-1/data", 5,
                               -1, 22, 132, &n1), 0);
    assert_int_equal(check_tsv("motion/bandai_namco/dataset-2/labels.tsv", "motion/bandai_namco/dataset-2/data", 5,
                               -1, 22, 132, &n2), 0);
    /* clips.tsv: file motion_id description subject frames frame_time. */
    assert_int_equal(check_tsv("motion/cmu_mocap/clips.tsv", "motion/cmu_mocap", 4, 5, 43, 132, &n3), 0);
    assert_int_equal(n1, 174);
    assert_int_equal(n2, 210);
    assert_int_equal(n3, 20);
}

static void test_real_channel_orders(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    vimo_bvh *b;
    vimo_bvh_channel ch[6];
    /* CMU cgspeed: root Z Y X, other joints Z X Y (PROVENANCE.md). */
    assert_int_equal(vimo_bvh_load(&b, mt_path(0, "motion/cmu_mocap/bvh/09_01.bvh")), VIMO_OK);
    assert_int_equal(vimo_bvh_joint_channels(b, 0, ch), 6);
    assert_true(ch[3] == VIMO_BVH_ZROT && ch[4] == VIMO_BVH_YROT && ch[5] == VIMO_BVH_XROT);
    int j = vimo_bvh_find(b, "lShin");
    assert_true(j > 0);
    assert_int_equal(vimo_bvh_joint_channels(b, j, ch), 3);
    assert_true(ch[0] == VIMO_BVH_ZROT && ch[1] == VIMO_BVH_XROT && ch[2] == VIMO_BVH_YROT);
    assert_int_equal(vimo_bvh_end_site_count(b), 14);
    vimo_bvh_free(b);
    /* Bandai-Namco: 6 channels, Z X Y on every joint, tab-indented dataset-2. */
    assert_int_equal(vimo_bvh_load(&b, mt_path(0, "motion/bandai_namco/dataset-2/data/dataset-2_walk_normal_001.bvh")),
                     VIMO_OK);
    for (int i = 0; i < vimo_bvh_joint_count(b); i++) {
        assert_int_equal(vimo_bvh_joint_channels(b, i, ch), 6);
        assert_true(ch[3] == VIMO_BVH_ZROT && ch[4] == VIMO_BVH_XROT && ch[5] == VIMO_BVH_YROT);
    }
    assert_int_equal(vimo_bvh_end_site_count(b), 5);
    assert_string_equal(vimo_bvh_node_name(b, 0), "joint_Root");
    vimo_bvh_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),          cmocka_unit_test(test_gzip_and_file),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_deep_and_wide),
        cmocka_unit_test(test_real_files),     cmocka_unit_test(test_real_channel_orders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
