/*
 * vimo/motion.h - the motion pipeline: BVH -> FK -> retarget onto HumanML3D's
 * 22-joint SMPL layout -> resample to 20 fps -> 263-d features (libvimo_motion).
 *
 * Contract:
 * - Each stage is a separate call so it can be timed on its own:
 *     vimo_bvh_load            parse            (bvh.h)
 *     vimo_bvh_fk              forward kinematics (bvh.h)
 *     vimo_motion_retarget     22 SMPL joints, metres
 *     vimo_motion_resample     to the target frame rate
 *     vimo_hml3d_features      263-d features   (humanml3d.h)
 *   vimo_motion_bvh_joints runs FK + retarget + resample in one go, and
 *   vimo_motion_convert does a whole file.
 * - Joint maps say where each of the 22 SMPL joints (humanml3d.h order) sits on
 *   a BVH skeleton: a named node, or a point between two named nodes
 *   ((1 - w) * a + w * b), e.g. spine1..3 when a skeleton has fewer spine
 *   joints. Built in: "bandai-namco" (Bandai-Namco Research motion datasets 1
 *   and 2) and "cmu-cgspeed" (the cgspeed "Daz-friendly" BVH conversion of the
 *   CMU mocap database). vimo_joint_map_detect picks the first built-in map
 *   whose node names all exist in the skeleton.
 * - BVH positions are taken as right-handed and Y up, which holds for both
 *   built-in datasets; the result is in metres, Y up.
 * - Resampling (vimo_motion_resample): when the source rate is an integer
 *   multiple k of the target (to 0.1%), every k-th frame is kept, as
 *   HumanML3D's raw_pose_processing does for AMASS (CMU 120 fps -> stride 6);
 *   otherwise joint positions are linearly interpolated at the target
 *   timestamps i / fps (Bandai-Namco 30 fps -> 20 fps). HumanML3D itself would
 *   stride by int(30 / 20) = 1 and so play 30 fps clips 1.5x slower; we do not
 *   copy that.
 * Deliberately not here: rendering, other mocap formats (FBX, C3D, AMC), and
 * SMPL body-model fitting.
 */
#ifndef VIMO_MOTION_H
#define VIMO_MOTION_H

#include "vimo/bvh.h"
#include "vimo/humanml3d.h"
#include "vimo/npy.h"
#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vimo_joint_map_entry {
    int smpl;      /* 0..21, HumanML3D joint index                         */
    const char *a; /* BVH node name: a joint, or "<joint>_End" (End Site)  */
    const char *b; /* NULL, or a second node to interpolate towards        */
    double w;      /* with b: position = (1 - w) * a + w * b; else ignored */
} vimo_joint_map_entry;

typedef struct vimo_joint_map {
    const char *name;                    /* e.g. "bandai-namco"                   */
    int n_entries;                       /* 22: each SMPL joint exactly once      */
    const vimo_joint_map_entry *entries;
    int skip_frames;                     /* leading frames the dataset spoils     */
} vimo_joint_map;

/* Built-in maps: index 0 .. count-1, or by name. NULL when out of range/unknown. */
VIMO_API int vimo_joint_map_builtin_count(void);
VIMO_API const vimo_joint_map *vimo_joint_map_builtin(int i);
VIMO_API const vimo_joint_map *vimo_joint_map_find(const char *name);

/* Picks the first built-in map whose node names all occur in B.
 * Errors: VIMO_ERR_INVALID (NULL), VIMO_ERR_NOT_FOUND (no map fits; the
 * message names the missing nodes of the closest map). */
VIMO_API vimo_status vimo_joint_map_detect(const vimo_bvh *b, const vimo_joint_map **out);

/* Checks MAP against B: 22 entries covering 0..21 once, names found, finite
 * weights. Errors: VIMO_ERR_INVALID with the offending entry. */
VIMO_API vimo_status vimo_joint_map_check(const vimo_bvh *b, const vimo_joint_map *map);

/* Reads the 22 SMPL joints off FK positions. NODES: (T, N, 3) with N =
 * vimo_bvh_node_count(b) (vimo_bvh_fk with with_end_sites = 1), metres.
 * OUT: (T, 22, 3) metres. Errors: VIMO_ERR_INVALID (NULL, T < 0, bad map). */
VIMO_API vimo_status vimo_motion_retarget(const vimo_bvh *b, const vimo_joint_map *map, const float *nodes,
                                          int T, float *out);

/* Number of frames vimo_motion_resample makes from T frames (0 if T <= 0 or a
 * rate is not positive). */
VIMO_API int vimo_motion_resample_count(int T, double src_fps, double dst_fps);
/* IN: (T, K) frames at SRC_FPS -> OUT: (vimo_motion_resample_count, K) at
 * DST_FPS, by striding or linear interpolation (see contract).
 * Errors: VIMO_ERR_INVALID (NULL, T < 1, K < 1, rates not positive). */
VIMO_API vimo_status vimo_motion_resample(const float *in, int T, int K, double src_fps, double dst_fps,
                                          float *out);

typedef struct vimo_motion_opts {
    double scale;               /* file units -> metres; <= 0: vimo_bvh_auto_scale */
    double fps;                 /* output frame rate; <= 0: 20 (HumanML3D)       */
    const vimo_joint_map *map;  /* NULL: vimo_joint_map_detect                   */
    int skip_frames;            /* < 0: the map's skip_frames; else this many    */
    int mirror;                 /* vimo_motion_convert: nonzero mirrors left and
                                   right (vimo_hml3d_mirror_joints), HumanML3D's
                                   "M" clips                                     */
} vimo_motion_opts;

/* Defaults: scale auto, 20 fps, map detected, the map's skip_frames, no mirror. */
VIMO_API void vimo_motion_opts_init(vimo_motion_opts *o);

/* Output frame count of vimo_motion_bvh_joints for B with options O (NULL:
 * defaults): the frames left after skipping and glitch trimming (below),
 * resampled from the file's rate (snapped to an integer when within 0.01%,
 * as frame times are written rounded: 0.0333333 s -> 30 fps) to o->fps.
 * Errors: as vimo_motion_bvh_joints. */
VIMO_API vimo_status vimo_motion_bvh_frames(const vimo_bvh *b, const vimo_motion_opts *o, int *T_out);
/* FK + retarget + resample: OUT (T_out, 22, 3) metres at o->fps, T_out from
 * vimo_motion_bvh_frames. Drops the skip_frames leading frames, then any
 * leading capture glitch: frames up to the last pelvis jump faster than
 * 20 m/s within the first second (CMU 07_12 starts with a 2.6 m teleport).
 * Streams one source frame at a time: memory O(nodes), not O(T x nodes).
 * Errors: VIMO_ERR_INVALID (bad map, nothing left), VIMO_ERR_NOT_FOUND (no
 * map fits), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_motion_bvh_joints(const vimo_bvh *b, const vimo_motion_opts *o, float *out);

/* Converts one file. IN: .bvh / .bvh.gz, or a .npy of joints (T, 22, 3) in
 * metres at 20 fps. OUT: .npy float32, features (T-1, 263) or, with
 * JOINTS_ONLY, positions (T, 22, 3) at o->fps; with o->mirror, of the joints
 * mirrored (as the recipe mirrors: joints first, then features). *FRAMES (may
 * be NULL) gets the output's first dimension. Errors: those of the stages, VIMO_ERR_IO. */
VIMO_API vimo_status vimo_motion_convert(const char *in, const char *out, const vimo_motion_opts *o,
                                         int joints_only, int *frames);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_MOTION_H */
