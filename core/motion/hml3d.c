/*
 * hml3d.c - HumanML3D 263-d features from joint positions and back
 * (see vimo/humanml3d.h for the recipe, step by step).
 *
 * Follows EricGuo5513/HumanML3D process_file() / recover_from_ric() step for
 * step, in double precision, including the recipe's quirks that shape the
 * published numbers (face-joint unpacking in its IK, the Gaussian-smoothed
 * root direction, the half-angle root velocity). Deliberately not here:
 * resampling (resample.c) and retargeting (retarget.c).
 */
#include "vimo/humanml3d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mmath.h"

#define J VIMO_HML3D_JOINTS
#define D VIMO_HML3D_DIM

static const int g_parents[J] = {-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19};

/* paramUtil.t2m_kinematic_chain: the order IK walks the skeleton. */
static const int g_chains[5][6] = {
    {0, 2, 5, 8, 11, -1}, {0, 1, 4, 7, 10, -1}, {0, 3, 6, 9, 12, 15},
    {9, 14, 17, 19, 21, -1}, {9, 13, 16, 18, 20, -1}};

/* paramUtil.t2m_raw_offsets: rest direction of each joint's bone. */
static const double g_raw[J][3] = {
    {0, 0, 0},  {1, 0, 0},  {-1, 0, 0}, {0, 1, 0},  {0, -1, 0}, {0, -1, 0}, {0, 1, 0}, {0, -1, 0},
    {0, -1, 0}, {0, 1, 0},  {0, 0, 1},  {0, 0, 1},  {0, 1, 0},  {1, 0, 0},  {-1, 0, 0}, {0, 0, 1},
    {0, -1, 0}, {0, -1, 0}, {0, -1, 0}, {0, -1, 0}, {0, -1, 0}, {0, -1, 0}};

/* Target bone lengths (m). The recipe takes them from frame 0 of its sample
 * 000021 (not distributed). Every HumanML3D clip is rescaled to them, so they
 * are read back here as the bone lengths of the published sample
 * new_joints/012314.npy (mean over its 170 frames; they vary by < 1e-6). */
static const double g_ref_len[J] = {
    0.0,       0.1030740, 0.1098834, 0.1315682, 0.3936232, 0.3901882, 0.1431902, 0.4324330,
    0.4256434, 0.0573647, 0.1433818, 0.1494191, 0.2193600, 0.1374868, 0.1433828, 0.1030392,
    0.1316140, 0.1229844, 0.2568399, 0.2630919, 0.2660118, 0.2698763};

static const char *g_names[J] = {
    "pelvis",   "l_hip",      "r_hip",       "spine1",  "l_knee",  "r_knee",  "spine2",  "l_ankle",
    "r_ankle",  "spine3",     "l_foot",      "r_foot",  "neck",    "l_collar", "r_collar", "head",
    "l_shoulder", "r_shoulder", "l_elbow",   "r_elbow", "l_wrist", "r_wrist"};

const int *vimo_hml3d_parents(void) { return g_parents; }
const char *vimo_hml3d_joint_name(int j) { return j >= 0 && j < J ? g_names[j] : ""; }
double vimo_hml3d_ref_bone_length(int j) { return j >= 0 && j < J ? g_ref_len[j] : 0.0; }

#define P3(a, t, j) ((a) + ((size_t)(t) * J + (size_t)(j)) * 3)

/* Step 1: every bone to the reference length along its own direction; root
 * scaled by the leg-length ratio (paramUtil l_idx1, l_idx2 = 5, 8). */
static vimo_status uniform_skeleton(double *p, int T)
{
    double src_leg = 0;
    for (int k = 0; k < 2; k++) {
        int j = k ? 8 : 5, par = g_parents[j];
        double d[3];
        v3_sub(d, P3(p, 0, j), P3(p, 0, par));
        src_leg += v3_norm(d);
    }
    if (!(src_leg > 1e-9))
        return vimo_error(VIMO_ERR_INVALID, "hml3d_features: zero leg length in frame 0");
    double scale = (g_ref_len[5] + g_ref_len[8]) / src_leg;
    double cur[J][3];
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < 3; k++) cur[0][k] = P3(p, t, 0)[k] * scale;
        for (int j = 1; j < J; j++) {
            int par = g_parents[j];
            double d[3];
            v3_sub(d, P3(p, t, j), P3(p, t, par));
            double n = v3_norm(d);
            /* Zero-length bone: the recipe would produce NaN; keep the rest direction. */
            const double *dir = n > 1e-12 ? d : g_raw[j];
            double s = n > 1e-12 ? g_ref_len[j] / n : g_ref_len[j];
            for (int k = 0; k < 3; k++) cur[j][k] = cur[par][k] + s * dir[k];
        }
        memcpy(P3(p, t, 0), cur, sizeof cur);
    }
    return VIMO_OK;
}

