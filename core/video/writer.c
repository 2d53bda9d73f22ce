/*
 * writer.c - RGB8 frames to an MP4 file through libavcodec/libavformat:
 * H.264 (libx264, yuv420p, CRF 18, preset veryfast, keyframe every second),
 * or MPEG-4 part 2 when this FFmpeg build has no libx264.
 *
 * Does not: write audio, other containers, variable frame rates, or odd
 * sizes (yuv420p needs even width and height).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "video_internal.h"
#include "vimo/video.h"

struct vimo_video_writer {
    char *path, *part;      /* final name, and the name written until finish */
    AVFormatContext *oc;
    AVStream *st;
    AVCodecContext *enc;
    AVFrame *frame;         /* yuv420p, reused                              */
    AVPacket *pkt;
    struct SwsContext *sws; /* rgb24 -> yuv420p                             */
    uint8_t *rgb_pad;       /* padded copy of the caller's frame: swscale's
                               SIMD reads up to 16 bytes past a row's end   */
    int width, height;
    int64_t next_pts;       /* frames written, in 1/fps units               */
    int finished;
};

static vimo_status av_fail(const vimo_video_writer *w, int err, const char *what)
{
    return vimo_error(err == AVERROR(ENOMEM) ? VIMO_ERR_NOMEM : VIMO_ERR_IO,
                      "video_writer: %s: %s: %s", w->path, what, vv_averr(err));
}

/* libx264, else mpeg4; VIMO_VIDEO_ENCODER=mpeg4 forces the fallback (tests). */
static const AVCodec *pick_encoder(void)
{
    const char *force = getenv("VIMO_VIDEO_ENCODER");
    const AVCodec *c = NULL;
    if (!force || strcmp(force, "mpeg4") != 0) c = avcodec_find_encoder_by_name("libx264");
    return c ? c : avcodec_find_encoder(AV_CODEC_ID_MPEG4);
}

static vimo_status open_encoder(vimo_video_writer *w, const AVCodec *codec, double fps)
{
    AVRational fr = av_d2q(fps, 100000);
    AVCodecContext *e = w->enc = avcodec_alloc_context3(codec);
    if (!e) return vimo_error(VIMO_ERR_NOMEM, "video_writer: %s: encoder", w->path);
    e->width = w->width;
    e->height = w->height;
    e->framerate = fr;
    e->time_base = av_inv_q(fr);
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->gop_size = (int)fmax(1.0, round(fps)); /* a keyframe a second: cheap seeks */
    e->thread_count = 2;
    /* The frames are converted with BT.601 limited range: say so. */
    e->colorspace = AVCOL_SPC_SMPTE170M;
    e->color_range = AVCOL_RANGE_MPEG;
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (strcmp(codec->name, "libx264") == 0) {
        av_opt_set(e->priv_data, "preset", "veryfast", 0);
        av_opt_set(e->priv_data, "crf", "18", 0);
    } else { /* mpeg4: constant quantiser 3 (high quality) */
        e->flags |= AV_CODEC_FLAG_QSCALE;
        e->global_quality = FF_QP2LAMBDA * 3;
    }
    int ret = avcodec_open2(e, codec, NULL);
    if (ret < 0)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "video_writer: %s: cannot open encoder %s: %s",
                          w->path, codec->name, vv_averr(ret));
    ret = avcodec_parameters_from_context(w->st->codecpar, e);
    if (ret < 0) return av_fail(w, ret, "stream parameters");
    w->st->time_base = e->time_base;
    w->st->avg_frame_rate = fr;
    return VIMO_OK;
}

static vimo_status alloc_frame(vimo_video_writer *w)
{
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->frame || !w->pkt) return vimo_error(VIMO_ERR_NOMEM, "video_writer: frame");
    w->frame->format = AV_PIX_FMT_YUV420P;
    w->frame->width = w->width;
    w->frame->height = w->height;
    int ret = av_frame_get_buffer(w->frame, 0);
    if (ret < 0) return av_fail(w, ret, "frame buffer");
    w->sws = sws_getContext(w->width, w->height, AV_PIX_FMT_RGB24, w->width, w->height,
                            AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!w->sws) return vimo_error(VIMO_ERR_UNSUPPORTED, "video_writer: rgb24 -> yuv420p");
    return VIMO_OK;
}

