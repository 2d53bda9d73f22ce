/*
 * test_retarget.c - joint maps: a custom map on a hand-made skeleton (points
 * and interpolated points worked out by hand), map validation and detection,
 * and anatomical checks on the real clips that do not depend on how the maps
 * were chosen: standing order of joints, left/right against the direction of
 * travel, rigid plausible thigh length, feet near the floor.
 */
#include <math.h>

#include "mtest.h"

/* Rest pose: A (0,0,0), B (0,10,0), C (0,30,0), C_End (4,30,0), in cm. */
static const char *k_skel = "HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n"
                            "JOINT B\n{\nOFFSET 0 10 0\nCHANNELS 1 Yrotation\n"
                            "JOINT C\n{\nOFFSET 0 20 0\nCHANNELS 1 Yrotation\n"
                            "End Site\n{\nOFFSET 4 0 0\n}\n}\n}\n}\n"
                            "MOTION\nFrames: 2\nFrame Time: 0.05\n0 0 0 0 0\n1 0 0 0 90\n";

static void fill_map(vimo_joint_map_entry *e)
{
    for (int i = 0; i < 22; i++) e[i] = (vimo_joint_map_entry){i, "A", NULL, 0};
    e[3] = (vimo_joint_map_entry){3, "A", "B", 0.25};
    e[6] = (vimo_joint_map_entry){6, "B", "C", 0.5};
    e[9] = (vimo_joint_map_entry){9, "C", NULL, 0};
    e[10] = (vimo_joint_map_entry){10, "C_End", NULL, 0};
}

static void test_custom_map(void **state)
{
    (void)state;
    vimo_bvh *b;
    assert_int_equal(vimo_bvh_parse(&b, k_skel, strlen(k_skel), "skel.bvh"), VIMO_OK);
    vimo_joint_map_entry e[22];
    fill_map(e);
    vimo_joint_map m = {"test", 22, e, 0};
    float nodes[2][4][3], out[2][22][3];
    assert_int_equal(vimo_bvh_fk(b, 0.01, 1, &nodes[0][0][0]), VIMO_OK);
    assert_int_equal(vimo_motion_retarget(b, &m, &nodes[0][0][0], 2, &out[0][0][0]), VIMO_OK);
    /* Frame 0, metres: spine1 = 0.75 A + 0.25 B = (0, 0.025, 0); spine2 = (0, 0.2, 0). */
    assert_true(fabsf(out[0][3][1] - 0.025f) < 1e-7f && out[0][3][0] == 0.0f);
    assert_true(fabsf(out[0][6][1] - 0.2f) < 1e-7f);
    assert_true(fabsf(out[0][10][0] - 0.04f) < 1e-7f && fabsf(out[0][10][1] - 0.3f) < 1e-7f);
    /* Frame 1: root moved 1 cm in X; C turned 90 deg about Y, so its End Site
     * offset (4,0,0) becomes (0,0,-4): (0.01, 0.3, -0.04). */
    assert_true(fabsf(out[1][10][0] - 0.01f) < 1e-7f && fabsf(out[1][10][2] + 0.04f) < 1e-7f);
    assert_true(fabsf(out[1][0][0] - 0.01f) < 1e-7f);

    /* Validation. */
    m.n_entries = 21;
    assert_int_equal(vimo_motion_retarget(b, &m, &nodes[0][0][0], 2, &out[0][0][0]), VIMO_ERR_INVALID);
    mt_assert_msg("21 entries");
    m.n_entries = 22;
    e[5].smpl = 4;
    assert_int_equal(vimo_joint_map_check(b, &m), VIMO_ERR_INVALID);
    mt_assert_msg("repeated");
    fill_map(e);
    e[12].a = "Neck";
    assert_int_equal(vimo_joint_map_check(b, &m), VIMO_ERR_INVALID);
    mt_assert_msg("'Neck' not in skel.bvh");
    fill_map(e);
    e[3].w = NAN;
    assert_int_equal(vimo_joint_map_check(b, &m), VIMO_ERR_INVALID);

    /* No built-in map fits this skeleton. */
    const vimo_joint_map *d;
    assert_int_equal(vimo_joint_map_detect(b, &d), VIMO_ERR_NOT_FOUND);
    assert_null(d);
    mt_assert_msg("no built-in joint map fits");
    vimo_bvh_free(b);
}

static void test_builtin_lookup(void **state)
{
    (void)state;
    assert_int_equal(vimo_joint_map_builtin_count(), 2);
    assert_non_null(vimo_joint_map_find("bandai-namco"));
    assert_non_null(vimo_joint_map_find("cmu-cgspeed"));
    assert_null(vimo_joint_map_find("mixamo"));
    assert_null(vimo_joint_map_builtin(2));
}


static double dist(const float *a, const float *b)
{
    return sqrt(pow(a[0] - b[0], 2) + pow(a[1] - b[1], 2) + pow(a[2] - b[2], 2));
}

/* Checks on one clip; TRAVEL: the clip is forward locomotion; FLOOR: the
 * dataset's floor is y = 0 (Bandai-Namco: joint_Root stays on the ground;
 * CMU trials differ, e.g. 07_12 walks about 1 m below 0). */