/* Steps 2-4: floor, frame-0 root XZ to the origin, frame 0 facing +Z. */
static vimo_status canonicalise(double *p, int T)
{
    size_t n = (size_t)T * J;
    double floor_y = INFINITY;
    for (size_t i = 0; i < n; i++)
        if (p[3 * i + 1] < floor_y) floor_y = p[3 * i + 1];
    double ox = p[0], oz = p[2];
    for (size_t i = 0; i < n; i++) {
        p[3 * i] -= ox;
        p[3 * i + 1] -= floor_y;
        p[3 * i + 2] -= oz;
    }
    /* process_file(): across = (r_hip - l_hip) + (r_sdr - l_sdr). */
    double a1[3], a2[3], across[3], fwd[3];
    const double up[3] = {0, 1, 0}, z[3] = {0, 0, 1};
    v3_sub(a1, P3(p, 0, 2), P3(p, 0, 1));
    v3_sub(a2, P3(p, 0, 17), P3(p, 0, 16));
    for (int k = 0; k < 3; k++) across[k] = a1[k] + a2[k];
    v3_cross(fwd, up, across);
    double fn = v3_norm(fwd);
    if (!(fn > 1e-9))
        return vimo_error(VIMO_ERR_INVALID, "hml3d_features: no horizontal facing direction in frame 0");
    for (int k = 0; k < 3; k++) fwd[k] /= fn;
    double q[4];
    q_between(q, fwd, z);
    for (size_t i = 0; i < n; i++) q_rot(p + 3 * i, q, p + 3 * i);
    return VIMO_OK;
}

/* scipy.ndimage.gaussian_filter1d(x, 20, axis=0, mode='nearest') on (T, 3). */
static void gaussian_smooth(double *x, int T, double *tmp)
{
    enum { R = 80 }; /* int(truncate 4.0 * sigma 20 + 0.5) */
    double w[2 * R + 1], sum = 0;
    for (int i = -R; i <= R; i++) sum += w[i + R] = exp(-0.5 * (double)(i * i) / 400.0);
    for (int i = 0; i <= 2 * R; i++) w[i] /= sum;
    for (int t = 0; t < T; t++) {
        double acc[3] = {0, 0, 0};
        for (int i = -R; i <= R; i++) {
            int s = t + i < 0 ? 0 : t + i >= T ? T - 1 : t + i;
            for (int k = 0; k < 3; k++) acc[k] += w[i + R] * x[3 * s + k];
        }
        memcpy(tmp + 3 * t, acc, sizeof acc);
    }
    memcpy(x, tmp, (size_t)T * 3 * sizeof *x);
}

