/*
 * video_internal.h - helpers shared by the files of libvimo_video.
 * Not installed, not part of the ABI.
 */
#ifndef VIMO_VIDEO_INTERNAL_H
#define VIMO_VIDEO_INTERNAL_H

#include <stdint.h>

#include <libavutil/pixfmt.h>

#include "vimo/status.h"

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

#endif
