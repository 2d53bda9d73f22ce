/*
 * test_mirror.c - HumanML3D's left/right mirror (vimo_hml3d_mirror_joints,
 * vimo_hml3d_mirror_features) against independent references:
 *  - the twin table against the joint names (l_* <-> r_*);
 *  - joints mirrored by hand on a two-frame example;
 *  - features: recover(mirror_features(F)) == mirror_joints(recover(F)) on
 *    the published sample 012314 (vimo_hml3d_recover is separate code that
 *    integrates the mirrored yaw and velocities);
 *  - features(mirror_joints(X)) vs mirror_features(features(X)), the way the
 *    recipe mirrors (joints first), on the published joints and on real
 *    Bandai-Namco clips, within the recipe's own asymmetries (its reference
 *    skeleton's left and right bones differ by up to 9 mm);
 *  - meaning: the mirror of a left-hand wave raises the right wrist;
 *  - applied twice, both are the identity, bit for bit; bad arguments;
 *  - vimo_motion_convert with mirror, from BVH and from a joints .npy.
 */
#include <math.h>

#include "mtest.h"

#define J 22
#define D 263
/* Limits of features(mirror_joints(X)) vs mirror_features(features(X)), per
 * dim the mean |diff| over frames (units of each block). Measured: at most
 * 0.0012, 0.0028, 0.0028, 0.011, 0.038, 0.0032 and 0.54 % on the four clips
 * below; exactly 0 everywhere with the reference skeleton made symmetric
 * (docs/motion.md, "Mirroring"), so what is left is the recipe's asymmetry. */
#define TOL_ROT 0.003
#define TOL_LIN 0.005
#define TOL_Y 0.005
#define TOL_RIC 0.02
#define TOL_6D 0.05
#define TOL_VEL 0.005
#define TOL_CONTACT 0.01

/* The name with its side swapped ("l_hip" -> "r_hip"), or the name itself. */
static void swapped_name(const char *n, char *out, size_t cap)
{
    snprintf(out, cap, "%s", n);
    if ((n[0] == 'l' || n[0] == 'r') && n[1] == '_') out[0] = n[0] == 'l' ? 'r' : 'l';
}

static void test_twin_names(void **state)
{
    (void)state;
    for (int j = 0; j < J; j++) {
        char want[64];
        swapped_name(vimo_hml3d_joint_name(j), want, sizeof want);
        assert_string_equal(vimo_hml3d_joint_name(vimo_hml3d_twin(j)), want);
    }
    assert_int_equal(vimo_hml3d_twin(-1), -1);
    assert_int_equal(vimo_hml3d_twin(J), -1);
}

static void test_joints_by_hand(void **state)
{
    (void)state;
    float x[2 * J * 3], y[2 * J * 3];
    for (int i = 0; i < 2 * J * 3; i++) x[i] = (float)(i + 1);
    assert_int_equal(vimo_hml3d_mirror_joints(x, 2, y), VIMO_OK);
    /* Frame 1, joint 20 (l_wrist) <- joint 21 (r_wrist) of frame 1 with x negated. */
    const float *r = x + (J + 21) * 3;
    assert_true(y[(J + 20) * 3] == -r[0] && y[(J + 20) * 3 + 1] == r[1] && y[(J + 20) * 3 + 2] == r[2]);
    /* Frame 0, joint 15 (head) stays, x negated. */
    assert_true(y[15 * 3] == -x[15 * 3] && y[15 * 3 + 1] == x[15 * 3 + 1]);
    /* In place gives the same. */
    assert_int_equal(vimo_hml3d_mirror_joints(x, 2, x), VIMO_OK);
    assert_memory_equal(x, y, sizeof x);
}

static void test_bad_args(void **state)
{
    (void)state;
    float a[D] = {0}, b[D];
    assert_int_equal(vimo_hml3d_mirror_features(NULL, 1, b), VIMO_ERR_INVALID);
    assert_int_equal(vimo_hml3d_mirror_features(a, 0, b), VIMO_ERR_INVALID);
    assert_int_equal(vimo_hml3d_mirror_joints(a, 1, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_hml3d_mirror_joints(a, -3, b), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "hml3d_mirror_joints"));
    assert_int_equal(vimo_hml3d_mirror_features(a, 0, b), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "hml3d_mirror_features: need at least 1 frame"));
    /* In place on features equals out of place. */
    for (int k = 0; k < D; k++) a[k] = (float)(k % 17) - 8.0f;
    assert_int_equal(vimo_hml3d_mirror_features(a, 1, b), VIMO_OK);
    assert_int_equal(vimo_hml3d_mirror_features(a, 1, a), VIMO_OK);
    assert_memory_equal(a, b, sizeof a);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Features of the published sample: mirror twice is the identity, and the
 * joints recover() makes of the mirrored features are the mirrored joints. */
