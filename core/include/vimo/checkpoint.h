/*
 * vimo/checkpoint.h - training checkpoints: parameters, AdamW state, RNG
 * state, step, the resolved configuration and metadata, in one MessagePack
 * file (https://github.com/msgpack/msgpack/blob/master/spec.md).
 *
 * Format, version 1: one top-level map. "magic" is its first key and
 * "version" its second, so a reader refuses foreign or newer files before
 * reading anything else; the other keys may come in any order:
 *   "magic":   "vimo-ckpt"
 *   "version": 1
 *   "step":    int >= 0                        the training step
 *   "config":  {str: str}                      resolved configuration (insertion order)
 *   "meta":    {str: str}                      free-form metadata
 *   "rng":     [u32, u32, u32, u32]            vimo_rng state           (optional)
 *   "tensors": [{"name": str, "dtype": "f32", "shape": [int, ...], "data": bin}, ...]
 *              shape: 1..4 dims >= 1; data: numel * 4 bytes, IEEE-754 binary32,
 *              little-endian, row-major
 *   "adamw":   {"step": int >= 0,                                      (optional)
 *               "groups":  [{"params": [str, ...]}, ...],
 *               "moments": [{"name": str, "m": bin, "v": bin}, ...]}
 *              m and v as tensor data; every group parameter has one moments entry.
 * A reader skips unknown keys (additions that keep version 1 readable) and
 * refuses a higher version.
 *
 * Names: parameters are stored under the name given to add_tensor, or
 * "<prefix>.<param name>" through add_module. AdamW moments are keyed by
 * the same names: each optimiser parameter is matched by identity to a tensor
 * added to (writer) or loaded from (reader) the checkpoint, else by its own
 * vimo_tensor_name(). Learning rate and weight decay are configuration:
 * store them with add_config (optim.h has no getters for them).
 *
 * Writing is atomic: commit writes "PATH.tmp.<pid>.<n>", flushes and fsyncs
 * it, renames it over PATH and fsyncs the folder; on any error the temporary
 * file is removed and PATH is untouched, so a crash never leaves a
 * half-written checkpoint in place of a good one (a killed process may leave
 * its PATH.tmp.* file behind).
 *
 * Reading: open reads the whole file and validates everything before it
 * returns - structure (complete objects, container counts that fit in the
 * remaining bytes, nesting <= 16, at most 4M objects: hostile sizes cannot
 * cause large allocations), magic, version, types, shapes against byte
 * lengths, no duplicate names or keys, AdamW consistency. Errors are
 * VIMO_ERR_FORMAT "ckpt: FILE: offset N: what" with N the byte offset of the
 * offending object (a tensor record, a key, ...).
 *
 * Threads: a writer or reader is used by one thread at a time.
 * Not done: dtypes other than f32; checksums (a flipped bit inside tensor data
 * reads back as a different value); big-endian hosts (refused at build).
 */
#ifndef VIMO_CHECKPOINT_H
#define VIMO_CHECKPOINT_H

#include <stdint.h>

#include "vimo/optim.h"
#include "vimo/plugin.h"
#include "vimo/rng.h"
#include "vimo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_CKPT_MAGIC "vimo-ckpt"
#define VIMO_CKPT_VERSION 1

/* ---- writing ------------------------------------------------------------- */

typedef struct vimo_ckpt_writer vimo_ckpt_writer;

/* A writer for `path` (nothing is written before commit).
 * Errors: VIMO_ERR_INVALID, VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_ckpt_writer_new(vimo_ckpt_writer **out, const char *path);
/* Frees the writer (NULL: no-op) and the tensors it owns; never writes. */
VIMO_API void vimo_ckpt_writer_free(vimo_ckpt_writer *w);

/* Configuration and metadata entries, copied. A key given twice keeps the
 * last value. Errors: VIMO_ERR_INVALID (NULL), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_ckpt_add_config(vimo_ckpt_writer *w, const char *key, const char *value);
VIMO_API vimo_status vimo_ckpt_add_meta(vimo_ckpt_writer *w, const char *key, const char *value);
/* Every resolved option of a plugin as config "<prefix>.<name>" = text. */
VIMO_API vimo_status vimo_ckpt_add_options(vimo_ckpt_writer *w, const char *prefix, const vimo_options *o);

/* A parameter stored as `name`. The tensor (any strides, any device) is
 * referenced, not copied: it must stay alive until commit, which reads its
 * data (a device tensor through a host copy).
 * Errors: VIMO_ERR_INVALID (NULL, empty or duplicate name). */
VIMO_API vimo_status vimo_ckpt_add_tensor(vimo_ckpt_writer *w, const char *name, const vimo_tensor *t);
/* Every parameter of an instance's "vimo.module/1" as "<prefix>.<name>"
 * (prefix NULL or "": the bare name). Errors: VIMO_ERR_NOT_FOUND (no module
 * interface), those of add_tensor. */
VIMO_API vimo_status vimo_ckpt_add_module(vimo_ckpt_writer *w, const char *prefix, const vimo_instance *inst);
/* Every F32/F16/BF16 tensor of a safetensors file (widened to f32, copied
 * now) as "<prefix><name>" (prefix may be NULL). Scalars become shape (1).
 * Errors: those of vimo_safetensors_open, VIMO_ERR_UNSUPPORTED (other dtype
 * or more than 4 dims), add_tensor's. */
VIMO_API vimo_status vimo_ckpt_add_safetensors(vimo_ckpt_writer *w, const char *path, const char *prefix);