vimo_status vimo_video_writer_open(vimo_video_writer **out, const char *path, int width,
                                   int height, double fps)
{
    if (!out || !path) return vimo_error(VIMO_ERR_INVALID, "video_writer_open: NULL argument");
    *out = NULL;
    if (width < 16 || height < 16 || width > 8192 || height > 8192 || (width | height) & 1)
        return vimo_error(VIMO_ERR_INVALID, "video_writer: %s: size %dx%d must be even and "
                          "within 16..8192", path, width, height);
    if (!(fps > 0 && fps <= 240))
        return vimo_error(VIMO_ERR_INVALID, "video_writer: %s: fps %g not in (0, 240]", path,
                          fps);
    vv_quiet_ffmpeg_logs();
    const AVCodec *codec = pick_encoder();
    if (!codec)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "video_writer: %s: this FFmpeg has neither "
                          "libx264 nor an MPEG-4 encoder", path);
    vimo_status st = VIMO_OK;
    vimo_video_writer *w = calloc(1, sizeof *w);
    if (!w) return vimo_error(VIMO_ERR_NOMEM, "video_writer: %s", path);
    w->width = width;
    w->height = height;
    w->path = strdup(path);
    size_t n = strlen(path) + 6;
    w->part = malloc(n);
    if (!w->path || !w->part) {
        st = vimo_error(VIMO_ERR_NOMEM, "video_writer: %s", path);
        goto fail;
    }
    snprintf(w->part, n, "%s.part", path);
    int ret = avformat_alloc_output_context2(&w->oc, NULL, "mp4", w->part);
    if (ret < 0 || !w->oc) {
        st = av_fail(w, ret, "mp4 muxer");
        goto fail;
    }
    if (!(w->st = avformat_new_stream(w->oc, NULL))) {
        st = vimo_error(VIMO_ERR_NOMEM, "video_writer: %s: stream", path);
        goto fail;
    }
    VIMO_TRY(open_encoder(w, codec, fps));
    VIMO_TRY(alloc_frame(w));
    ret = avio_open(&w->oc->pb, w->part, AVIO_FLAG_WRITE);
    if (ret < 0) {
        st = av_fail(w, ret, "create");
        goto fail;
    }
    ret = avformat_write_header(w->oc, NULL);
    if (ret < 0) {
        st = av_fail(w, ret, "mp4 header");
        goto fail;
    }
    *out = w;
    return VIMO_OK;
fail:
    vimo_video_writer_free(w);
    return st;
}

/* Sends a frame (NULL = flush) and writes every packet that comes out. */
static vimo_status encode(vimo_video_writer *w, AVFrame *f)
{
    int ret = avcodec_send_frame(w->enc, f);
    if (ret < 0) return av_fail(w, ret, "encode");
    for (;;) {
        ret = avcodec_receive_packet(w->enc, w->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return VIMO_OK;
        if (ret < 0) return av_fail(w, ret, "encode");
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        ret = av_interleaved_write_frame(w->oc, w->pkt); /* takes the packet */
        if (ret < 0) return av_fail(w, ret, "write");
    }
}

vimo_status vimo_video_writer_add_rgb(vimo_video_writer *w, const uint8_t *rgb)
{
    if (!w || !rgb) return vimo_error(VIMO_ERR_INVALID, "video_writer_add_rgb: NULL argument");
    if (w->finished) return vimo_error(VIMO_ERR_STATE, "video_writer: %s: already finished",
                                       w->path);
    int ret = av_frame_make_writable(w->frame); /* the encoder may still hold it */
    if (ret < 0) return av_fail(w, ret, "frame");
    size_t bytes = (size_t)3 * w->width * w->height;
    if (!w->rgb_pad && !(w->rgb_pad = av_mallocz(bytes + 64)))
        return vimo_error(VIMO_ERR_NOMEM, "video_writer: %s: frame buffer", w->path);
    memcpy(w->rgb_pad, rgb, bytes);
    const uint8_t *src[4] = {w->rgb_pad, NULL, NULL, NULL};
    int sstr[4] = {3 * w->width, 0, 0, 0};
    sws_scale(w->sws, src, sstr, 0, w->height, w->frame->data, w->frame->linesize);
    w->frame->pts = w->next_pts++;
    return encode(w, w->frame);
}

vimo_status vimo_video_writer_finish(vimo_video_writer *w)
{
    if (!w) return vimo_error(VIMO_ERR_INVALID, "video_writer_finish: NULL writer");
    if (w->finished) return VIMO_OK;
    vimo_status st = VIMO_OK;
    if (w->next_pts == 0)
        return vimo_error(VIMO_ERR_STATE, "video_writer: %s: no frames were added", w->path);
    if ((st = encode(w, NULL)) != VIMO_OK) return st;
    int ret = av_write_trailer(w->oc);
    if (ret < 0) return av_fail(w, ret, "mp4 index");
    ret = avio_closep(&w->oc->pb);
    if (ret < 0) return av_fail(w, ret, "close");
    if (rename(w->part, w->path) != 0)
        return vimo_error(VIMO_ERR_IO, "video_writer: %s: rename from %s failed", w->path,
                          w->part);
    w->finished = 1;
    return VIMO_OK;
}

void vimo_video_writer_free(vimo_video_writer *w)
{
    if (!w) return;
    if (w->oc) {
        if (w->oc->pb) avio_closep(&w->oc->pb);
        if (!w->finished && w->part) unlink(w->part);
        avformat_free_context(w->oc);
    }
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    av_free(w->rgb_pad);
    free(w->path);
    free(w->part);
    free(w);
}

const char *vimo_video_writer_codec(const vimo_video_writer *w)
{
    return w && w->enc ? w->enc->codec->name : "";
}