static void test_features_recover(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    vimo_npy f;
    assert_int_equal(vimo_npy_load(mt_path(0, "motion/humanml3d/new_joint_vecs/012314.npy"), &f), VIMO_OK);
    int T = (int)f.shape[0];
    size_t n = (size_t)T * D, nj = (size_t)T * J * 3;
    float *m = malloc(n * sizeof *m), *mm = malloc(n * sizeof *mm);
    float *rec = malloc(nj * sizeof *rec), *rec_m = malloc(nj * sizeof *rec_m);
    assert_non_null(m), assert_non_null(mm), assert_non_null(rec), assert_non_null(rec_m);
    assert_int_equal(vimo_hml3d_mirror_features(f.data, T, m), VIMO_OK);
    assert_int_equal(vimo_hml3d_mirror_features(m, T, mm), VIMO_OK);
    assert_memory_equal(mm, f.data, n * sizeof *mm);
    assert_true(max_abs_diff(m, f.data, n) > 0.1); /* and it is not the identity */
    assert_int_equal(vimo_hml3d_recover(f.data, T, rec), VIMO_OK);
    assert_int_equal(vimo_hml3d_recover(m, T, rec_m), VIMO_OK);
    assert_int_equal(vimo_hml3d_mirror_joints(rec, T, rec), VIMO_OK);
    double d = max_abs_diff(rec, rec_m, nj);
    print_message("  recover(mirror(F)) vs mirror(recover(F)): max %.3g m over %d frames\n", d, T);
    assert_true(d < 1e-4);
    free(m), free(mm), free(rec), free(rec_m);
    vimo_npy_free(&f);
}

/* Per group of dims, the largest mean |a - b| over frames of any one dim
 * (a wrong sign or a swapped pair shows in the mean of its dims, where a
 * max over frames would drown in the recipe's asymmetries), and the share
 * of contact entries that differ. */
static void compare(const char *what, const float *a, const float *b, int T, const double tol[6], double contact_tol)
{
    static const char *names[] = {"root rot vel", "root lin vel", "root y", "ric", "cont6d", "joint vel"};
    static const int lo[] = {0, 1, 3, 4, 67, 193, 259};
    for (int g = 0; g < 6; g++) {
        double worst = 0, scale = 0;
        int at = lo[g];
        for (int k = lo[g]; k < lo[g + 1]; k++) {
            double s = 0, v = 0;
            for (int t = 0; t < T; t++) s += fabs((double)a[t * D + k] - b[t * D + k]), v += fabs((double)b[t * D + k]);
            if (s / T > worst) worst = s / T, at = k;
            scale = fmax(scale, v / T);
        }
        print_message("  %s %-12s worst dim %3d: mean |diff| %.3g (limit %.3g; largest mean |value| %.3g)\n", what,
                      names[g], at, worst, tol[g], scale);
        assert_true(worst < tol[g]);
    }
    int diff = 0;
    for (int t = 0; t < T; t++)
        for (int k = 259; k < D; k++) diff += a[t * D + k] != b[t * D + k];
    double share = diff / (4.0 * T);
    print_message("  %s contacts differ in %.2f%% of entries (limit %.2f%%)\n", what, 100 * share, 100 * contact_tol);
    assert_true(share <= contact_tol);
}

/* features(mirror_joints(X)) vs mirror_features(features(X)) for joints X
 * (T, 22, 3). Returns the mirrored features (T - 1, 263) via *out. */
static void check_both_ways(const char *what, const float *X, int T, float **out)
{
    size_t n = (size_t)(T - 1) * D, nj = (size_t)T * J * 3;
    float *f = malloc(n * sizeof *f), *fm = malloc(n * sizeof *fm), *xm = malloc(nj * sizeof *xm);
    float *mf = malloc(n * sizeof *mf);
    assert_non_null(f), assert_non_null(fm), assert_non_null(xm), assert_non_null(mf);
    assert_int_equal(vimo_hml3d_features(X, T, f, NULL), VIMO_OK);
    assert_int_equal(vimo_hml3d_mirror_joints(X, T, xm), VIMO_OK);
    assert_int_equal(vimo_hml3d_features(xm, T, fm, NULL), VIMO_OK);
    assert_int_equal(vimo_hml3d_mirror_features(f, T - 1, mf), VIMO_OK);
    static const double tol[6] = {TOL_ROT, TOL_LIN, TOL_Y, TOL_RIC, TOL_6D, TOL_VEL};
    compare(what, mf, fm, T - 1, tol, TOL_CONTACT);
    free(f), free(fm), free(xm);
    *out = mf;
}

