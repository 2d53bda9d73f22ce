/* vimo.c - library version and one-time initialisation (see vimo.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "vimo/vimo.h"

vimo_status vimo_gemm_choose_arch(void);

const char *vimo_version(void) { return VIMO_VERSION_STRING; }

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static vimo_status g_init_status;
static char g_init_msg[1024];

static void init_once(void)
{
    g_init_status = vimo_gemm_choose_arch();
    if (g_init_status) {
        snprintf(g_init_msg, sizeof g_init_msg, "%s", vimo_last_error());
        return;
    }
    const char *env = getenv("VIMO_NUM_THREADS");
    if (!env) env = getenv("OMP_NUM_THREADS");
    vimo_set_num_threads(env ? atoi(env) : 0);
}

vimo_status vimo_init(void)
{
    pthread_once(&g_once, init_once);
    if (g_init_status) return vimo_error(g_init_status, "%s", g_init_msg);
    return VIMO_OK;
}
