/*
 * vimo/npy.h - read and write NumPy .npy arrays (float32 in memory).
 *
 * Contract:
 * - Follows the NPY format specification (numpy.lib.format, "NEP 1"):
 *   magic "\x93NUMPY", version 1.0 (uint16 header length), 2.0 or 3.0 (uint32
 *   header length), then an ASCII (3.0: UTF-8) Python dict literal with exactly
 *   the keys 'descr', 'fortran_order', 'shape', padded with spaces and ended by
 *   '\n', then the raw data.
 * - Reading accepts little-endian float32 ('<f4') and float64 ('<f8', converted
 *   to float32), C order only. Rejected with VIMO_ERR_FORMAT and a message
 *   "npy: FILE: byte N: what": big-endian ('>f4'), other or object dtypes,
 *   fortran_order True, malformed headers, more than VIMO_NPY_MAX_DIMS dims, and
 *   a data size that differs from what the file holds after the header (the
 *   size is checked against the file length before anything is allocated, so a
 *   hostile header cannot cause a huge allocation).
 * - Writing produces version 1.0, '<f4', C order, header padded so the data
 *   starts at a multiple of 64 bytes (as numpy >= 1.x writes it). The file is
 *   written to "PATH.tmp" and renamed over PATH, so a failed write never leaves
 *   a truncated PATH behind.
 * Deliberately not supported: integer/bool/complex dtypes, structured dtypes,
 * .npz archives, memory mapping.
 */
#ifndef VIMO_NPY_H
#define VIMO_NPY_H

#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_NPY_MAX_DIMS 8

typedef struct vimo_npy {
    float *data;                       /* (shape[0], ..., shape[ndim-1]), C order */
    int ndim;                          /* 0 (scalar) .. VIMO_NPY_MAX_DIMS      */
    int64_t shape[VIMO_NPY_MAX_DIMS];
    int64_t count;                     /* product of shape (1 for a scalar)    */
    int file_dtype_bytes;              /* 4 ('<f4') or 8 ('<f8') in the file   */
} vimo_npy;

/* Loads PATH into *out (zeroed first; free with vimo_npy_free).
 * Errors: VIMO_ERR_INVALID (NULL args), VIMO_ERR_IO (open/read),
 * VIMO_ERR_FORMAT (see contract), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_npy_load(const char *path, vimo_npy *out);

/* Frees out->data and zeroes *a. NULL is a no-op. */
VIMO_API void vimo_npy_free(vimo_npy *a);

/* Writes DATA, shape (shape[0], ..., shape[ndim-1]) float32 C order, to PATH
 * as NPY 1.0 '<f4'. ndim 0..VIMO_NPY_MAX_DIMS, shape entries >= 0.
 * Errors: VIMO_ERR_INVALID (bad args), VIMO_ERR_IO (write/rename failed). */
VIMO_API vimo_status vimo_npy_save(const char *path, const float *data, int ndim,
                                   const int64_t *shape);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_NPY_H */
