/* status.c - status names and the thread-local error message (see status.h). */
#include "vimo/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_msg[1024];

const char *vimo_status_str(vimo_status st)
{
    switch (st) {
    case VIMO_OK: return "ok";
    case VIMO_ERR_INVALID: return "invalid argument";
    case VIMO_ERR_SHAPE: return "shape error";
    case VIMO_ERR_NOMEM: return "out of memory";
    case VIMO_ERR_IO: return "i/o error";
    case VIMO_ERR_FORMAT: return "format error";
    case VIMO_ERR_NOT_FOUND: return "not found";
    case VIMO_ERR_ABI: return "abi mismatch";
    case VIMO_ERR_UNSUPPORTED: return "unsupported";
    case VIMO_ERR_STATE: return "bad state";
    case VIMO_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *vimo_last_error(void) { return g_msg; }

void vimo_error_clear(void) { g_msg[0] = '\0'; }

vimo_status vimo_error(vimo_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return st;
}
