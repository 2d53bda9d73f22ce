/*
 * bvh_fk.c - forward kinematics for parsed BVH skeletons (see vimo/bvh.h),
 * and the unit guess behind vimo_bvh_auto_scale.
 *
 * Rotation channels compose in file order, R = R_c1 R_c2 R_c3 (the BVH
 * convention: the first channel listed is the outermost rotation). Computed
 * in double per frame; no SIMD or threading here on purpose: parsing
 * dominates conversion time by far.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "motion_internal.h"
#include "mmath.h"

static void axis_rot(double m[9], int axis, double deg)
{
    double a = deg * (M_PI / 180.0), c = cos(a), s = sin(a);
    m3_identity(m);
    switch (axis) {
    case 0: m[4] = c, m[5] = -s, m[7] = s, m[8] = c; break;
    case 1: m[0] = c, m[2] = s, m[6] = -s, m[8] = c; break;
    default: m[0] = c, m[1] = -s, m[3] = s, m[4] = c; break;
    }
}

/* One frame. ROW is the frame's channel values, or NULL for the rest pose
 * (no rotation, OFFSET translations). RW is scratch (J, 9), P (J, 3) output
 * positions in file units; sites appended to OUT when with_sites. */
static void fk_frame(const vimo_bvh *b, const float *row, double *rw, double *pos)
{
    for (int j = 0; j < b->n_joints; j++) {
        const bvh_node *nd = &b->nodes[j];
        double t[3] = {nd->offset[0], nd->offset[1], nd->offset[2]};
        double r[9], tmp[9], ax[9];
        m3_identity(r);
        for (int k = 0; k < nd->nch && row; k++) {
            double v = row[nd->ch_off + k];
            int c = nd->ch[k];
            if (c < 3) {
                t[c] = v;
            } else {
                axis_rot(ax, c - 3, v);
                m3_mul(tmp, r, ax);
                memcpy(r, tmp, sizeof r);
            }
        }
        double *wr = rw + 9 * j, *wp = pos + 3 * j;
        if (nd->parent < 0) {
            memcpy(wr, r, sizeof r);
            memcpy(wp, t, sizeof t);
        } else {
            const double *pr = rw + 9 * nd->parent, *pp = pos + 3 * nd->parent;
            m3_mul(wr, pr, r);
            m3_apply(wp, pr, t);
            wp[0] += pp[0], wp[1] += pp[1], wp[2] += pp[2];
        }
    }
    for (int s = 0; s < b->n_sites; s++) {
        const bvh_node *nd = &b->nodes[b->n_joints + s];
        double *wp = pos + 3 * (b->n_joints + s);
        const double *pr = rw + 9 * nd->parent, *pp = pos + 3 * nd->parent;
        m3_apply(wp, pr, nd->offset);
        wp[0] += pp[0], wp[1] += pp[1], wp[2] += pp[2];
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double vimo_bvh_auto_scale(const vimo_bvh *b)
{
    if (!b || b->n_joints == 0) return 1.0;
    int N = b->n_joints + b->n_sites;
    double *rw = malloc((size_t)N * 9 * sizeof *rw), *pos = malloc((size_t)N * 3 * sizeof *pos);
    double *len = malloc((size_t)b->n_joints * sizeof *len);
    double scale = 1.0;
    if (!rw || !pos || !len) goto done; /* cannot guess: metres */
    fk_frame(b, b->n_frames > 0 ? b->frames : NULL, rw, pos);
    int n = 0;
    for (int j = 0; j < b->n_joints; j++) {
        int p = b->nodes[j].parent;
        if (p < 0) continue;
        double d[3];
        v3_sub(d, pos + 3 * j, pos + 3 * p);
        double l = v3_norm(d);
        if (l > 1e-9) len[n++] = l;
    }
    if (n > 0) {
        qsort(len, (size_t)n, sizeof *len, cmp_double);
        double med = len[n / 2];
        scale = med < 0.5 ? 1.0 : med < 50.0 ? 0.01 : 0.001;
    }
done:
    free(rw);
    free(pos);
    free(len);
    return scale;
}

void vimo_bvh_fk_frame_(const vimo_bvh *b, double scale, int t, double *scratch, float *out)
{
    int N = b->n_joints + b->n_sites;
    double *rw = scratch, *pos = scratch + 9 * (size_t)N;
    fk_frame(b, b->frames + (size_t)t * (size_t)b->n_channels, rw, pos);
    for (int i = 0; i < 3 * N; i++) out[i] = (float)(pos[i] * scale);
}

vimo_status vimo_bvh_fk(const vimo_bvh *b, double scale, int with_end_sites, float *out)
{
    if (!b || (!out && b->n_frames > 0)) return vimo_error(VIMO_ERR_INVALID, "bvh_fk: NULL argument");
    if (!(scale > 0.0)) scale = vimo_bvh_auto_scale(b);
    int N = b->n_joints + b->n_sites, M = with_end_sites ? N : b->n_joints;
    double *rw = malloc((size_t)N * 9 * sizeof *rw), *pos = malloc((size_t)N * 3 * sizeof *pos);
    if (!rw || !pos) {
        free(rw);
        free(pos);
        return vimo_error(VIMO_ERR_NOMEM, "bvh_fk: %s: out of memory", b->name);
    }
    for (int t = 0; t < b->n_frames; t++) {
        fk_frame(b, b->frames + (size_t)t * (size_t)b->n_channels, rw, pos);
        float *o = out + (size_t)t * (size_t)M * 3;
        for (int i = 0; i < 3 * M; i++) o[i] = (float)(pos[i] * scale);
    }
    free(rw);
    free(pos);
    return VIMO_OK;
}