/* The optimiser's step count and moments, read at commit (see "Names").
 * Moments on a device are copied to the host at commit.
 * Errors at commit: VIMO_ERR_INVALID for a parameter with no name. */
VIMO_API vimo_status vimo_ckpt_add_adamw(vimo_ckpt_writer *w, vimo_adamw *opt);
/* The generator state, copied now. */
VIMO_API vimo_status vimo_ckpt_add_rng(vimo_ckpt_writer *w, const vimo_rng *rng);
/* The training step (default 0). Errors: VIMO_ERR_INVALID if negative. */
VIMO_API vimo_status vimo_ckpt_set_step(vimo_ckpt_writer *w, int64_t step);

/* Writes the checkpoint atomically (see above). May be called again.
 * Errors: VIMO_ERR_IO naming the file and the failed call (PATH untouched),
 * VIMO_ERR_INVALID (an AdamW parameter without a name), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_ckpt_commit(vimo_ckpt_writer *w);

/* ---- reading ------------------------------------------------------------- */

typedef struct vimo_ckpt vimo_ckpt;

/* Reads and validates a checkpoint (see above).
 * Errors: VIMO_ERR_NOT_FOUND / VIMO_ERR_IO (file), VIMO_ERR_FORMAT (bad
 * content, with the byte offset), VIMO_ERR_UNSUPPORTED (newer version, other
 * dtype), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_ckpt_open(vimo_ckpt **out, const char *path);
VIMO_API void vimo_ckpt_close(vimo_ckpt *c);
VIMO_API const char *vimo_ckpt_path(const vimo_ckpt *c);
VIMO_API int64_t vimo_ckpt_step(const vimo_ckpt *c);

/* Configuration / metadata entries in file order; get returns NULL when the
 * key is absent. */
VIMO_API int vimo_ckpt_config_count(const vimo_ckpt *c);
VIMO_API const char *vimo_ckpt_config_key(const vimo_ckpt *c, int i);
VIMO_API const char *vimo_ckpt_config_value(const vimo_ckpt *c, int i);
VIMO_API const char *vimo_ckpt_config_get(const vimo_ckpt *c, const char *key);
VIMO_API int vimo_ckpt_meta_count(const vimo_ckpt *c);
VIMO_API const char *vimo_ckpt_meta_key(const vimo_ckpt *c, int i);
VIMO_API const char *vimo_ckpt_meta_value(const vimo_ckpt *c, int i);
VIMO_API const char *vimo_ckpt_meta_get(const vimo_ckpt *c, const char *key);

/* Parameters in file order: name, and shape (returns ndim, 0 if i is out of
 * range; shape may be NULL). */
VIMO_API int vimo_ckpt_num_tensors(const vimo_ckpt *c);
VIMO_API const char *vimo_ckpt_tensor_name(const vimo_ckpt *c, int i);
VIMO_API int vimo_ckpt_tensor_shape(const vimo_ckpt *c, int i, int64_t shape[VIMO_MAX_DIMS]);
/* Copies parameter `name` as n = numel floats into dst.
 * Errors: VIMO_ERR_NOT_FOUND, VIMO_ERR_SHAPE (n != numel). */
VIMO_API vimo_status vimo_ckpt_read_f32(const vimo_ckpt *c, const char *name, float *dst, int64_t n);
/* Copies parameter `name` into an existing tensor of the same shape (any
 * strides, any device: a device tensor through a host copy) and remembers dst under that name for restore_adamw.
 * Errors: VIMO_ERR_NOT_FOUND, VIMO_ERR_SHAPE naming both shapes. */
VIMO_API vimo_status vimo_ckpt_get_tensor(vimo_ckpt *c, const char *name, vimo_tensor *dst);
/* A new caller-owned tensor holding parameter `name` (named so). */
VIMO_API vimo_status vimo_ckpt_load_tensor(vimo_ckpt *c, const char *name, vimo_tensor **out);
/* get_tensor for every parameter of an instance's "vimo.module/1", stored
 * as "<prefix>.<name>". Every parameter must be present (extra tensors in
 * the file are ignored). Errors: those of get_tensor. */
VIMO_API vimo_status vimo_ckpt_load_module(vimo_ckpt *c, const char *prefix, const vimo_instance *inst);

/* RNG state. Errors: VIMO_ERR_NOT_FOUND if the file has none. */
VIMO_API int vimo_ckpt_has_rng(const vimo_ckpt *c);
VIMO_API vimo_status vimo_ckpt_get_rng(const vimo_ckpt *c, vimo_rng *rng);

/* Restores an optimiser built with the same groups: for every parameter,
 * matched by name (see "Names"), its m and v; then the step count. Nothing
 * is changed unless every parameter matches. Errors: VIMO_ERR_NOT_FOUND (no
 * AdamW state, or a parameter missing), VIMO_ERR_SHAPE (moment length),
 * VIMO_ERR_INVALID (a parameter in another group than when saved, or without
 * a name). Moments on a device are copied there. */
VIMO_API int vimo_ckpt_has_adamw(const vimo_ckpt *c);
VIMO_API vimo_status vimo_ckpt_restore_adamw(vimo_ckpt *c, vimo_adamw *opt);

/* Writes the parameters (weights only) as a safetensors file (F32,
 * atomically); "__metadata__" holds the checkpoint's metadata and
 * "vimo.step". Errors: those of vimo_safetensors_write_f32, VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_ckpt_export_safetensors(const vimo_ckpt *c, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_CHECKPOINT_H */
