/*
 * retarget.c - joint maps from BVH skeletons onto HumanML3D's 22 SMPL joints
 * (see vimo/motion.h), the built-in maps, and map detection.
 *
 * A map only picks points on the skeleton (a node, or a point between two);
 * bone lengths are left alone: HumanML3D's recipe rescales every bone to its
 * reference skeleton anyway (vimo_hml3d_features step 1). Deliberately no
 * rotation-based retargeting.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "motion_internal.h"

/* Spine: SMPL spine1/spine2/spine3 sit at 0.24, 0.50 and 0.60 of the
 * pelvis-to-neck distance in HumanML3D's reference skeleton; both datasets
 * have two joints there at about 0.38 and 0.60 (Bandai-Namco Spine, Chest;
 * CMU abdomen, chest), hence spine1 = 0.6 of the way to the first, spine2
 * half-way between them, spine3 = the second. */
static const vimo_joint_map_entry g_bandai[22] = {
    {0, "Hips", NULL, 0},           {1, "UpperLeg_L", NULL, 0},    {2, "UpperLeg_R", NULL, 0},
    {3, "Hips", "Spine", 0.6},      {4, "LowerLeg_L", NULL, 0},    {5, "LowerLeg_R", NULL, 0},
    {6, "Spine", "Chest", 0.5},     {7, "Foot_L", NULL, 0},        {8, "Foot_R", NULL, 0},
    {9, "Chest", NULL, 0},          {10, "Toes_L", NULL, 0},       {11, "Toes_R", NULL, 0},
    {12, "Neck", NULL, 0},          {13, "Shoulder_L", NULL, 0},   {14, "Shoulder_R", NULL, 0},
    {15, "Head", NULL, 0},          {16, "UpperArm_L", NULL, 0},   {17, "UpperArm_R", NULL, 0},
    {18, "LowerArm_L", NULL, 0},    {19, "LowerArm_R", NULL, 0},   {20, "Hand_L", NULL, 0},
    {21, "Hand_R", NULL, 0}};

/* cgspeed has no toe joint: the foot's End Site (about 13 cm ahead of the
 * ankle) stands in for SMPL's l_foot/r_foot (toe base). */
static const vimo_joint_map_entry g_cmu[22] = {
    {0, "hip", NULL, 0},            {1, "lThigh", NULL, 0},        {2, "rThigh", NULL, 0},
    {3, "hip", "abdomen", 0.6},     {4, "lShin", NULL, 0},         {5, "rShin", NULL, 0},
    {6, "abdomen", "chest", 0.5},   {7, "lFoot", NULL, 0},         {8, "rFoot", NULL, 0},
    {9, "chest", NULL, 0},          {10, "lFoot_End", NULL, 0},    {11, "rFoot_End", NULL, 0},
    {12, "neck", NULL, 0},          {13, "lCollar", NULL, 0},      {14, "rCollar", NULL, 0},
    {15, "head", NULL, 0},          {16, "lShldr", NULL, 0},       {17, "rShldr", NULL, 0},
    {18, "lForeArm", NULL, 0},      {19, "rForeArm", NULL, 0},     {20, "lHand", NULL, 0},
    {21, "rHand", NULL, 0}};

/* skip_frames = 1 for cgspeed: its conversion writes frame 0 with the root
 * rotation zeroed (all 20 clips here: "0.0 0.0 0.0", then e.g. -3 -9.8 -2.5),
 * a one-frame jump that would show up as a spurious root turn. */
static const vimo_joint_map g_builtin[] = {
    {"bandai-namco", 22, g_bandai, 0},
    {"cmu-cgspeed", 22, g_cmu, 1},
};
#define N_BUILTIN ((int)(sizeof g_builtin / sizeof g_builtin[0]))

int vimo_joint_map_builtin_count(void) { return N_BUILTIN; }

const vimo_joint_map *vimo_joint_map_builtin(int i) { return i >= 0 && i < N_BUILTIN ? &g_builtin[i] : NULL; }

const vimo_joint_map *vimo_joint_map_find(const char *name)
{
    for (int i = 0; name && i < N_BUILTIN; i++)
        if (strcmp(g_builtin[i].name, name) == 0) return &g_builtin[i];
    return NULL;
}

/* Number of node names of MAP missing in B; the first few go to MSG. */
static int count_missing(const vimo_bvh *b, const vimo_joint_map *m, char *msg, size_t cap)
{
    int miss = 0;
    size_t k = 0;
    msg[0] = '\0';
    for (int i = 0; i < m->n_entries; i++) {
        const char *names[2] = {m->entries[i].a, m->entries[i].b};
        for (int s = 0; s < 2; s++) {
            if (!names[s] || vimo_bvh_find(b, names[s]) >= 0) continue;
            if (miss++ < 4 && k < cap) k += (size_t)snprintf(msg + k, cap - k, "%s%s", k ? ", " : "", names[s]);
        }
    }
    return miss;
}