static void test_features_vs_joints_published(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    vimo_npy x;
    assert_int_equal(vimo_npy_load(mt_path(0, "motion/humanml3d/new_joints/012314.npy"), &x), VIMO_OK);
    float *mf;
    check_both_ways("012314", x.data, (int)x.shape[0], &mf);
    free(mf);
    vimo_npy_free(&x);
}

/* Highest rise of wrist joint w over its frame-0 height, from features. */
static double wrist_rise(const float *feat, int T, int w)
{
    float *rec = malloc((size_t)T * J * 3 * sizeof *rec);
    assert_non_null(rec);
    assert_int_equal(vimo_hml3d_recover(feat, T, rec), VIMO_OK);
    double rise = 0;
    for (int t = 0; t < T; t++) rise = fmax(rise, rec[(t * J + w) * 3 + 1] - rec[w * 3 + 1]);
    free(rec);
    return rise;
}

static void test_features_vs_joints_bandai(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    static const char *clips[] = {
        "motion/bandai_namco/dataset-2/data/dataset-2_wave-left-hand_normal_001.bvh",
        "motion/bandai_namco/dataset-2/data/dataset-2_walk-turn-left_active_001.bvh",
        "motion/bandai_namco/dataset-1/data/dataset-1_run_happy_001.bvh"};
    for (size_t i = 0; i < sizeof clips / sizeof *clips; i++) {
        int T;
        float *x = mt_clip_joints(clips[i], &T, NULL), *mf;
        check_both_ways(strrchr(clips[i], '/') + 1, x, T, &mf);
        if (i == 0) { /* a left-hand wave mirrored raises the right wrist */
            size_t n = (size_t)(T - 1) * D;
            float *f = malloc(n * sizeof *f);
            assert_non_null(f);
            assert_int_equal(vimo_hml3d_features(x, T, f, NULL), VIMO_OK);
            double l = wrist_rise(f, T - 1, 20), r = wrist_rise(f, T - 1, 21);
            double ml = wrist_rise(mf, T - 1, 20), mr = wrist_rise(mf, T - 1, 21);
            print_message("  wave-left-hand: wrist rise l %.2f r %.2f m; mirrored l %.2f r %.2f m\n", l, r, ml, mr);
            assert_true(l > 0.3 && l > 3 * r);
            assert_true(mr > 0.3 && mr > 3 * ml);
            free(f);
        }
        free(x), free(mf);
    }
}

/* vimo_motion_convert with mirror: the features of the mirrored joints,
 * from a BVH and from a joints .npy alike. */
static void test_convert_mirror(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    const char *rel = "motion/bandai_namco/dataset-2/data/dataset-2_wave-right-hand_normal_002.bvh";
    int T;
    float *x = mt_clip_joints(rel, &T, NULL);
    size_t n = (size_t)(T - 1) * D;
    float *want = malloc(n * sizeof *want);
    assert_non_null(want);
    assert_int_equal(vimo_hml3d_mirror_joints(x, T, x), VIMO_OK);
    assert_int_equal(vimo_hml3d_features(x, T, want, NULL), VIMO_OK);
    vimo_motion_opts o;
    vimo_motion_opts_init(&o);
    assert_int_equal(o.mirror, 0);
    o.mirror = 1;
    const char *out = mt_tmp("mirror.npy"), *joints = mt_tmp("mirror_joints.npy"), *out2 = mt_tmp("mirror2.npy");
    int frames = 0;
    assert_int_equal(vimo_motion_convert(mt_path(0, rel), out, &o, 0, &frames), VIMO_OK);
    assert_int_equal(frames, T - 1);
    vimo_npy a;
    assert_int_equal(vimo_npy_load(out, &a), VIMO_OK);
    assert_memory_equal(a.data, want, n * sizeof *want);
    vimo_npy_free(&a);
    /* Unmirrored joints saved, then converted with mirror: the same features. */
    o.mirror = 0;
    assert_int_equal(vimo_motion_convert(mt_path(0, rel), joints, &o, 1, NULL), VIMO_OK);
    o.mirror = 1;
    assert_int_equal(vimo_motion_convert(joints, out2, &o, 0, NULL), VIMO_OK);
    assert_int_equal(vimo_npy_load(out2, &a), VIMO_OK);
    assert_memory_equal(a.data, want, n * sizeof *want);
    vimo_npy_free(&a);
    unlink(out), unlink(joints), unlink(out2);
    free(x), free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twin_names),
        cmocka_unit_test(test_joints_by_hand),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_features_recover),
        cmocka_unit_test(test_features_vs_joints_published),
        cmocka_unit_test(test_features_vs_joints_bandai),
        cmocka_unit_test(test_convert_mirror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
