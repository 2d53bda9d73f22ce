/*
 * vimo/safetensors.h - read (mmap) and write (F32) safetensors files.
 *
 * Format (https://github.com/huggingface/safetensors, "Format" section):
 *   bytes 0..7   N, the header length, unsigned 64-bit little-endian
 *   bytes 8..8+N a JSON object: {"name": {"dtype": "F32", "shape": [2, 3],
 *                "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
 *   the rest     the data buffer; offsets are relative to its start (8 + N).
 *
 * Contract:
 *  - A reader maps the file read-only and validates the whole header before it
 *    returns: N <= 100 MB and 8 + N <= file size; every entry has a known dtype,
 *    a shape of at most VIMO_ST_MAX_DIMS non-negative dims, and data_offsets
 *    with begin <= end <= data size and end - begin == numel * dtype size;
 *    no two tensors overlap and the tensors cover the data buffer without holes
 *    (as the reference implementation requires). Any violation is
 *    VIMO_ERR_FORMAT with a message naming the file and the tensor.
 *  - Tensor data stays mapped until vimo_safetensors_close(); pointers from
 *    vimo_safetensors_get()/_at() are valid until then.
 *  - Conversion to float32 is offered for F32, F16 and BF16. Other dtypes are
 *    parsed and validated (sizes are known) but only exposed as raw bytes.
 *  - The host must be little-endian (x86-64, aarch64): values are read as is.
 *  - The writer writes F32 only, atomically: a temporary file in the same
 *    folder, fsync, rename over the target, fsync of the folder.
 *
 * Not done: writing dtypes other than F32; big-endian hosts.
 */
#ifndef VIMO_SAFETENSORS_H
#define VIMO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_ST_MAX_DIMS 8

typedef enum vimo_st_dtype {
    VIMO_ST_F32 = 0,
    VIMO_ST_F16,
    VIMO_ST_BF16,
    VIMO_ST_F64,
    VIMO_ST_I64,
    VIMO_ST_I32,
    VIMO_ST_I16,
    VIMO_ST_I8,
    VIMO_ST_U64,
    VIMO_ST_U32,
    VIMO_ST_U16,
    VIMO_ST_U8,
    VIMO_ST_BOOL,
    VIMO_ST_F8_E4M3,
    VIMO_ST_F8_E5M2
} vimo_st_dtype;

/* One tensor of an opened file. */
typedef struct vimo_st_tensor {
    const char *name;               /* as in the header                      */
    vimo_st_dtype dtype;
    int ndim;                       /* 0 (scalar) .. VIMO_ST_MAX_DIMS        */
    int64_t shape[VIMO_ST_MAX_DIMS];
    int64_t numel;                  /* product of shape (1 for a scalar)     */
    const void *data;               /* mapped bytes, little-endian           */
    size_t nbytes;                  /* numel * vimo_st_dtype_size(dtype)     */
    size_t file_offset;             /* byte offset of data in the file       */
} vimo_st_tensor;

typedef struct vimo_safetensors vimo_safetensors;

/* Name of a dtype as in the format ("F32", "BF16", ...). Never NULL. */
VIMO_API const char *vimo_st_dtype_name(vimo_st_dtype dt);
/* Bytes per element of a dtype (1, 2, 4 or 8). */
VIMO_API size_t vimo_st_dtype_size(vimo_st_dtype dt);

/* Opens and validates `path` (see the contract above).
 * Errors: VIMO_ERR_INVALID (NULL args), VIMO_ERR_NOT_FOUND (no such file),
 * VIMO_ERR_IO (open/mmap failed), VIMO_ERR_FORMAT ("safetensors: f.st:
 * tensor 'w': ..."), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_safetensors_open(const char *path, vimo_safetensors **out);

/* Unmaps and frees. NULL is a no-op. */
VIMO_API void vimo_safetensors_close(vimo_safetensors *st);

/* The path given to open(). */
VIMO_API const char *vimo_safetensors_path(const vimo_safetensors *st);

/* Number of tensors, and the i-th in order of data offset (0 <= i < count). */
VIMO_API size_t vimo_safetensors_count(const vimo_safetensors *st);
VIMO_API const vimo_st_tensor *vimo_safetensors_at(const vimo_safetensors *st, size_t i);

/* The tensor called `name`, or NULL (no error set) when absent. */
VIMO_API const vimo_st_tensor *vimo_safetensors_get(const vimo_safetensors *st, const char *name);

/* Value of `key` in "__metadata__", or NULL when absent. */
VIMO_API const char *vimo_safetensors_metadata(const vimo_safetensors *st, const char *key);

/* Converts tensor `name` (F32, F16 or BF16) to float32 into dst[0..n), where n
 * must equal its numel. F16 and BF16 are widened exactly (subnormals, inf and
 * NaN kept).
 * Errors: VIMO_ERR_NOT_FOUND (no such tensor), VIMO_ERR_SHAPE (n != numel),
 * VIMO_ERR_UNSUPPORTED (another dtype). */
VIMO_API vimo_status vimo_safetensors_read_f32(const vimo_safetensors *st, const char *name,
                                               float *dst, size_t n);

/* Widens n elements of `src` in dtype `dt` (F32, F16, BF16) to float32.
 * Errors: VIMO_ERR_UNSUPPORTED for other dtypes. */
VIMO_API vimo_status vimo_st_to_f32(vimo_st_dtype dt, const void *src, float *dst, size_t n);

/* One tensor to write: shape (ndim dims, row-major) and numel floats. */
typedef struct vimo_st_write_tensor {
    const char *name;
    int ndim;                 /* 0 .. VIMO_ST_MAX_DIMS */
    const int64_t *shape;
    const float *data;        /* (prod shape) */
} vimo_st_write_tensor;

/* Writes n tensors as F32 to `path`, atomically (see the contract), in the
 * order given. `meta` is an optional NULL-terminated list of key, value
 * strings for "__metadata__" (NULL for none). The header is padded with spaces
 * to a multiple of 8 bytes so that every tensor's data is 8-byte aligned.
 * Errors: VIMO_ERR_INVALID (bad name, duplicate name, bad shape),
 * VIMO_ERR_IO (create/write/fsync/rename failed; the target is untouched),
 * VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_safetensors_write_f32(const char *path, const vimo_st_write_tensor *t,
                                                size_t n, const char *const *meta);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_SAFETENSORS_H */
