/*
 * vimo/status.h - status codes and the thread-local error message.
 *
 * Every public vimo function that can fail returns a vimo_status. On failure it
 * also sets a thread-local message that names the operation and what was wrong
 * (e.g. "matmul: x (4, 7) vs W (8, 5): inner dims differ", or
 * "bvh: walk.bvh:12: expected '{'"). The message stays valid until the next
 * failing call on the same thread. The library never calls abort() or exit().
 *
 * Part of the stable ABI: values are only ever appended.
 */
#ifndef VIMO_STATUS_H
#define VIMO_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VIMO_API __declspec(dllexport)
#else
#define VIMO_API __attribute__((visibility("default")))
#endif

typedef enum vimo_status {
    VIMO_OK = 0,
    VIMO_ERR_INVALID = 1,     /* bad argument value (NULL, out of range)      */
    VIMO_ERR_SHAPE = 2,       /* tensor shapes or dtypes do not fit the op     */
    VIMO_ERR_NOMEM = 3,       /* allocation failed or a size is absurd         */
    VIMO_ERR_IO = 4,          /* open/read/write/fsync/rename failed           */
    VIMO_ERR_FORMAT = 5,      /* malformed, truncated or hostile file content  */
    VIMO_ERR_NOT_FOUND = 6,   /* file, plugin, parameter or option not found   */
    VIMO_ERR_ABI = 7,         /* plugin ABI or interface version mismatch      */
    VIMO_ERR_UNSUPPORTED = 8, /* valid request this build cannot do            */
    VIMO_ERR_STATE = 9,       /* call not allowed in the object's current state */
    VIMO_ERR_INTERNAL = 10    /* a bug in vimo: please report                  */
} vimo_status;

/* Short name of a status ("shape error", ...). Never NULL. */
VIMO_API const char *vimo_status_str(vimo_status st);

/* The message of the last failure on this thread ("" if none). Never NULL. */
VIMO_API const char *vimo_last_error(void);

/* Sets the thread-local message (printf format) and returns st, so that
 * `return vimo_error(VIMO_ERR_SHAPE, "matmul: ...", ...);` reads naturally.
 * Plugins use it too. Messages longer than 1023 bytes are truncated. */
VIMO_API vimo_status vimo_error(vimo_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears the thread-local message. */
VIMO_API void vimo_error_clear(void);

/* Evaluate a vimo_status expression; on failure jump to `fail` with st set.
 * Functions using it declare `vimo_status st = VIMO_OK;` and a `fail:` label:
 * one cleanup path (house style). */
#define VIMO_TRY(expr)                                                          \
    do {                                                                        \
        st = (expr);                                                            \
        if (st != VIMO_OK) goto fail;                                           \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif /* VIMO_STATUS_H */
