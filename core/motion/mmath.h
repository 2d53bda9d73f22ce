/*
 * mmath.h - small double-precision 3-vector, 3x3 matrix and quaternion
 * helpers shared by the motion sources (internal; not installed).
 *
 * Quaternions are (w, x, y, z), Hamilton product, rotating v as q v q^-1,
 * the convention of HumanML3D's common/quaternion.py. Matrices are row-major
 * m[r*3+c] acting on column vectors. Deliberately not a general math library:
 * only what FK, retargeting and the HumanML3D recipe need.
 */
#ifndef VIMO_MOTION_MMATH_H
#define VIMO_MOTION_MMATH_H

#include <math.h>

static inline void v3_sub(double o[3], const double a[3], const double b[3])
{
    o[0] = a[0] - b[0];
    o[1] = a[1] - b[1];
    o[2] = a[2] - b[2];
}

static inline double v3_dot(const double a[3], const double b[3])
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static inline double v3_norm(const double a[3]) { return sqrt(v3_dot(a, a)); }

static inline void v3_cross(double o[3], const double a[3], const double b[3])
{
    double t0 = a[1] * b[2] - a[2] * b[1];
    double t1 = a[2] * b[0] - a[0] * b[2];
    double t2 = a[0] * b[1] - a[1] * b[0];
    o[0] = t0;
    o[1] = t1;
    o[2] = t2;
}

/* o = m * v (m row-major 3x3). o may alias v. */
static inline void m3_apply(double o[3], const double m[9], const double v[3])
{
    double t0 = m[0] * v[0] + m[1] * v[1] + m[2] * v[2];
    double t1 = m[3] * v[0] + m[4] * v[1] + m[5] * v[2];
    double t2 = m[6] * v[0] + m[7] * v[1] + m[8] * v[2];
    o[0] = t0;
    o[1] = t1;
    o[2] = t2;
}

/* o = a * b. o must not alias a or b. */
static inline void m3_mul(double o[9], const double a[9], const double b[9])
{
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            o[r * 3 + c] = a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
}

static inline void m3_identity(double m[9])
{
    for (int i = 0; i < 9; i++) m[i] = (i % 4 == 0) ? 1.0 : 0.0;
}

/* o = q * r (Hamilton). o may alias q or r. */
static inline void q_mul(double o[4], const double q[4], const double r[4])
{
    double w = q[0] * r[0] - q[1] * r[1] - q[2] * r[2] - q[3] * r[3];
    double x = q[0] * r[1] + q[1] * r[0] + q[2] * r[3] - q[3] * r[2];
    double y = q[0] * r[2] - q[1] * r[3] + q[2] * r[0] + q[3] * r[1];
    double z = q[0] * r[3] + q[1] * r[2] - q[2] * r[1] + q[3] * r[0];
    o[0] = w;
    o[1] = x;
    o[2] = y;
    o[3] = z;
}

static inline void q_inv(double o[4], const double q[4])
{
    o[0] = q[0];
    o[1] = -q[1];
    o[2] = -q[2];
    o[3] = -q[3];
}

/* o = q v q^-1, written as v + 2 (w (u x v) + u x (u x v)) like qrot(). */
static inline void q_rot(double o[3], const double q[4], const double v[3])
{
    double uv[3], uuv[3];
    v3_cross(uv, q + 1, v);
    v3_cross(uuv, q + 1, uv);
    o[0] = v[0] + 2.0 * (q[0] * uv[0] + uuv[0]);
    o[1] = v[1] + 2.0 * (q[0] * uv[1] + uuv[1]);
    o[2] = v[2] + 2.0 * (q[0] * uv[2] + uuv[2]);
}

/* Shortest-arc rotation taking direction a to direction b (qbetween()):
 * (|a||b| + a.b, a x b) normalised. When a and b are opposite that vector is
 * zero; HumanML3D then produces NaN, we return the half turn about an axis
 * orthogonal to a instead (documented deviation). */
static inline void q_between(double o[4], const double a[3], const double b[3])
{
    double c[3];
    v3_cross(c, a, b);
    double w = sqrt(v3_dot(a, a) * v3_dot(b, b)) + v3_dot(a, b);
    double n = sqrt(w * w + v3_dot(c, c));
    double scale = sqrt(v3_dot(a, a) * v3_dot(b, b));
    if (!(n > 1e-12 * (scale > 1.0 ? scale : 1.0))) {
        /* Opposite (or zero) vectors: pick an axis orthogonal to a. */
        double ax[3] = {1, 0, 0};
        if (fabs(a[0]) > fabs(a[1]) && fabs(a[0]) > fabs(a[2])) ax[0] = 0, ax[1] = 1;
        double perp[3];
        v3_cross(perp, a, ax);
        double pn = v3_norm(perp);
        if (pn == 0.0) {
            o[0] = 1, o[1] = 0, o[2] = 0, o[3] = 0;
            return;
        }
        o[0] = 0;
        o[1] = perp[0] / pn;
        o[2] = perp[1] / pn;
        o[3] = perp[2] / pn;
        return;
    }
    o[0] = w / n;
    o[1] = c[0] / n;
    o[2] = c[1] / n;
    o[3] = c[2] / n;
}

/* Rotation matrix of a unit quaternion (quaternion_to_matrix()). */
static inline void q_to_m3(double m[9], const double q[4])
{
    double r = q[0], i = q[1], j = q[2], k = q[3];
    double two_s = 2.0 / (r * r + i * i + j * j + k * k);
    m[0] = 1 - two_s * (j * j + k * k);
    m[1] = two_s * (i * j - k * r);
    m[2] = two_s * (i * k + j * r);
    m[3] = two_s * (i * j + k * r);
    m[4] = 1 - two_s * (i * i + k * k);
    m[5] = two_s * (j * k - i * r);
    m[6] = two_s * (i * k - j * r);
    m[7] = two_s * (j * k + i * r);
    m[8] = 1 - two_s * (i * i + j * j);
}

#endif
