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
