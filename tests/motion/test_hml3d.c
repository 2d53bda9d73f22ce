/*
 * test_hml3d.c - HumanML3D features against the published sample 012314
 * (EricGuo5513/HumanML3D: new_joint_vecs = features, new_joints = the joints
 * its own recover_from_ric() made from them):
 *  - recover(published features) == published joints (< 1e-4 m);
 *  - features(published joints) == published features, all 263 dims, on the
 *    frames the recipe makes comparable (see docs/motion.md);
 *  - with the clip's lost last frame rebuilt from the published last row's
 *    joint velocities, on every frame;
 *  - normalisation with the published Mean/Std; invariances that follow from
 *    the recipe (global yaw + translation of the input).
 */
#include <math.h>

#include "mtest.h"

#define J 22
#define D 263
#define T 170

static vimo_npy g_feat, g_joints;

static int setup(void **state)
{
    (void)state;
    if (!mt_data_dir()) return 0;
    if (vimo_npy_load(mt_path(0, "motion/humanml3d/new_joint_vecs/012314.npy"), &g_feat) ||
        vimo_npy_load(mt_path(1, "motion/humanml3d/new_joints/012314.npy"), &g_joints))
        return -1;
    return g_feat.shape[0] == T && g_feat.shape[1] == D && g_joints.shape[0] == T ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vimo_npy_free(&g_feat);
    vimo_npy_free(&g_joints);
    return 0;
}

/* Max |a - b| over rows [t0, t1) and dims [d0, d1) of (rows, D) arrays. */
static double maxdiff(const float *a, const float *b, int t0, int t1, int d0, int d1, int *at_t, int *at_d)
{
    double m = 0;
    for (int t = t0; t < t1; t++)
        for (int d = d0; d < d1; d++) {
            double x = fabs((double)a[t * D + d] - b[t * D + d]);
            if (x > m) m = x, *at_t = t, *at_d = d;
        }
    return m;
}

static void check_groups(const float *mine, int t0, int t1, double tol)
{
    static const char *names[] = {"root rot vel", "root lin vel", "root y", "ric", "cont6d", "joint vel", "contacts"};
    static const int lo[] = {0, 1, 3, 4, 67, 193, 259, 263};
    for (int g = 0; g < 7; g++) {
        int at_t = -1, at_d = -1;
        double m = maxdiff(mine, g_feat.data, t0, t1, lo[g], lo[g + 1], &at_t, &at_d);
        print_message("  %-12s dims %3d-%3d frames %3d-%3d: max |diff| %.3g\n", names[g], lo[g], lo[g + 1] - 1, t0,
                      t1 - 1, m);
        if (m > (g == 6 ? 0.0 : tol))
            fail_msg("%s: frame %d dim %d: %g vs published %g", names[g], at_t, at_d, mine[at_t * D + at_d],
                     g_feat.data[at_t * D + at_d]);
    }
}

static void test_recover(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    float *rec = malloc(sizeof(float) * T * J * 3);
    assert_non_null(rec);
    assert_int_equal(vimo_hml3d_recover(g_feat.data, T, rec), VIMO_OK);
    double m = 0;
    for (int i = 0; i < T * J * 3; i++) m = fmax(m, fabs(rec[i] - g_joints.data[i]));
    print_message("recover_from_ric: max |diff| %.3g m over %d frames\n", m, T);
    assert_true(m < 1e-4);
    free(rec);
}

/* From the 170 published joint frames we get 169 feature rows. The recipe
 * smooths the root direction over +-80 frames, so rows within 80 frames of
 * the end also felt the 171st source frame, which the published joints lack:
 * rows 0..88 must match on every dim; later rows only drift smoothly. */
static void test_features_170(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    float *f = malloc(sizeof(float) * (T - 1) * D);
    assert_non_null(f);
    assert_int_equal(vimo_hml3d_features(g_joints.data, T, f, NULL), VIMO_OK);
    print_message("features from the 170 published joint frames:\n");
    check_groups(f, 0, T - 1 - 80, 1e-4);
    /* Beyond that: root height and contacts do not depend on the smoothing. */
    int at_t, at_d;
    assert_true(maxdiff(f, g_feat.data, 0, T - 1, 3, 4, &at_t, &at_d) < 1e-4);
    assert_true(maxdiff(f, g_feat.data, 0, T - 1, 259, 263, &at_t, &at_d) == 0.0);
    print_message("  rows %d-%d (window reaches the lost frame): max |diff| %.3g\n", T - 80, T - 2,
                  maxdiff(f, g_feat.data, T - 80, T - 1, 0, D, &at_t, &at_d));
    free(f);
}

/* The published last row holds the velocities from frame 169 to the lost
 * frame 170 in the root frame of 169. Rebuild frame 170 from it (the yaw of
 * row 169 is the sum of the published root rotation velocities, recover's
 * convention: rotation about Y by 2 * angle) and every row must match. */
static void test_features_171(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    float *j = malloc(sizeof(float) * (T + 1) * J * 3), *f = malloc(sizeof(float) * T * D);
    assert_non_null(j);
    assert_non_null(f);
    memcpy(j, g_joints.data, sizeof(float) * T * J * 3);
    double ang = 0;
    for (int t = 0; t < T - 1; t++) ang += g_feat.data[t * D];
    double c = cos(2 * ang), s = sin(2 * ang);
    const float *v = g_feat.data + (T - 1) * D + 193, *p = j + (T - 1) * J * 3;
    float *o = j + T * J * 3;
    for (int k = 0; k < J; k++) {
        /* Rotate the root-frame velocity back to world: R_y(-2 ang). */
        o[3 * k] = (float)(p[3 * k] + c * v[3 * k] - s * v[3 * k + 2]);
        o[3 * k + 1] = p[3 * k + 1] + v[3 * k + 1];
        o[3 * k + 2] = (float)(p[3 * k + 2] + s * v[3 * k] + c * v[3 * k + 2]);
    }
    assert_int_equal(vimo_hml3d_features(j, T + 1, f, NULL), VIMO_OK);
    print_message("features from the published joints + rebuilt frame 170:\n");
    check_groups(f, 0, T, 1e-4);
    free(j);
    free(f);
}

