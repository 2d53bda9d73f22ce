/*
 * mirror.c - HumanML3D's left/right mirroring, on joint positions and on the
 * 263-d features (see vimo/humanml3d.h for the contract).
 *
 * The mirror is the reflection x -> -x (a body facing +Z has its left side
 * at +X) with every left joint swapped for its right twin. On features it is
 * a signed permutation of the 263 dims, derived from what each block holds:
 * yaw rates and x components change sign, left/right joint blocks swap, and
 * a local rotation R becomes S R S with S = diag(-1, 1, 1), so entry (i, k)
 * of R is multiplied by s_i s_k.
 */
#include "vimo/humanml3d.h"

#include <string.h>

#define J VIMO_HML3D_JOINTS
#define D VIMO_HML3D_DIM

/* The twin of each joint across the body's midline (itself on the spine). */
static const int g_twin[J] = {0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20};

/* cont6d holds column 0 then column 1 of R: (R00, R10, R20, R01, R11, R21);
 * the sign of (S R S)_ik / R_ik is s_i s_k with s = (-1, 1, 1). */
static const float g_cont6d_sign[6] = {1, -1, -1, -1, 1, 1};

int vimo_hml3d_twin(int j) { return j >= 0 && j < J ? g_twin[j] : -1; }

vimo_status vimo_hml3d_mirror_joints(const float *joints, int T, float *out)
{
    if (!joints || !out) return vimo_error(VIMO_ERR_INVALID, "hml3d_mirror_joints: NULL argument");
    if (T < 1) return vimo_error(VIMO_ERR_INVALID, "hml3d_mirror_joints: need at least 1 frame, got %d", T);
    for (int t = 0; t < T; t++) {
        float row[J * 3]; /* in == out is allowed */
        memcpy(row, joints + (size_t)t * J * 3, sizeof row);
        float *o = out + (size_t)t * J * 3;
        for (int j = 0; j < J; j++) {
            const float *p = row + 3 * g_twin[j];
            o[3 * j] = -p[0], o[3 * j + 1] = p[1], o[3 * j + 2] = p[2];
        }
    }
    return VIMO_OK;
}

/* Joint j's 3-vector in a block of joints first .. 21 starting at dim base. */
static void mirror_vec3(const float *in, float *out, int base, int first)
{
    for (int j = first; j < J; j++) {
        const float *p = in + base + 3 * (g_twin[j] - first);
        float *o = out + base + 3 * (j - first);
        o[0] = -p[0], o[1] = p[1], o[2] = p[2];
    }
}

vimo_status vimo_hml3d_mirror_features(const float *feat, int T, float *out)
{
    if (!feat || !out) return vimo_error(VIMO_ERR_INVALID, "hml3d_mirror_features: NULL argument");
    if (T < 1) return vimo_error(VIMO_ERR_INVALID, "hml3d_mirror_features: need at least 1 frame, got %d", T);
    for (int t = 0; t < T; t++) {
        float in[D]; /* in == out is allowed */
        memcpy(in, feat + (size_t)t * D, sizeof in);
        float *o = out + (size_t)t * D;
        o[0] = -in[0];                    /* yaw rate */
        o[1] = -in[1], o[2] = in[2];      /* root velocity x, z */
        o[3] = in[3];                     /* root height */
        mirror_vec3(in, o, 4, 1);         /* ric, joints 1..21 */
        for (int j = 1; j < J; j++)       /* cont6d, joints 1..21 */
            for (int k = 0; k < 6; k++)
                o[67 + 6 * (j - 1) + k] = g_cont6d_sign[k] * in[67 + 6 * (g_twin[j] - 1) + k];
        mirror_vec3(in, o, 193, 0);       /* joint velocities, joints 0..21 */
        o[259] = in[261], o[260] = in[262]; /* contacts: l_ankle, l_foot <- right */
        o[261] = in[259], o[262] = in[260];
    }
    return VIMO_OK;
}
