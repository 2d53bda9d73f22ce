/*
 * vimo/bvh.h - Biovision Hierarchy (.bvh, .bvh.gz) reader and forward kinematics.
 *
 * Contract:
 * - Format: the BVH text format as written by Biovision/MotionBuilder and
 *   described in M. Meredith & S. Maddock, "Motion Capture File Formats
 *   Explained" (Univ. Sheffield, 2001): HIERARCHY, one or more ROOT blocks of
 *   nested JOINT / End Site blocks with OFFSET and CHANNELS, then MOTION,
 *   "Frames: N", "Frame Time: t" and N lines of channel values.
 * - Any hierarchy, 0..6 channels per joint, any order of the Xposition,
 *   Yposition, Zposition, Xrotation, Yrotation, Zrotation channels, so any
 *   per-joint rotation order (Bandai-Namco: ZXY on all joints; CMU cgspeed:
 *   root ZYX, joints ZXY). Files are read through zlib (gzopen/gzread), which
 *   reads gzip-compressed (.bvh.gz) and plain files alike.
 * - Nodes: the J joints (ROOT/JOINT, file order, parents before children) are
 *   nodes 0..J-1; the E End Sites follow as nodes J..J+E-1, named
 *   "<parent>_End" ("<parent>_End2", ... if a joint has several).
 * - Hostile input: a malformed file fails with VIMO_ERR_FORMAT and a message
 *   "bvh: FILE:LINE: what". Sizes are capped (VIMO_BVH_MAX_* below) and frame
 *   storage grows as lines are actually read, never from the "Frames:" count.
 * - Units are those of the file (Bandai-Namco and CMU cgspeed: centimetres,
 *   degrees). vimo_bvh_fk converts to metres with a scale factor.
 * Deliberately not handled: the BVH variants with per-frame hierarchy changes,
 * and axis conventions: the file is taken as right-handed as written (both
 * built-in datasets are Y-up).
 */
#ifndef VIMO_BVH_H
#define VIMO_BVH_H

#include <stddef.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_BVH_MAX_JOINTS 1024        /* ROOT + JOINT blocks                 */
#define VIMO_BVH_MAX_DEPTH 256          /* nesting of { }                      */
#define VIMO_BVH_MAX_FRAMES 2000000     /* about 4.6 h at 120 fps              */
#define VIMO_BVH_MAX_BYTES (1u << 29)   /* 512 MiB of (uncompressed) text      */

typedef struct vimo_bvh vimo_bvh; /* opaque; created by vimo_bvh_load/parse */

typedef enum vimo_bvh_channel {
    VIMO_BVH_XPOS = 0,
    VIMO_BVH_YPOS = 1,
    VIMO_BVH_ZPOS = 2,
    VIMO_BVH_XROT = 3,
    VIMO_BVH_YROT = 4,
    VIMO_BVH_ZROT = 5
} vimo_bvh_channel;

/* Reads PATH (plain or gzip) into *out. The caller frees with vimo_bvh_free.
 * Errors: VIMO_ERR_INVALID (NULL args), VIMO_ERR_IO (cannot open/read),
 * VIMO_ERR_FORMAT ("bvh: FILE:LINE: ..." for malformed content, caps exceeded),
 * VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_bvh_load(vimo_bvh **out, const char *path);

/* Parses LEN bytes of BVH TEXT (need not be NUL-terminated); NAME is used in
 * messages in place of a file name. Same errors as vimo_bvh_load. */
VIMO_API vimo_status vimo_bvh_parse(vimo_bvh **out, const char *text, size_t len, const char *name);

/* Frees B. NULL is a no-op. */
VIMO_API void vimo_bvh_free(vimo_bvh *b);

/* Accessors. Node indices run over joints then End Sites (see contract). */
VIMO_API int vimo_bvh_joint_count(const vimo_bvh *b);    /* J: ROOT + JOINT blocks  */
VIMO_API int vimo_bvh_end_site_count(const vimo_bvh *b); /* E                       */
VIMO_API int vimo_bvh_node_count(const vimo_bvh *b);     /* J + E                   */
VIMO_API int vimo_bvh_frame_count(const vimo_bvh *b);    /* T frames                */
VIMO_API int vimo_bvh_channel_count(const vimo_bvh *b);  /* C values per frame      */
VIMO_API double vimo_bvh_frame_time(const vimo_bvh *b);  /* seconds per frame (> 0) */
VIMO_API double vimo_bvh_fps(const vimo_bvh *b);         /* 1 / frame time          */
VIMO_API const char *vimo_bvh_name(const vimo_bvh *b);   /* file name given to load */
/* Name of node I ("" when out of range). */
VIMO_API const char *vimo_bvh_node_name(const vimo_bvh *b, int i);
/* Parent node of I, -1 for a ROOT or out of range. */
VIMO_API int vimo_bvh_node_parent(const vimo_bvh *b, int i);
/* Index of the node named NAME (exact, case-sensitive; first match), or -1. */
VIMO_API int vimo_bvh_find(const vimo_bvh *b, const char *name);
/* OFFSET of node I, file units (zeros when out of range). */
VIMO_API void vimo_bvh_node_offset(const vimo_bvh *b, int i, double out[3]);
/* Channels of joint J in file order into OUT[0..5]; returns their number
 * (0 for End Sites or out of range). Its values start at column
 * vimo_bvh_channel_offset(b, j) of each frame. */
VIMO_API int vimo_bvh_joint_channels(const vimo_bvh *b, int j, vimo_bvh_channel out[6]);
VIMO_API int vimo_bvh_channel_offset(const vimo_bvh *b, int j);
/* Channel values, (T, C) row-major, file units (degrees for rotations). */
VIMO_API const float *vimo_bvh_frames(const vimo_bvh *b);

/* A scale from file units to metres guessed from the skeleton: the median
 * joint-to-parent distance of frame 0 (rest offsets if T = 0) is < 0.5 ->
 * metres (1.0); < 50 -> centimetres (0.01); else millimetres (0.001).
 * Inches are not guessed: pass 0.0254 to vimo_bvh_fk yourself. */
VIMO_API double vimo_bvh_auto_scale(const vimo_bvh *b);

/* Forward kinematics: world positions of every joint (with_end_sites = 0:
 * OUT is (T, J, 3)) or every node (with_end_sites = 1: (T, J+E, 3)), in file
 * units times SCALE (SCALE <= 0 means vimo_bvh_auto_scale).
 * Per joint: local translation = OFFSET, with each component that has a
 * position channel replaced by the channel value (the convention of the
 * Bandai-Namco files, whose position channels carry the full translation);
 * local rotation R = R_c1 * R_c2 * R_c3 for the rotation channels in file
 * order, each a right-handed rotation about its axis by the value in degrees.
 * World: R_w = R_w(parent) * R, p = R_w(parent) * t + p(parent). An End Site
 * sits at R_w(parent) * OFFSET + p(parent). Computed in double.
 * Errors: VIMO_ERR_INVALID (NULL args). */
VIMO_API vimo_status vimo_bvh_fk(const vimo_bvh *b, double scale, int with_end_sites, float *out);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_BVH_H */
