/*
 * vimo.c - library version and one-time initialisation (see vimo.h).
 *
 * Order matters: the GEMM setup must run before anything calls BLIS (even
 * bli_thread_set_num_threads initialises it, fixing its kernel choice), so
 * the thread count is applied only after it. Not here: the choice itself
 * (gemm.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "vimo/vimo.h"

vimo_status vimo_gemm_setup(void);
void vimo_gemm_threads_apply(int n);

const char *vimo_version(void) { return VIMO_VERSION_STRING; }

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static vimo_status g_init_status;
static char g_init_msg[1024];

/* Thread count from the environment; 0 (all cores) when unset or not a
 * positive number. */
static int env_threads(void)
{
    const char *env = getenv("VIMO_NUM_THREADS");
    if (!env || !*env) env = getenv("OMP_NUM_THREADS");
    if (!env || !*env) return 0;
    char *end;
    long v = strtol(env, &end, 10);
    return (end != env && v > 0 && v < 1 << 20) ? (int)v : 0;
}

static void init_once(void)
{
    g_init_status = vimo_gemm_setup();
    if (g_init_status) {
        snprintf(g_init_msg, sizeof g_init_msg, "%s", vimo_last_error());
        return;
    }
    vimo_gemm_threads_apply(env_threads());
}

vimo_status vimo_init(void)
{
    pthread_once(&g_once, init_once);
    if (g_init_status) return vimo_error(g_init_status, "%s", g_init_msg);
    return VIMO_OK;
}