vimo_status vimo_joint_map_detect(const vimo_bvh *b, const vimo_joint_map **out)
{
    if (!b || !out) return vimo_error(VIMO_ERR_INVALID, "joint_map_detect: NULL argument");
    *out = NULL;
    int best = -1, best_miss = 1 << 30;
    char msg[256], best_msg[256] = "";
    for (int i = 0; i < N_BUILTIN; i++) {
        int miss = count_missing(b, &g_builtin[i], msg, sizeof msg);
        if (miss == 0) {
            *out = &g_builtin[i];
            return VIMO_OK;
        }
        if (miss < best_miss) best = i, best_miss = miss, memcpy(best_msg, msg, sizeof msg);
    }
    return vimo_error(VIMO_ERR_NOT_FOUND,
                      "retarget: %s: no built-in joint map fits this skeleton (%d joints); closest '%s' "
                      "lacks %d nodes: %s%s; pass a map",
                      vimo_bvh_name(b), vimo_bvh_joint_count(b), best >= 0 ? g_builtin[best].name : "-",
                      best_miss, best_msg, best_miss > 4 ? ", ..." : "");
}

vimo_status vimo_joint_map_check(const vimo_bvh *b, const vimo_joint_map *m)
{
    if (!b || !m || !m->entries) return vimo_error(VIMO_ERR_INVALID, "retarget: NULL map");
    const char *mn = m->name ? m->name : "(unnamed)";
    if (m->n_entries != VIMO_HML3D_JOINTS)
        return vimo_error(VIMO_ERR_INVALID, "retarget: map '%s' has %d entries, needs %d", mn, m->n_entries,
                          VIMO_HML3D_JOINTS);
    int seen[VIMO_HML3D_JOINTS] = {0};
    for (int i = 0; i < m->n_entries; i++) {
        const vimo_joint_map_entry *e = &m->entries[i];
        if (e->smpl < 0 || e->smpl >= VIMO_HML3D_JOINTS || seen[e->smpl]++)
            return vimo_error(VIMO_ERR_INVALID, "retarget: map '%s' entry %d: SMPL index %d out of range or repeated",
                              mn, i, e->smpl);
        if (!e->a || vimo_bvh_find(b, e->a) < 0)
            return vimo_error(VIMO_ERR_INVALID, "retarget: map '%s' entry %d (%s): node '%s' not in %s", mn, i,
                              vimo_hml3d_joint_name(e->smpl), e->a ? e->a : "(null)", vimo_bvh_name(b));
        if (e->b && vimo_bvh_find(b, e->b) < 0)
            return vimo_error(VIMO_ERR_INVALID, "retarget: map '%s' entry %d (%s): node '%s' not in %s", mn, i,
                              vimo_hml3d_joint_name(e->smpl), e->b, vimo_bvh_name(b));
        if (e->b && !isfinite(e->w))
            return vimo_error(VIMO_ERR_INVALID, "retarget: map '%s' entry %d: weight is not finite", mn, i);
    }
    return VIMO_OK;
}

vimo_status vimo_map_resolve_(const vimo_bvh *b, const vimo_joint_map *m, map_idx *out)
{
    vimo_status st = vimo_joint_map_check(b, m);
    if (st) return st;
    for (int i = 0; i < m->n_entries; i++) {
        const vimo_joint_map_entry *e = &m->entries[i];
        out->a[e->smpl] = vimo_bvh_find(b, e->a);
        out->b[e->smpl] = e->b ? vimo_bvh_find(b, e->b) : out->a[e->smpl];
        out->w[e->smpl] = e->b ? e->w : 0.0;
    }
    return VIMO_OK;
}

void vimo_map_apply_(const map_idx *m, const float *fr, float *o)
{
    for (int j = 0; j < VIMO_HML3D_JOINTS; j++)
        for (int k = 0; k < 3; k++)
            o[3 * j + k] = (float)((1.0 - m->w[j]) * fr[3 * m->a[j] + k] + m->w[j] * fr[3 * m->b[j] + k]);
}

vimo_status vimo_motion_retarget(const vimo_bvh *b, const vimo_joint_map *m, const float *nodes, int T,
                                 float *out)
{
    if (!b || !m || (T > 0 && (!nodes || !out))) return vimo_error(VIMO_ERR_INVALID, "retarget: NULL argument");
    if (T < 0) return vimo_error(VIMO_ERR_INVALID, "retarget: negative frame count");
    map_idx mi;
    vimo_status st = vimo_map_resolve_(b, m, &mi);
    if (st) return st;
    size_t N = (size_t)vimo_bvh_node_count(b);
    for (int t = 0; t < T; t++)
        vimo_map_apply_(&mi, nodes + (size_t)t * N * 3, out + (size_t)t * VIMO_HML3D_JOINTS * 3);
    return VIMO_OK;
}