/* Step 6: root rotations (T, 4) and local joint rotations (T, J, 4). */
static vimo_status inverse_kinematics(const double *p, int T, double *root_q, double *quat)
{
    double *fwd = malloc((size_t)T * 6 * sizeof *fwd);
    if (!fwd) return vimo_error(VIMO_ERR_NOMEM, "hml3d_features: out of memory");
    const double up[3] = {0, 1, 0}, z[3] = {0, 0, 1};
    for (int t = 0; t < T; t++) {
        /* Skeleton.inverse_kinematics_np unpacks [2, 1, 17, 16] as
         * (l_hip, r_hip, sdr_r, sdr_l): across = (j1 - j2) + (j17 - j16). */
        double a1[3], a2[3], across[3];
        v3_sub(a1, P3(p, t, 1), P3(p, t, 2));
        v3_sub(a2, P3(p, t, 17), P3(p, t, 16));
        for (int k = 0; k < 3; k++) across[k] = a1[k] + a2[k];
        double an = v3_norm(across);
        if (an > 0)
            for (int k = 0; k < 3; k++) across[k] /= an;
        v3_cross(fwd + 3 * t, up, across);
    }
    gaussian_smooth(fwd, T, fwd + 3 * (size_t)T);
    for (int t = 0; t < T; t++) {
        double *f = fwd + 3 * t, n = v3_norm(f);
        if (n > 0)
            for (int k = 0; k < 3; k++) f[k] /= n;
        q_between(root_q + 4 * t, f, z);
        /* The recipe (skeleton.py as used for the published data) pins the
         * first root rotation: frame 0 already faces +Z after step 4. */
        if (t == 0) root_q[0] = 1, root_q[1] = root_q[2] = root_q[3] = 0;
        double *qt = quat + (size_t)t * J * 4;
        memcpy(qt, root_q + 4 * t, 4 * sizeof *qt);
        for (int c = 0; c < 5; c++) {
            double R[4], inv[4], rot[4];
            memcpy(R, root_q + 4 * t, sizeof R);
            for (int i = 0; i + 1 < 6 && g_chains[c][i + 1] >= 0; i++) {
                int a = g_chains[c][i], b = g_chains[c][i + 1];
                double v[3];
                v3_sub(v, P3(p, t, b), P3(p, t, a));
                double vn = v3_norm(v);
                if (vn > 0)
                    for (int k = 0; k < 3; k++) v[k] /= vn;
                q_between(rot, g_raw[b], v);
                q_inv(inv, R);
                q_mul(qt + 4 * b, inv, rot);
                q_mul(R, R, qt + 4 * b);
            }
        }
    }
    free(fwd);
    return VIMO_OK;
}

vimo_status vimo_hml3d_features(const float *joints, int T, float *feat, float *global)
{
    vimo_status st = VIMO_OK;
    if (!joints || !feat) return vimo_error(VIMO_ERR_INVALID, "hml3d_features: NULL argument");
    if (T < 2) return vimo_error(VIMO_ERR_INVALID, "hml3d_features: need at least 2 frames, got %d", T);
    size_t n = (size_t)T * J;
    double *p = malloc(n * 3 * sizeof *p);
    double *quat = malloc(n * 4 * sizeof *quat);
    double *root_q = malloc((size_t)T * 4 * sizeof *root_q);
    if (!p || !quat || !root_q) {
        st = vimo_error(VIMO_ERR_NOMEM, "hml3d_features: out of memory for %d frames", T);
        goto fail;
    }
    for (size_t i = 0; i < n * 3; i++) {
        if (!isfinite(joints[i])) {
            st = vimo_error(VIMO_ERR_INVALID, "hml3d_features: non-finite value at frame %zu joint %zu",
                            i / (3 * J), (i / 3) % J);
            goto fail;
        }
        p[i] = joints[i];
    }
    VIMO_TRY(uniform_skeleton(p, T));
    VIMO_TRY(canonicalise(p, T));
    if (global)
        for (size_t i = 0; i < n * 3; i++) global[i] = (float)p[i];
    VIMO_TRY(inverse_kinematics(p, T, root_q, quat));

    for (int t = 0; t + 1 < T; t++) {
        float *f = feat + (size_t)t * D;
        const double *r0 = root_q + 4 * t, *r1 = root_q + 4 * (t + 1);
        double dq[4], inv0[4], d[3], v[3];
        /* Root angular velocity: asin of the y part of r(t+1) r(t)^-1. */
        q_inv(inv0, r0);
        q_mul(dq, r1, inv0);
        f[0] = (float)asin(dq[2] > 1 ? 1 : dq[2] < -1 ? -1 : dq[2]);
        /* Root linear velocity, in the root frame of t+1. */
        v3_sub(d, P3(p, t + 1, 0), P3(p, t, 0));
        q_rot(v, r1, d);
        f[1] = (float)v[0];
        f[2] = (float)v[2];
        f[3] = (float)P3(p, t, 0)[1];
        /* ric: joints relative to the root's XZ, in the root frame. */
        for (int j = 1; j < J; j++) {
            double rel[3] = {P3(p, t, j)[0] - P3(p, t, 0)[0], P3(p, t, j)[1], P3(p, t, j)[2] - P3(p, t, 0)[2]};
            q_rot(v, r0, rel);
            for (int k = 0; k < 3; k++) f[4 + 3 * (j - 1) + k] = (float)v[k];
        }
        /* cont6d: first two columns of each local rotation matrix. */
        for (int j = 1; j < J; j++) {
            double m[9];
            q_to_m3(m, quat + ((size_t)t * J + (size_t)j) * 4);
            float *o = f + 67 + 6 * (j - 1);
            o[0] = (float)m[0], o[1] = (float)m[3], o[2] = (float)m[6];
            o[3] = (float)m[1], o[4] = (float)m[4], o[5] = (float)m[7];
        }
        /* Joint velocities in the root frame of t. */
        for (int j = 0; j < J; j++) {
            v3_sub(d, P3(p, t + 1, j), P3(p, t, j));
            q_rot(v, r0, d);
            for (int k = 0; k < 3; k++) f[193 + 3 * j + k] = (float)v[k];
        }
        /* Foot contacts: squared displacement below the threshold. */
        static const int feet[4] = {7, 10, 8, 11};
        for (int k = 0; k < 4; k++) {
            v3_sub(d, P3(p, t + 1, feet[k]), P3(p, t, feet[k]));
            f[259 + k] = v3_dot(d, d) < VIMO_HML3D_FOOT_THRESHOLD ? 1.0f : 0.0f;
        }
    }
fail:
    free(p);
    free(quat);
    free(root_q);
    return st;
}

