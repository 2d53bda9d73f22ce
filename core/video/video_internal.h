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

/* Monotonic clock in milliseconds. */
double vv_now_ms(void);

/* Last path component, for error messages that name the file briefly. */
const char *vv_basename(const char *path);

/* FFmpeg error code as text (static buffer per thread). */
const char *vv_averr(int err);

/* Size after the short side is resized to `size`: the long side is
 * floor(long * size / short), at least `size` (torchvision Resize(size)). */
void vv_resize_dims(int w, int h, int size, int *rw, int *rh);

/* Converts/resizes an image of any FFmpeg pixel format to RGB24 dw x dh with
 * the bicubic scaler. colorspace/range: the frame's tags (AVColorSpace,
 * AVColorRange), used for YUV sources. *cache is a reusable swscale context
 * (sws_getCachedContext); the caller frees it with sws_freeContext. */
vimo_status vv_scale_to_rgb(struct SwsContext **cache, const uint8_t *const src[4],
                            const int src_stride[4], int w, int h, enum AVPixelFormat fmt,
                            int colorspace, int range, uint8_t *dst, int dw, int dh,
                            int dst_stride);

/* Centre crop size x size out of an RGB24 image rw x rh (both >= size), then
 * CLIP-normalise into out (3, size, size) and/or copy into crop
 * (size, size, 3); either may be NULL. */
void vv_crop_normalise(const uint8_t *rgb, int rw, int rh, int stride, int size, float *out,
                       uint8_t *crop);

#endif
