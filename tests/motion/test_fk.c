/*
 * test_fk.c - forward kinematics against positions worked out by hand for a
 * 3-joint chain (rotation order per joint, position channels, End Site,
 * scale), the unit guess, and rigidity on a real CMU clip (every bone keeps
 * its OFFSET length in every frame).
 */
#include <math.h>

#include "mtest.h"

/* A (6 channels, ZXY) -> B (3, ZXY) -> C (3, ZYX, like the CMU root) -> End.
 * A's OFFSET is overridden by its position channels. */
static const char *k_chain = "HIERARCHY\n"
                             "ROOT A\n{\n  OFFSET 100 100 100\n"
                             "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
                             "  JOINT B\n  {\n    OFFSET 0 10 0\n    CHANNELS 3 Zrotation Xrotation Yrotation\n"
                             "    JOINT C\n    {\n      OFFSET 0 10 0\n      CHANNELS 3 Zrotation Yrotation Xrotation\n"
                             "      End Site\n      {\n        OFFSET 5 0 0\n      }\n    }\n  }\n}\n"
                             "MOTION\nFrames: 3\nFrame Time: 0.5\n"
                             "1 2 3 0 0 0 0 0 0 0 0 0\n"
                             "1 2 3 90 0 0 0 90 0 0 0 0\n"
                             "0 0 0 90 90 0 0 0 0 0 90 90\n";

/* Worked by hand with Rz(90)(x,y,z) = (-y, x, z), Rx(90)(x,y,z) = (x, -z, y),
 * Ry(90)(x,y,z) = (z, y, -x), R = R_c1 R_c2 R_c3 in channel order:
 * frame 0 (rest): A = (1,2,3), B = A + (0,10,0), C = B + (0,10,0), End = C + (5,0,0).
 * frame 1: R_A = Rz90: B = A + Rz90(0,10,0) = (-9,2,3); R_B = Rz90 Rx90:
 *   C = B + Rz90 Rx90 (0,10,0) = B + Rz90 (0,0,10) = (-9,2,13);
 *   End = C + Rz90 Rx90 (5,0,0) = C + (0,5,0) = (-9,7,13).
 * frame 2: R_A = Rz90 Rx90: B = (0,0,10), C = (0,0,20);
 *   R_C = R_A Ry90 Rx90: End = C + R_A Ry90 (5,0,0) = C + R_A (0,0,-5)
 *   = C + Rz90 (0,5,0) = (-5,0,20). (Reversed orders would give B = (-10,0,0)
 *   and End = (0,0,25).) */
static const float k_expect[3][4][3] = {
    {{1, 2, 3}, {1, 12, 3}, {1, 22, 3}, {6, 22, 3}},
    {{1, 2, 3}, {-9, 2, 3}, {-9, 2, 13}, {-9, 7, 13}},
    {{0, 0, 0}, {0, 0, 10}, {0, 0, 20}, {-5, 0, 20}},
};

static void test_hand_chain(void **state)
{
    (void)state;
    vimo_bvh *b;
    assert_int_equal(vimo_bvh_parse(&b, k_chain, strlen(k_chain), "chain.bvh"), VIMO_OK);
    float nodes[3][4][3], joints[3][3][3];
    assert_int_equal(vimo_bvh_fk(b, 1.0, 1, &nodes[0][0][0]), VIMO_OK);
    assert_int_equal(vimo_bvh_fk(b, 1.0, 0, &joints[0][0][0]), VIMO_OK);
    for (int t = 0; t < 3; t++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 3; k++) {
                if (fabsf(nodes[t][j][k] - k_expect[t][j][k]) > 1e-5f)
                    fail_msg("frame %d node %d axis %d: %g, expected %g", t, j, k, nodes[t][j][k],
                             k_expect[t][j][k]);
                if (j < 3) assert_true(joints[t][j][k] == nodes[t][j][k]);
            }
    /* Scale to metres. */
    assert_int_equal(vimo_bvh_fk(b, 0.01, 1, &nodes[0][0][0]), VIMO_OK);
    assert_true(fabsf(nodes[2][3][0] - (-0.05f)) < 1e-7f && fabsf(nodes[2][3][2] - 0.2f) < 1e-7f);
    /* Bones of 10 units: centimetres guessed; scale <= 0 uses the guess. */
    assert_true(vimo_bvh_auto_scale(b) == 0.01);
    assert_int_equal(vimo_bvh_fk(b, 0.0, 1, &nodes[0][0][0]), VIMO_OK);
    assert_true(fabsf(nodes[1][1][0] - (-0.09f)) < 1e-7f);
    assert_int_equal(vimo_bvh_fk(NULL, 1.0, 0, &nodes[0][0][0]), VIMO_ERR_INVALID);
    vimo_bvh_free(b);
}

static void test_auto_scale_units(void **state)
{
    (void)state;
    /* Same chain in metres and millimetres (rest frame only). */
    const char *fmt = "HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
                      "JOINT B\n{\nOFFSET 0 %s 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
                      "End Site\n{\nOFFSET 0 %s 0\n}\n}\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0 0 0 0\n";
    const char *len[3] = {"0.45", "45", "450"};
    double want[3] = {1.0, 0.01, 0.001};
    for (int i = 0; i < 3; i++) {
        char text[512];
        snprintf(text, sizeof text, fmt, len[i], len[i]);
        vimo_bvh *b;
        assert_int_equal(vimo_bvh_parse(&b, text, strlen(text), "u.bvh"), VIMO_OK);
        assert_true(vimo_bvh_auto_scale(b) == want[i]);
        vimo_bvh_free(b);
    }
}

/* CMU clip: no position channels below the root, so every joint and End Site
 * must stay |OFFSET| * 0.01 m from its parent in every frame. */
static void test_real_rigidity(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    vimo_bvh *b;
    assert_int_equal(vimo_bvh_load(&b, mt_path(0, "motion/cmu_mocap/bvh/13_11.bvh")), VIMO_OK);
    int T = vimo_bvh_frame_count(b), N = vimo_bvh_node_count(b);
    float *p = malloc((size_t)T * N * 3 * sizeof *p);
    assert_non_null(p);
    assert_int_equal(vimo_bvh_fk(b, 0.01, 1, p), VIMO_OK);
    double worst = 0;
    for (int i = 1; i < N; i++) {
        int par = vimo_bvh_node_parent(b, i);
        double off[3];
        vimo_bvh_node_offset(b, i, off);
        double want = 0.01 * sqrt(off[0] * off[0] + off[1] * off[1] + off[2] * off[2]);
        for (int t = 0; t < T; t++) {
            const float *a = p + ((size_t)t * N + i) * 3, *c = p + ((size_t)t * N + par) * 3;
            double d = sqrt(pow(a[0] - c[0], 2) + pow(a[1] - c[1], 2) + pow(a[2] - c[2], 2));
            if (fabs(d - want) > worst) worst = fabs(d - want);
        }
    }
    print_message("13_11: %d frames, %d nodes, worst bone-length drift %.3g m\n", T, N, worst);
    assert_true(worst < 1e-5);
    /* The root follows its position channels exactly (frame 5). */
    const float *f = vimo_bvh_frames(b) + 5 * vimo_bvh_channel_count(b);
    for (int k = 0; k < 3; k++) assert_true(fabsf(p[((size_t)5 * N) * 3 + k] - 0.01f * f[k]) < 1e-6f);
    free(p);
    vimo_bvh_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_chain),
        cmocka_unit_test(test_auto_scale_units),
        cmocka_unit_test(test_real_rigidity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