vimo_status vimo_hml3d_recover(const float *feat, int T, float *joints)
{
    if (!feat || !joints) return vimo_error(VIMO_ERR_INVALID, "hml3d_recover: NULL argument");
    if (T < 1) return vimo_error(VIMO_ERR_INVALID, "hml3d_recover: need at least 1 frame, got %d", T);
    double ang = 0, pos[3] = {0, 0, 0};
    for (int t = 0; t < T; t++) {
        const float *f = feat + (size_t)t * D;
        if (t > 0) ang += feat[(size_t)(t - 1) * D];
        /* r_rot_quat = (cos a, 0, sin a, 0); rotations below use its inverse. */
        double qi[4] = {cos(ang), 0, -sin(ang), 0}, v[3];
        if (t > 0) {
            const float *fp = feat + (size_t)(t - 1) * D;
            double step[3] = {fp[1], 0, fp[2]};
            q_rot(v, qi, step);
            pos[0] += v[0];
            pos[2] += v[2];
        }
        pos[1] = f[3];
        float *o = joints + (size_t)t * J * 3;
        for (int k = 0; k < 3; k++) o[k] = (float)pos[k];
        for (int j = 1; j < J; j++) {
            double ric[3] = {f[4 + 3 * (j - 1)], f[5 + 3 * (j - 1)], f[6 + 3 * (j - 1)]};
            q_rot(v, qi, ric);
            o[3 * j] = (float)(v[0] + pos[0]);
            o[3 * j + 1] = (float)v[1];
            o[3 * j + 2] = (float)(v[2] + pos[2]);
        }
    }
    return VIMO_OK;
}

static vimo_status check_stats(const char *op, const float *feat, int T, const float *mean, const float *std)
{
    if (!mean || !std || (T > 0 && !feat)) return vimo_error(VIMO_ERR_INVALID, "%s: NULL argument", op);
    if (T < 0) return vimo_error(VIMO_ERR_INVALID, "%s: negative frame count", op);
    for (int i = 0; i < D; i++)
        if (!(std[i] > 0) || !isfinite(std[i]) || !isfinite(mean[i]))
            return vimo_error(VIMO_ERR_INVALID, "%s: std[%d] = %g is not a positive finite number", op, i,
                              (double)std[i]);
    return VIMO_OK;
}

vimo_status vimo_hml3d_normalize(float *feat, int T, const float *mean, const float *std)
{
    vimo_status st = check_stats("hml3d_normalize", feat, T, mean, std);
    if (st) return st;
    for (size_t i = 0; i < (size_t)T * D; i++) feat[i] = (feat[i] - mean[i % D]) / std[i % D];
    return VIMO_OK;
}

vimo_status vimo_hml3d_denormalize(float *feat, int T, const float *mean, const float *std)
{
    vimo_status st = check_stats("hml3d_denormalize", feat, T, mean, std);
    if (st) return st;
    for (size_t i = 0; i < (size_t)T * D; i++) feat[i] = feat[i] * std[i % D] + mean[i % D];
    return VIMO_OK;
}
