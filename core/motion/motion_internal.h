/*
 * motion_internal.h - internals shared by the motion sources (not
 * installed): the layout behind the opaque vimo_bvh (bvh.c, bvh_fk.c), and
 * per-frame FK and resolved joint maps for the streaming pipeline.
 */
#ifndef VIMO_MOTION_INTERNAL_H
#define VIMO_MOTION_INTERNAL_H

#include "vimo/motion.h"

typedef struct bvh_node {
    char *name;
    int parent;             /* node index, -1 for a ROOT                    */
    double offset[3];       /* file units                                   */
    int nch;                /* 0..6                                         */
    unsigned char ch[6];    /* vimo_bvh_channel, file order                 */
    int ch_off;             /* column of the first channel in a frame row   */
} bvh_node;

struct vimo_bvh {
    char *name;             /* file name for messages                       */
    bvh_node *nodes;        /* n_joints joints, then n_sites End Sites      */
    int n_joints, n_sites;
    int n_channels;         /* C                                            */
    int n_frames;           /* T                                            */
    double frame_time;      /* seconds                                      */
    float *frames;          /* (T, C)                                       */
};

/* FK of one frame T (0 <= T < n_frames) of every node, (J + E, 3), file units
 * times SCALE. SCRATCH holds 12 * (J + E) doubles. Internal: lets the
 * pipeline stream a clip without a (T, J + E, 3) buffer. */
void vimo_bvh_fk_frame_(const vimo_bvh *b, double scale, int t, double *scratch, float *out);

/* A joint map resolved against one skeleton: node indices and weights. */
typedef struct map_idx {
    int a[VIMO_HML3D_JOINTS], b[VIMO_HML3D_JOINTS];
    double w[VIMO_HML3D_JOINTS];
} map_idx;

/* Checks MAP against B (vimo_joint_map_check) and resolves it. */
vimo_status vimo_map_resolve_(const vimo_bvh *b, const vimo_joint_map *map, map_idx *out);
/* One frame: NODES (N, 3) -> OUT (22, 3). */
void vimo_map_apply_(const map_idx *m, const float *nodes, float *out);

#endif
