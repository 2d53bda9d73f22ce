/*
 * mtest.h - small helpers shared by the motion tests: where the shared data
 * is, temp files, message checks. Header-only on purpose (tests only).
 */
#ifndef VIMO_TESTS_MTEST_H
#define VIMO_TESTS_MTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vimo/motion.h"

/* VIMO_SHARED_DATA (set by CTest from tests/CMakeLists.txt), else ../shared/data
 * next to the source tree. Returns NULL when the motion data is absent. */
static inline const char *mt_data_dir(void)
{
    static char buf[4096];
    const char *d = getenv("VIMO_SHARED_DATA");
    if (!d || !*d) d = MT_DEFAULT_DATA;
    if (snprintf(buf, sizeof buf, "%s/motion/humanml3d/Mean.npy", d) >= (int)sizeof buf) return NULL;
    if (access(buf, R_OK) != 0) return NULL;
    snprintf(buf, sizeof buf, "%s", d);
    return buf;
}

/* "<data>/<rel>" in a static buffer (one at a time per slot). */
static inline const char *mt_path(int slot, const char *rel)
{
    static char bufs[4][4096];
    const char *d = mt_data_dir();
    if (snprintf(bufs[slot & 3], sizeof bufs[0], "%s/%s", d ? d : ".", rel) >= (int)sizeof bufs[0])
        fail_msg("path too long: %s", rel);
    return bufs[slot & 3];
}

/* A scratch file name unique to this process. */
static inline const char *mt_tmp(const char *name)
{
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, sizeof bufs[0], "%s/vimo_mt_%ld_%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (long)getpid(), name);
    return b;
}

/* Joints (T, 22, 3) in metres at 20 fps of a shipped BVH clip (FK +
 * retarget + resample with the default options); *MAP_NAME (may be NULL)
 * gets the joint map that fitted. Uses mt_path slot 3. Free the result. */
static inline float *mt_clip_joints(const char *rel, int *T, const char **map_name)
{
    vimo_bvh *b = NULL;
    if (vimo_bvh_load(&b, mt_path(3, rel)) != VIMO_OK) fail_msg("%s", vimo_last_error());
    if (map_name) {
        const vimo_joint_map *m;
        assert_int_equal(vimo_joint_map_detect(b, &m), VIMO_OK);
        *map_name = m->name;
    }
    assert_int_equal(vimo_motion_bvh_frames(b, NULL, T), VIMO_OK);
    float *j = malloc((size_t)*T * VIMO_HML3D_JOINTS * 3 * sizeof *j);
    assert_non_null(j);
    assert_int_equal(vimo_motion_bvh_joints(b, NULL, j), VIMO_OK);
    vimo_bvh_free(b);
    return j;
}

static inline void mt_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Asserts the last error contains NEEDLE, printing it when not. */
#define mt_assert_msg(needle)                                                                   \
    do {                                                                                        \
        if (!strstr(vimo_last_error(), (needle)))                                               \
            fail_msg("message '%s' lacks '%s'", vimo_last_error(), (needle));                 \
    } while (0)

#endif
