/*
 * video_internal.h - helpers shared by the files of libvimo_video.
 * Not installed, not part of the ABI.
 */
#ifndef VIMO_VIDEO_INTERNAL_H
#define VIMO_VIDEO_INTERNAL_H

#include <stdint.h>

#include <libavutil/pixfmt.h>

#include "vimo/status.h"
#include "vimo/video.h"

struct SwsContext;

/* A reusable swscale context and the colour details it was set up with. */
typedef struct vv_scaler {
    struct SwsContext *sws;
    const struct SwsContext *tagged; /* sws the details below were applied to */
    int colorspace, range;
} vv_scaler;

/* Keeps FFmpeg's own log lines (per-packet complaints about corrupt input,
 * x264's statistics) off stderr, unless the application chose a log level:
 * vimo's error messages carry what matters. */
void vv_quiet_ffmpeg_logs(void);

/* Monotonic clock in milliseconds. */
double vv_now_ms(void);
/* CPU time of the calling thread in milliseconds. */
double vv_thread_cpu_ms(void);

/* Last path component, for error messages that name the file briefly. */
const char *vv_basename(const char *path);

/* FFmpeg error code as text (static buffer per thread). */
const char *vv_averr(int err);

/* Size after the short side is resized to `size`: the long side is
 * floor(long * size / short), at least `size` (torchvision Resize(size)). */
void vv_resize_dims(int w, int h, int size, int *rw, int *rh);

/* Row stride for vv_scale_to_rgb destinations: swscale's SIMD converters
 * write whole 8-pixel blocks, and with a tightly packed RGB24 row (3 * w
 * bytes, w not a multiple of 8) they leave the last pixels unwritten.
 * Buffers are stride * h + 64 bytes. */
int vv_rgb_stride(int w);

/* Converts/resizes an image of any FFmpeg pixel format to RGB24 dw x dh with
 * the bicubic scaler. colorspace/range: the frame's tags (AVColorSpace,
 * AVColorRange), used for YUV sources. sc starts zeroed; the caller frees
 * sc->sws with sws_freeContext.
 * dst_stride must be vv_rgb_stride(dw). */
vimo_status vv_scale_to_rgb(vv_scaler *sc, const uint8_t *const src[4],
                            const int src_stride[4], int w, int h, enum AVPixelFormat fmt,
                            int colorspace, int range, uint8_t *dst, int dw, int dh,
                            int dst_stride);

/* Centre crop size x size out of an RGB24 image rw x rh (both >= size), then
 * CLIP-normalise into out (3, size, size) and/or copy into crop
 * (size, size, 3); either may be NULL. */
void vv_crop_normalise(const uint8_t *rgb, int rw, int rh, int stride, int size, float *out,
                       uint8_t *crop);

/* ---- GOP-parallel sampling (parallel.c) over a reader (reader.c) ------------ */

/* Samples t[lo..hi) with v, in order, into slices lo..hi-1 of out
 * (n, 3, size, size), crops (n, size, size, 3) and t_frame (n); any of the
 * three may be NULL. */
vimo_status vv_sample_range(vimo_video *v, const double *t, int lo, int hi, int size, float *out,
                            uint8_t *crops, double *t_frame);

/* vimo_video_sample_clip for opts.workers > 1: t (n) increasing. */
vimo_status vv_sample_groups(vimo_video *v, const double *t, int n, int size, float *out,
                             uint8_t *crops, double *t_frame);

int vv_workers(const vimo_video *v);
const char *vv_path(const vimo_video *v);

/* The keyframe that decoding for time t_s starts from (the last one at or
 * before it in the container index), in seconds, and one frame period in
 * seconds. Returns 0 when the container has no index entry for t_s. */
int vv_keyframe_span(const vimo_video *v, double t_s, double *kf_s, double *frame_s);

/* Opens another reader of v's file with v's options (one worker), and
 * checks that it sees the same stream. */
vimo_status vv_open_like(vimo_video **out, const vimo_video *v);

/* Adds the counters of an extra reader (s) into v's; one more extra
 * reader. */
void vv_add_stats(vimo_video *v, const vimo_video_stats *s);
/* Adds one call's largest extra-thread CPU time to v's stats. */
void vv_add_extra_cpu(vimo_video *v, double ms);

#endif
