/*
 * vimo/humanml3d.h - HumanML3D's 263-d motion features, both directions.
 *
 * Contract:
 * - Source: Guo et al., "Generating Diverse and Natural 3D Human Motions from
 *   Text" (CVPR 2022), Sec. 3 / supp., as implemented in EricGuo5513/HumanML3D
 *   (motion_representation.ipynb process_file() and recover_from_ric(),
 *   common/skeleton.py, common/quaternion.py, paramUtil.py). Re-implemented
 *   from reading that code; no code copied.
 * - Skeleton: the 22 SMPL body joints in HumanML3D's order
 *   (0 pelvis, 1 l_hip, 2 r_hip, 3 spine1, 4 l_knee, 5 r_knee, 6 spine2,
 *   7 l_ankle, 8 r_ankle, 9 spine3, 10 l_foot, 11 r_foot, 12 neck, 13 l_collar,
 *   14 r_collar, 15 head, 16 l_shoulder, 17 r_shoulder, 18 l_elbow, 19 r_elbow,
 *   20 l_wrist, 21 r_wrist), kinematic chains paramUtil.t2m_kinematic_chain.
 *   Positions in metres, Y up; a body facing +Z has its left side at +X.
 * - Frame rate: HumanML3D is 20 fps. These functions do not resample; see
 *   vimo_motion_resample (motion.h).
 * - Feature layout of one frame t (dim 263 = 4 + 63 + 126 + 66 + 4):
 *     [0]        root angular velocity about Y, rad/frame, stored as in the
 *                recipe: asin(y) of the quaternion r(t+1) r(t)^-1, i.e. half
 *                the yaw step
 *     [1:3]      root linear velocity (x, z) in the root frame of t+1, m/frame
 *     [3]        root height (m)
 *     [4:67]     ric: joints 1..21 relative to the root's XZ, rotated into
 *                the root frame (y stays absolute height)
 *     [67:193]   cont6d: local rotation of joints 1..21 from the recipe's
 *                inverse kinematics, first two columns of the rotation matrix
 *     [193:259]  velocity of joints 0..21 from t to t+1, in the root frame of t
 *     [259:263]  foot contacts l_ankle, l_foot, r_ankle, r_foot (0/1)
 * - Doubles inside, float32 at the interface.
 * - Mirroring (the recipe's left/right data augmentation, raw_pose_processing
 *   swap_left_right): on joints, and as the equivalent signed permutation of
 *   the features, so 263-d data with no joints can be mirrored too.
 * Deliberately not done: the recipe's text processing and SMPL body-model
 * fitting (we start from joint positions).
 */
#ifndef VIMO_HUMANML3D_H
#define VIMO_HUMANML3D_H

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_HML3D_JOINTS 22
#define VIMO_HML3D_DIM 263
#define VIMO_HML3D_FPS 20
/* Foot-contact velocity threshold of the recipe: squared displacement per
 * frame (m^2) below which a foot joint is in contact. */
#define VIMO_HML3D_FOOT_THRESHOLD 0.002

/* Parent of each of the 22 joints (-1 for the pelvis), from the chains. */
VIMO_API const int *vimo_hml3d_parents(void);
/* "pelvis", "l_hip", ... ("" when out of range). */
VIMO_API const char *vimo_hml3d_joint_name(int j);
/* Bone length of joint j (to its parent) in the recipe's target skeleton
 * (HumanML3D's sample 000021), metres; 0 for the pelvis. */
VIMO_API double vimo_hml3d_ref_bone_length(int j);

