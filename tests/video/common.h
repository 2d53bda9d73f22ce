/*
 * common.h - helpers for the video tests: where the shared data is, running
 * the ffmpeg/ffprobe command-line tools (the independent reference) and
 * capturing their output, scratch directories.
 */
#ifndef VIMO_TEST_VIDEO_COMMON_H
#define VIMO_TEST_VIDEO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define SKIP_CODE 77 /* CTest SKIP_RETURN_CODE */

/* $VIMO_SHARED_DATA (default: VIMO_TEST_DEFAULT_DATA from CMake) joined with
 * rel. Returns a static buffer, overwritten by the next call. */
const char *data_path(const char *rel);
/* 1 when the shared data folder holds the video set. */
int have_data(void);
/* 1 when `ffmpeg` and `ffprobe` run. */
int have_ffmpeg(void);

/* Runs a shell command and captures at most max bytes of its stdout into a
 * malloc'ed buffer (*out, *len). Returns the exit status (-1 if it could
 * not run). */
int run_capture(const char *cmd, size_t max, uint8_t **out, size_t *len);

/* Frame at t seconds by the ffmpeg CLI (accurate input seek), RGB24.
 * vf: an extra filter chain or NULL. Returns a malloc'ed buffer of
 * expect_bytes, or NULL when ffmpeg fails or the size differs. */
uint8_t *ffmpeg_frame(const char *file, double t, const char *vf, size_t expect_bytes);

/* Mean and max absolute difference of two byte arrays. */
double mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n, int *max_diff);

/* mkdtemp under $TMPDIR or /tmp; returns a static path. rm_rf removes it. */
const char *make_scratch_dir(const char *tag);
void rm_rf(const char *dir);

/* Writes n bytes to path; returns 0 on success. */
int write_file(const char *path, const void *data, size_t n);
/* Reads a whole file (at most max bytes) into a malloc'ed buffer. */
uint8_t *read_file(const char *path, size_t max, size_t *len);

double now_s(void);

/* A synthetic arm: shoulder (root) -> elbow -> wrist (parents -1, 0, 1),
 * swinging with a 1 s period at 30 fps. Returns malloc'ed (T, 3, 3) joints
 * in metres, or NULL. */
float *synthetic_arm(int T);

#endif
