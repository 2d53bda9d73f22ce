/*
 * preprocess.c - the CLIP image transform: short-side bicubic resize
 * (swscale), centre crop, per-channel normalisation; plus small helpers
 * (clock, error text) shared by the video library.
 *
 * Does not decode (reader.c) and does not do any augmentation (random crops,
 * flips): evaluation-style preprocessing only.
 */
#include "video_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "vimo/video.h"

void vv_quiet_ffmpeg_logs(void)
{
    if (av_log_get_level() == AV_LOG_INFO) av_log_set_level(AV_LOG_FATAL);
}

double vv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

double vv_thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

const char *vv_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

const char *vv_averr(int err)
{
    static _Thread_local char buf[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(err, buf, sizeof buf);
    return buf;
}

void vv_resize_dims(int w, int h, int size, int *rw, int *rh)
{
    /* 64-bit: 16384 * 4096 overflows nothing, but keep the product exact. */
    if (w <= h) {
        *rw = size;
        *rh = (int)((int64_t)h * size / w);
        if (*rh < size) *rh = size;
    } else {
        *rh = size;
        *rw = (int)((int64_t)w * size / h);
        if (*rw < size) *rw = size;
    }
}

int vv_rgb_stride(int w)
{
    /* swscale's x86 yuv2rgb converts (w + 7) & ~7 pixels per row, and
     * silently stops 8 short when the stride cannot hold them. */
    return (3 * ((w + 7) & ~7) + 63) & ~63;
}

static int is_full_range(enum AVPixelFormat fmt, int range)
{
    if (range == AVCOL_RANGE_JPEG) return 1;
    switch (fmt) { /* the deprecated "J" formats are full range by definition */
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_YUVJ422P:
    case AV_PIX_FMT_YUVJ444P:
    case AV_PIX_FMT_YUVJ440P:
    case AV_PIX_FMT_YUVJ411P: return 1;
    default: return 0;
    }
}

vimo_status vv_scale_to_rgb(vv_scaler *sc, const uint8_t *const src[4],
                            const int src_stride[4], int w, int h, enum AVPixelFormat fmt,
                            int colorspace, int range, uint8_t *dst, int dw, int dh,
                            int dst_stride)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    if (!desc) return vimo_error(VIMO_ERR_FORMAT, "video: unknown pixel format %d", (int)fmt);
    sc->sws = sws_getCachedContext(sc->sws, w, h, fmt, dw, dh, AV_PIX_FMT_RGB24, SWS_BICUBIC,
                                   NULL, NULL, NULL);
    if (!sc->sws)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "video: cannot convert %s %dx%d to rgb24 %dx%d",
                          desc->name, w, h, dw, dh);
    int is_yuv = !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3;
    if (is_yuv && (sc->tagged != sc->sws || sc->colorspace != colorspace || sc->range != range)) {
        /* Follow the stream's tags as FFmpeg's scale filter does; untagged
         * streams get swscale's default (BT.601). Re-done only on change:
         * it rebuilds the conversion tables. */
        int cs = colorspace == AVCOL_SPC_UNSPECIFIED || colorspace == AVCOL_SPC_RGB
                     ? SWS_CS_DEFAULT
                     : colorspace;
        const int *coef = sws_getCoefficients(cs);
        sws_setColorspaceDetails(sc->sws, coef, is_full_range(fmt, range), coef, 1, 0, 1 << 16,
                                 1 << 16);
        sc->tagged = sc->sws;
        sc->colorspace = colorspace;
        sc->range = range;
    }
    uint8_t *dsts[4] = {dst, NULL, NULL, NULL};
    int dstr[4] = {dst_stride, 0, 0, 0};
    int got = sws_scale(sc->sws, src, src_stride, 0, h, dsts, dstr);
    if (got != dh)
        return vimo_error(VIMO_ERR_INTERNAL, "video: swscale produced %d of %d rows", got, dh);
    return VIMO_OK;
}

void vv_crop_normalise(const uint8_t *rgb, int rw, int rh, int stride, int size, float *out,
                       uint8_t *crop)
{
    static const float mean[3] = {VIMO_CLIP_MEAN_R, VIMO_CLIP_MEAN_G, VIMO_CLIP_MEAN_B};
    static const float stdv[3] = {VIMO_CLIP_STD_R, VIMO_CLIP_STD_G, VIMO_CLIP_STD_B};
    int x0 = (rw - size) / 2, y0 = (rh - size) / 2;
    /* out = (x / 255 - mean) / std = x * a + b, per channel */
    float a[3], b[3];
    for (int c = 0; c < 3; c++) {
        a[c] = 1.0f / (255.0f * stdv[c]);
        b[c] = -mean[c] / stdv[c];
    }
    size_t plane = (size_t)size * size;
    for (int y = 0; y < size; y++) {
        const uint8_t *row = rgb + (size_t)(y0 + y) * stride + (size_t)x0 * 3;
        if (crop) memcpy(crop + (size_t)y * size * 3, row, (size_t)size * 3);
        if (!out) continue;
        float *r = out + (size_t)y * size, *g = r + plane, *bl = g + plane;
        for (int x = 0; x < size; x++) {
            r[x] = row[3 * x + 0] * a[0] + b[0];
            g[x] = row[3 * x + 1] * a[1] + b[1];
            bl[x] = row[3 * x + 2] * a[2] + b[2];
        }
    }
}

vimo_status vimo_video_preprocess_rgb(const uint8_t *rgb, int width, int height, int stride,
                                      int size, float *out, uint8_t *crop)
{
    if (!rgb || width < 1 || height < 1 || stride < 3 * width || size < 1)
        return vimo_error(VIMO_ERR_INVALID,
                          "video_preprocess: bad image %dx%d (stride %d) or size %d", width,
                          height, stride, size);
    if (width > VIMO_VIDEO_MAX_SIDE || height > VIMO_VIDEO_MAX_SIDE ||
        size > VIMO_VIDEO_MAX_OUT_SIZE)
        return vimo_error(VIMO_ERR_INVALID, "video_preprocess: %dx%d -> %d exceeds the limits",
                          width, height, size);
    vimo_status st = VIMO_OK;
    vv_scaler sc = {0};
    int rw, rh;
    vv_resize_dims(width, height, size, &rw, &rh);
    int tstride = vv_rgb_stride(rw);
    uint8_t *tmp = av_malloc((size_t)tstride * rh + 64);
    if (!tmp) {
        st = vimo_error(VIMO_ERR_NOMEM, "video_preprocess: %dx%d buffer", rw, rh);
        goto fail;
    }
    const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
    int sstr[4] = {stride, 0, 0, 0};
    VIMO_TRY(vv_scale_to_rgb(&sc, src, sstr, width, height, AV_PIX_FMT_RGB24,
                             AVCOL_SPC_UNSPECIFIED, AVCOL_RANGE_JPEG, tmp, rw, rh, tstride));
    vv_crop_normalise(tmp, rw, rh, tstride, size, out, crop);
fail:
    av_free(tmp);
    sws_freeContext(sc.sws);
    return st;
}