/* recover(features(x)) gives back the canonical positions (steps 1-4) of
 * every frame that has a feature row. */
static void test_round_trip(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    float *f = malloc(sizeof(float) * (T - 1) * D), *g = malloc(sizeof(float) * T * J * 3),
          *r = malloc(sizeof(float) * (T - 1) * J * 3);
    assert_true(f && g && r);
    assert_int_equal(vimo_hml3d_features(g_joints.data, T, f, g), VIMO_OK);
    assert_int_equal(vimo_hml3d_recover(f, T - 1, r), VIMO_OK);
    double m = 0;
    for (int i = 0; i < (T - 1) * J * 3; i++) m = fmax(m, fabs(r[i] - g[i]));
    print_message("recover(features(x)) vs canonical x: max |diff| %.3g m\n", m);
    assert_true(m < 1e-4);
    free(f);
    free(g);
    free(r);
}

/* The recipe puts frame 0 facing +Z at the origin on the floor, so a yaw and
 * a shift of the input change nothing (up to float rounding). */
static void test_invariance(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    float *j = malloc(sizeof(float) * T * J * 3), *a = malloc(sizeof(float) * (T - 1) * D),
          *b = malloc(sizeof(float) * (T - 1) * D), *g = malloc(sizeof(float) * T * J * 3);
    assert_true(j && a && b && g);
    double th = 1.1, c = cos(th), s = sin(th);
    for (int i = 0; i < T * J; i++) {
        const float *p = g_joints.data + 3 * i;
        j[3 * i] = (float)(c * p[0] + s * p[2] + 3.0);
        j[3 * i + 1] = p[1] + 0.7f;
        j[3 * i + 2] = (float)(-s * p[0] + c * p[2] - 2.0);
    }
    assert_int_equal(vimo_hml3d_features(g_joints.data, T, a, NULL), VIMO_OK);
    assert_int_equal(vimo_hml3d_features(j, T, b, g), VIMO_OK);
    int at_t, at_d;
    double m = maxdiff(a, b, 0, T - 1, 0, 259, &at_t, &at_d);
    print_message("yaw 1.1 rad + shift: max |diff| %.3g\n", m);
    assert_true(m < 1e-4);
    /* Canonical frame 0: root XZ at the origin, lowest joint on the floor,
     * left hip at +X of the right hip. */
    float ymin = 1e9f;
    for (int i = 0; i < T * J; i++) ymin = fminf(ymin, g[3 * i + 1]);
    assert_true(fabsf(g[0]) < 1e-5f && fabsf(g[2]) < 1e-5f && fabsf(ymin) < 1e-6f);
    assert_true(g[3 * 1] > g[3 * 2]);
    free(j);
    free(a);
    free(b);
    free(g);
}

static void test_normalize(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    vimo_npy mean, std;
    assert_int_equal(vimo_npy_load(mt_path(0, "motion/humanml3d/Mean.npy"), &mean), VIMO_OK);
    assert_int_equal(vimo_npy_load(mt_path(1, "motion/humanml3d/Std.npy"), &std), VIMO_OK);
    float *x = malloc(sizeof(float) * T * D);
    assert_non_null(x);
    memcpy(x, g_feat.data, sizeof(float) * T * D);
    assert_int_equal(vimo_hml3d_normalize(x, T, mean.data, std.data), VIMO_OK);
    /* (x - mean) / std by hand on a few entries. */
    for (int i = 0; i < T * D; i += 997)
        assert_true(fabsf(x[i] - (g_feat.data[i] - mean.data[i % D]) / std.data[i % D]) < 1e-5f);
    assert_int_equal(vimo_hml3d_denormalize(x, T, mean.data, std.data), VIMO_OK);
    double m = 0;
    for (int i = 0; i < T * D; i++) m = fmax(m, fabs(x[i] - g_feat.data[i]));
    assert_true(m < 1e-5);
    std.data[7] = 0;
    assert_int_equal(vimo_hml3d_normalize(x, T, mean.data, std.data), VIMO_ERR_INVALID);
    mt_assert_msg("std[7]");
    free(x);
    vimo_npy_free(&mean);
    vimo_npy_free(&std);
}

static void test_bad_input(void **state)
{
    (void)state;
    float j[2 * J * 3] = {0}, f[D];
    assert_int_equal(vimo_hml3d_features(j, 1, f, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_hml3d_features(NULL, 2, f, NULL), VIMO_ERR_INVALID);
    /* All joints at one point: no leg length. */
    assert_int_equal(vimo_hml3d_features(j, 2, f, NULL), VIMO_ERR_INVALID);
    mt_assert_msg("leg");
    j[4] = NAN;
    assert_int_equal(vimo_hml3d_features(j, 2, f, NULL), VIMO_ERR_INVALID);
    mt_assert_msg("non-finite");
    assert_int_equal(vimo_hml3d_recover(f, 0, j), VIMO_ERR_INVALID);
    assert_string_equal(vimo_hml3d_joint_name(15), "head");
    assert_int_equal(vimo_hml3d_parents()[20], 18);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recover),      cmocka_unit_test(test_features_170),
        cmocka_unit_test(test_features_171), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_invariance),
        cmocka_unit_test(test_normalize),    cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