/* Joint positions -> features, following process_file(positions, 0.002):
 *  1. uniform skeleton: every bone is rescaled to the reference length along
 *     its own direction (the recipe's IK then FK with the target offsets does
 *     exactly this); the root trajectory is scaled by the ratio of the
 *     reference to the source leg (knee + shin) length in frame 0;
 *  2. floor: subtract the lowest joint height over the whole clip;
 *  3. move the frame-0 root XZ to the origin;
 *  4. rotate about Y so frame 0 faces +Z, forward = Y x across, across =
 *     (r_hip - l_hip) + (r_shoulder - l_shoulder), normalised;
 *  5. foot contacts: squared per-frame displacement of joints 7, 10 (left)
 *     and 8, 11 (right) below VIMO_HML3D_FOOT_THRESHOLD (the recipe's height
 *     factors 3.0 and 2.0 are defined but unused there, so unused here);
 *  6. IK as in Skeleton.inverse_kinematics_np(smooth_forward=True): per-frame
 *     root rotation r(t) turning the forward direction to +Z, except r(0) =
 *     identity (skeleton.py's `root_quat[0] = [1, 0, 0, 0]`, which the
 *     published features show was in force), where the
 *     forward direction is built from across = (l_hip - r_hip) +
 *     (r_shoulder - l_shoulder) (the recipe's IK unpacks its face-joint list in
 *     this order; reproduced on purpose, the published features depend on it),
 *     smoothed over time by a Gaussian (sigma 20 frames, radius 80, edges
 *     repeated, = scipy gaussian_filter1d mode 'nearest'); each joint's global
 *     rotation is the shortest arc from its rest direction
 *     (paramUtil.t2m_raw_offsets) to its bone direction, local = parent^-1 *
 *     global, first joints of the arm chains relative to the root rotation;
 *  7. root velocities, ric, cont6d, joint velocities as in the layout above.
 * JOINTS: (T, 22, 3) metres, Y up, 20 fps; T >= 2. FEAT: (T-1, 263).
 * GLOBAL (optional, may be NULL): (T, 22, 3) positions after steps 1-4.
 * Errors: VIMO_ERR_INVALID (NULL, T < 2, non-finite input, zero leg length,
 * no horizontal facing direction in frame 0), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_hml3d_features(const float *joints, int T, float *feat, float *global);

/* Features -> joint positions, recover_from_ric(): integrates the root yaw
 * (starting at 0) and XZ velocity (starting at the origin), takes the root
 * height from [3], and rotates ric back to world. FEAT: (T, 263);
 * JOINTS: (T, 22, 3) metres. Since the recipe pins r(0) to the identity,
 * frame t of the output is frame t of vimo_hml3d_features' GLOBAL.
 * Errors: VIMO_ERR_INVALID (NULL, T < 1). */
VIMO_API vimo_status vimo_hml3d_recover(const float *feat, int T, float *joints);

/* In place: feat = (feat - mean) / std over (T, 263) rows, the normalisation
 * the HumanML3D models train with (Mean.npy, Std.npy, shape (263,)).
 * Errors: VIMO_ERR_INVALID (NULL, T < 0, a std entry <= 0 or non-finite). */
VIMO_API vimo_status vimo_hml3d_normalize(float *feat, int T, const float *mean, const float *std);
/* In place: feat = feat * std + mean. Same errors. */
VIMO_API vimo_status vimo_hml3d_denormalize(float *feat, int T, const float *mean, const float *std);

/* The twin of joint j across the body's midline: l_hip <-> r_hip, ...;
 * pelvis, spine1-3, neck and head are their own. -1 when j is out of range. */
VIMO_API int vimo_hml3d_twin(int j);

/* HumanML3D's mirror of joint positions (raw_pose_processing.ipynb,
 * swap_left_right): x -> -x, and every left joint swapped with its twin, so
 * a left-hand wave becomes a right-hand wave and a left turn a right turn.
 * JOINTS, OUT: (T, 22, 3) metres, Y up; OUT may be JOINTS (in place).
 * Errors: VIMO_ERR_INVALID (NULL, T < 1). */
VIMO_API vimo_status vimo_hml3d_mirror_joints(const float *joints, int T, float *out);

/* The same mirror on features (T, 263), for data that has no joints (a
 * HumanML3D new_joint_vecs folder): a signed permutation of the dims, from
 * the layout above with the reflection S = diag(-1, 1, 1):
 *   [0] yaw rate and [1] x velocity change sign; [2], [3] stay;
 *   ric and joint velocities: joint j takes its twin's vector, x negated;
 *   cont6d: joint j takes its twin's S R S, i.e. the 6 entries times
 *     (+, -, -, -, +, +);
 *   contacts: left and right pairs swap.
 * Applied twice it is the identity, bit for bit. It equals the features of
 * the mirrored joints up to the recipe's asymmetries: the reference
 * skeleton's left and right bones differ by up to 9 mm, and the root
 * trajectory is scaled by the right leg's length alone (measured in
 * docs/motion.md, "Mirroring"; checked in tests/motion/test_mirror.c).
 * FEAT, OUT: (T, 263) raw (not normalised) features; OUT may be FEAT.
 * Errors: VIMO_ERR_INVALID (NULL, T < 1). */
VIMO_API vimo_status vimo_hml3d_mirror_features(const float *feat, int T, float *out);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_HUMANML3D_H */