static void check_clip(const char *rel, const char *want_map, int travel, int floor)
{
    int T;
    const char *mn;
    float *j = mt_clip_joints(rel, &T, &mn);
    assert_string_equal(mn, want_map);
    double lmin = 1e9, lmax = 0, lowest = 1e9;
    for (int t = 0; t < T; t++) {
        const float *p = j + (size_t)t * 66;
        for (int s = 0; s < 2; s++) {
            double f = dist(p + 3 * (1 + s), p + 3 * (4 + s)); /* hip -> knee */
            lmin = lmin < f ? lmin : f;
            lmax = lmax > f ? lmax : f;
        }
        for (int k = 7; k <= 11; k++)
            if (k != 9) lowest = fmin(lowest, p[3 * k + 1]);
    }
    /* Rigid at the source rate (test_fk); 30 -> 20 fps interpolates positions
     * linearly, which shortens a fast-turning bone to its chord (1.5% in
     * the Bandai dances), hence 3%. */
    if (lmin < 0.30 || lmax > 0.55 || lmax - lmin > 0.03 * lmax)
        fail_msg("%s: thigh length %.4f..%.4f m", rel, lmin, lmax);
    if (floor && (lowest < -0.06 || lowest > 0.15)) fail_msg("%s: lowest foot joint at %.3f m", rel, lowest);
    /* No teleporting pelvis at 20 fps (CMU 07_12 starts with such frames). */
    for (int t = 1; t < T; t++) {
        double v = dist(j + (size_t)t * 66, j + (size_t)(t - 1) * 66) * 20.0;
        if (v > 15.0) fail_msg("%s: pelvis moves %.1f m/s between frames %d and %d", rel, v, t - 1, t);
    }
    if (travel) {
        /* Character's left = up x travel; the left hip must be on that side. */
        const float *a = j, *z = j + (size_t)(T - 1) * 66;
        double tx = z[0] - a[0], tz = z[2] - a[2], n = sqrt(tx * tx + tz * tz), s = 0;
        if (n < 0.5) fail_msg("%s: travels only %.2f m", rel, n);
        for (int t = 0; t < T; t++) {
            const float *p = j + (size_t)t * 66;
            s += ((p[3] - p[6]) * tz - (p[5] - p[8]) * tx) / n; /* (l_hip - r_hip) . (tz, -tx) */
        }
        if (s / T < 0.05) fail_msg("%s: left hip %.3f m to the character's left, expected > 0.05", rel, s / T);
    }
    free(j);
}

static int col_contains(const char *line, int col, const char *const *words)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", line);
    char *tok = strtok(buf, "\t\n");
    for (int c = 0; tok && c < col; c++) tok = strtok(NULL, "\t\n");
    for (int i = 0; tok && words[i]; i++)
        if (strcmp(tok, words[i]) == 0 || (words[i][0] == '*' && strstr(tok, words[i] + 1))) return 1;
    return 0;
}

static void test_real_clips(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    static const char *const loco_bandai[] = {"walk", "run", "dash", NULL};
    static const char *const loco_cmu[] = {"*walk", "*run", NULL};
    const char *sets[3][3] = {{"motion/bandai_namco/dataset-1/labels.tsv", "motion/bandai_namco/dataset-1/data/",
                               "bandai-namco"},
                              {"motion/bandai_namco/dataset-2/labels.tsv", "motion/bandai_namco/dataset-2/data/",
                               "bandai-namco"},
                              {"motion/cmu_mocap/clips.tsv", "motion/cmu_mocap/", "cmu-cgspeed"}};
    int n = 0, n_travel = 0;
    for (int s = 0; s < 3; s++) {
        FILE *f = fopen(mt_path(0, sets[s][0]), "r");
        assert_non_null(f);
        char line[2048], rel[1024];
        assert_non_null(fgets(line, sizeof line, f));
        while (fgets(line, sizeof line, f)) {
            char *tab = strchr(line, '\t');
            if (!tab) continue;
            snprintf(rel, sizeof rel, "%s%.*s", sets[s][1], (int)(tab - line), line);
            /* Bandai: column 1 = content; CMU: column 2 = description. */
            int travel = s < 2 ? col_contains(line, 1, loco_bandai) : col_contains(line, 2, loco_cmu);
            check_clip(rel, sets[s][2], travel, s < 2);
            n++;
            n_travel += travel;
        }
        fclose(f);
    }
    print_message("%d clips checked, %d of them for left/right against travel\n", n, n_travel);
    assert_int_equal(n, 404);
    assert_true(n_travel >= 100);
}

/* Standing start of the Bandai bow clips: head > neck > spine3 > pelvis >
 * knees > ankles in height, and the wrists hang below the shoulders. */
static void test_standing_order(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    const char *clips[] = {"motion/bandai_namco/dataset-1/data/dataset-1_bow_normal_001.bvh",
                           "motion/bandai_namco/dataset-2/data/dataset-2_walk_normal_001.bvh",
                           "motion/cmu_mocap/bvh/02_01.bvh"};
    for (int c = 0; c < 3; c++) {
        int T;
        const char *mn;
        float *j = mt_clip_joints(clips[c], &T, &mn);
        const float *p = j; /* frame 0 */
        int order[] = {15, 12, 9, 0, 4, 7};
        for (int i = 0; i + 1 < 6; i++)
            if (!(p[3 * order[i] + 1] > p[3 * order[i + 1] + 1]))
                fail_msg("%s: %s (%.3f) not above %s (%.3f)", clips[c], vimo_hml3d_joint_name(order[i]),
                         p[3 * order[i] + 1], vimo_hml3d_joint_name(order[i + 1]), p[3 * order[i + 1] + 1]);
        for (int s = 0; s < 2; s++) assert_true(p[3 * (20 + s) + 1] < p[3 * (16 + s) + 1]);
        assert_true(p[3 * 15 + 1] - p[1] > 0.3); /* head at least 30 cm above the pelvis */
        free(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom_map),
        cmocka_unit_test(test_builtin_lookup),
        cmocka_unit_test(test_real_clips),
        cmocka_unit_test(test_standing_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
