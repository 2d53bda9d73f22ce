/*
 * reader.c - the video reader on FFmpeg: open, metadata, "the frame at t",
 * uniform sampling and the CLIP preprocessing of the sampled frames
 * (contract in vimo/video.h).
 *
 * Does not: decode audio, use hardware decoders, cache more than the last
 * returned frame, or guess frames past the end of a truncated file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/time.h>
#include <libswscale/swscale.h>

#include "video_internal.h"
#include "vimo/video.h"

#define MAX_PACKETS_PER_CALL (1 << 20)
#define MAX_DECODE_ERRORS 256
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_THREADS 2
#define NOINDEX_SEEK_GAP_S 10.0 /* without an index, seek only over gaps longer than this */

struct vimo_video {
    char *path;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVStream *st;
    int si;            /* video stream index                                */
    AVPacket *pkt;
    AVFrame *frame;    /* scratch for avcodec_receive_frame                 */
    AVFrame *prev;     /* last frame out of the decoder (for the end case)  */
    AVFrame *cur;      /* last answer                                       */
    int64_t cur_ts;    /* its timestamp, or NOPTS                           */
    int64_t cur_lo, cur_hi; /* cur is the answer for targets in [lo, hi]    */
    int positioned;    /* decoder continues in order from a seek            */
    int input_eof;     /* demuxer hit the end (or a read error) since seek  */
    int read_err;      /* that read error, 0 for a clean end                */
    int discarded;     /* NONREF discard was on for some packet since seek  */
    int64_t last_out;  /* timestamp of the last frame out since seek, or NOPTS */
    int64_t max_pkt_pts; /* largest packet pts read since seek, or NOPTS    */
    int64_t start;     /* stream origin, stream time base                   */
    int64_t frame_dur; /* one frame, stream time base, >= 1                 */
    int64_t deadline_us;
    int timeout_ms;
    int threads;       /* decoder threads, as opened                        */
    int workers;       /* readers sample_clip may use at once (>= 1)        */
    vv_scaler sc;
    uint8_t *rgb;      /* resize scratch                                    */
    size_t rgb_cap;
    vimo_video_info info;
    vimo_video_stats stats;
};

/* ---- small helpers -------------------------------------------------------- */

static int interrupt_cb(void *opaque)
{
    const vimo_video *v = opaque;
    return v->deadline_us && av_gettime_relative() > v->deadline_us;
}

static void arm_deadline(vimo_video *v)
{
    v->deadline_us = av_gettime_relative() + (int64_t)v->timeout_ms * 1000;
}

static int timed_out(const vimo_video *v) { return interrupt_cb((void *)v); }

static vimo_status timeout_error(const vimo_video *v, const char *op)
{
    return vimo_error(VIMO_ERR_IO, "video: %s: %s timed out after %d ms", v->path, op,
                      v->timeout_ms);
}

static double tb_seconds(const vimo_video *v, int64_t ts)
{
    return (double)(ts - v->start) * av_q2d(v->st->time_base);
}

/* Smallest timestamp ts with (ts - start) * tb >= t_s. The 1e-6 tick slack
 * absorbs rounding when t_s was itself computed from a timestamp. */
static int64_t seconds_to_ts(const vimo_video *v, double t_s)
{
    AVRational tb = v->st->time_base;
    double x = t_s * (double)tb.den / (double)tb.num;
    if (x > 9e18) x = 9e18;
    if (x < -9e18) x = -9e18;
    return v->start + (int64_t)ceil(x - 1e-6);
}

static int64_t frame_ts(const vimo_video *v, const AVFrame *f)
{
    if (f->best_effort_timestamp != AV_NOPTS_VALUE) return f->best_effort_timestamp;
    if (f->pts != AV_NOPTS_VALUE) return f->pts;
    return v->last_out == AV_NOPTS_VALUE ? v->start : v->last_out + v->frame_dur;
}

/* ---- open ------------------------------------------------------------------ */

static vimo_status open_error(const char *path, int err, const char *what)
{
    if (err == AVERROR(ENOENT))
        return vimo_error(VIMO_ERR_NOT_FOUND, "video: %s: no such file", path);
    if (err == AVERROR_EXIT)
        return vimo_error(VIMO_ERR_IO, "video: %s: %s timed out", path, what);
    if (err == AVERROR(EACCES) || err == AVERROR(EIO) || err == AVERROR(EISDIR))
        return vimo_error(VIMO_ERR_IO, "video: %s: %s: %s", path, what, vv_averr(err));
    return vimo_error(VIMO_ERR_FORMAT, "video: %s: %s: %s (not a media file FFmpeg can read, "
                      "or corrupt/truncated)", path, what, vv_averr(err));
}

/* The best video stream that is a real video (not a cover picture). */
static int pick_stream(AVFormatContext *fmt, const AVCodec **codec)
{
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, codec, 0);
    if (si >= 0 && !(fmt->streams[si]->disposition & AV_DISPOSITION_ATTACHED_PIC)) return si;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *s = fmt->streams[i];
        if (s->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
            (s->disposition & AV_DISPOSITION_ATTACHED_PIC))
            continue;
        *codec = avcodec_find_decoder(s->codecpar->codec_id);
        return *codec ? (int)i : AVERROR_DECODER_NOT_FOUND;
    }
    return si >= 0 ? AVERROR_STREAM_NOT_FOUND : si;
}

/* True when the container header already says all we need about a video
 * stream (MP4 and AVI do), so avformat_find_stream_info, which decodes the
 * first frames (20-30 ms at 1080p) only to learn the pixel format, can be
 * skipped: no streams appear later, and the video stream has a codec,
 * size, start time, duration and frame rate. */
static int header_is_complete(const AVFormatContext *fmt)
{
    if (fmt->ctx_flags & AVFMTCTX_NOHEADER) return 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *s = fmt->streams[i];
        const AVCodecParameters *p = s->codecpar;
        if (p->codec_type != AVMEDIA_TYPE_VIDEO || (s->disposition & AV_DISPOSITION_ATTACHED_PIC))
            continue;
        AVRational r = s->avg_frame_rate.num > 0 ? s->avg_frame_rate : s->r_frame_rate;
        if (p->codec_id == AV_CODEC_ID_NONE || p->width <= 0 || p->height <= 0 ||
            s->start_time == AV_NOPTS_VALUE || s->duration <= 0 || r.num <= 0 || r.den <= 0)
            return 0;
    }
    return fmt->nb_streams > 0;
}

/* One demux pass counting video packets, for files whose header gives no
 * duration or rate. Leaves the reader unpositioned (the next read seeks). */
static vimo_status scan_packets(vimo_video *v, int64_t *count, int64_t *end_ts)
{
    int64_t n = 0, end = AV_NOPTS_VALUE, reads = 0;
    int ret;
    while ((ret = av_read_frame(v->fmt, v->pkt)) >= 0) {
        if (++reads > MAX_PACKETS_PER_CALL) {
            av_packet_unref(v->pkt);
            return vimo_error(VIMO_ERR_FORMAT, "video: %s: more than %d packets while counting "
                              "frames", v->path, MAX_PACKETS_PER_CALL);
        }
        if (v->pkt->stream_index == v->si) {
            n++;
            int64_t t = v->pkt->pts != AV_NOPTS_VALUE ? v->pkt->pts : v->pkt->dts;
            if (t != AV_NOPTS_VALUE) {
                t += v->pkt->duration > 0 ? v->pkt->duration : 0;
                if (end == AV_NOPTS_VALUE || t > end) end = t;
            }
        }
        av_packet_unref(v->pkt);
    }
    if (ret == AVERROR_EXIT) return timeout_error(v, "counting frames");
    *count = n;
    *end_ts = end;
    v->positioned = 0;
    return VIMO_OK;
}

static vimo_status fill_info(vimo_video *v)
{
    AVStream *st = v->st;
    vimo_video_info *in = &v->info;
    double tb = av_q2d(st->time_base);
    in->width = st->codecpar->width;
    in->height = st->codecpar->height;
    if (in->width <= 0 || in->height <= 0 || in->width > VIMO_VIDEO_MAX_SIDE ||
        in->height > VIMO_VIDEO_MAX_SIDE)
        return vimo_error(VIMO_ERR_FORMAT, "video: %s: frame size %dx%d is missing or over %d",
                          v->path, in->width, in->height, VIMO_VIDEO_MAX_SIDE);
    snprintf(in->codec, sizeof in->codec, "%s", avcodec_get_name(st->codecpar->codec_id));
    snprintf(in->container, sizeof in->container, "%s", v->fmt->iformat->name);
    in->has_audio = av_find_best_stream(v->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0) >= 0;

    if (st->start_time != AV_NOPTS_VALUE) v->start = st->start_time;
    else if (v->fmt->start_time != AV_NOPTS_VALUE)
        v->start = av_rescale_q(v->fmt->start_time, AV_TIME_BASE_Q, st->time_base);

    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) in->duration_s = st->duration * tb;
    else if (v->fmt->duration != AV_NOPTS_VALUE && v->fmt->duration > 0)
        in->duration_s = (double)v->fmt->duration / AV_TIME_BASE;

    AVRational r = st->avg_frame_rate;
    if (r.num <= 0 || r.den <= 0) r = st->r_frame_rate;
    if (r.num > 0 && r.den > 0) in->fps = av_q2d(r);

    if (st->nb_frames > 0) {
        in->frame_count = st->nb_frames;
        in->count_src = VIMO_VIDEO_COUNT_HEADER;
        if (in->fps <= 0 && in->duration_s > 0) in->fps = in->frame_count / in->duration_s;
    } else if (in->duration_s > 0 && in->fps > 0) {
        in->frame_count = llround(in->duration_s * in->fps);
        in->count_src = VIMO_VIDEO_COUNT_ESTIMATED;
    }
    if (in->duration_s <= 0 || in->fps <= 0 || in->frame_count <= 0) {
        vimo_status s;
        int64_t n = 0, end = AV_NOPTS_VALUE;
        if ((s = scan_packets(v, &n, &end)) != VIMO_OK) return s;
        if (n <= 0)
            return vimo_error(VIMO_ERR_FORMAT, "video: %s: the video stream has no packets",
                              v->path);
        in->frame_count = n;
        in->count_src = VIMO_VIDEO_COUNT_SCANNED;
        if (in->duration_s <= 0 && end != AV_NOPTS_VALUE && end > v->start)
            in->duration_s = (end - v->start) * tb;
        if (in->fps <= 0 && in->duration_s > 0) in->fps = n / in->duration_s;
        if (in->duration_s <= 0 && in->fps > 0) in->duration_s = n / in->fps;
    }
    if (!(in->duration_s > 0) || !(in->fps > 0) || !isfinite(in->duration_s) ||
        !isfinite(in->fps))
        return vimo_error(VIMO_ERR_FORMAT, "video: %s: cannot determine duration/frame rate",
                          v->path);
    v->frame_dur = (int64_t)llround(1.0 / (in->fps * tb));
    if (v->frame_dur < 1) v->frame_dur = 1;
    return VIMO_OK;
}

static vimo_status open_decoder(vimo_video *v, const AVCodec *codec, int threads)
{
    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec) return vimo_error(VIMO_ERR_NOMEM, "video: %s: decoder context", v->path);
    int ret = avcodec_parameters_to_context(v->dec, v->st->codecpar);
    if (ret < 0) return open_error(v->path, ret, "decoder parameters");
    v->dec->pkt_timebase = v->st->time_base;
    v->dec->thread_count = threads;
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    ret = avcodec_open2(v->dec, codec, NULL);
    if (ret < 0)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "video: %s: cannot open the %s decoder: %s",
                          v->path, codec->name, vv_averr(ret));
    return VIMO_OK;
}

/* Opens the container and picks the video stream (v->fmt, v->si, v->st).
 * Used again to start over on inputs that cannot seek. */
static vimo_status open_input(vimo_video *v, const AVCodec **codec)
{
    const char *path = v->path;
    if (!(v->fmt = avformat_alloc_context()))
        return vimo_error(VIMO_ERR_NOMEM, "video: %s: format context", path);
    v->fmt->interrupt_callback.callback = interrupt_cb;
    v->fmt->interrupt_callback.opaque = v;
    int ret = avformat_open_input(&v->fmt, path, NULL, NULL); /* frees fmt on failure */
    if (ret < 0) return open_error(path, ret, "open");
    if (!header_is_complete(v->fmt) && (ret = avformat_find_stream_info(v->fmt, NULL)) < 0)
        return open_error(path, ret, "reading stream info");
    v->si = pick_stream(v->fmt, codec);
    if (v->si == AVERROR_DECODER_NOT_FOUND)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "video: %s: no decoder for its video codec",
                          path);
    if (v->si < 0)
        return vimo_error(VIMO_ERR_NOT_FOUND, "video: %s: no video stream (%d streams, "
                          "format %s)", path, (int)v->fmt->nb_streams, v->fmt->iformat->name);
    v->st = v->fmt->streams[v->si];
    for (unsigned i = 0; i < v->fmt->nb_streams; i++) /* demux only what we decode */
        if ((int)i != v->si) v->fmt->streams[i]->discard = AVDISCARD_ALL;
    return VIMO_OK;
}

vimo_status vimo_video_open(vimo_video **out, const char *path, const vimo_video_opts *opts)
{
    if (!out || !path) return vimo_error(VIMO_ERR_INVALID, "video_open: NULL argument");
    *out = NULL;
    vimo_status st = VIMO_OK;
    vimo_video *v = calloc(1, sizeof *v);
    if (!v || !(v->path = strdup(path))) {
        free(v);
        return vimo_error(VIMO_ERR_NOMEM, "video: %s: reader", path);
    }
    v->workers = opts && opts->workers > 0 ? opts->workers : 1;
    if (v->workers > VIMO_VIDEO_MAX_WORKERS) {
        st = vimo_error(VIMO_ERR_INVALID, "video: %s: %d workers (at most %d)", path, v->workers,
                        VIMO_VIDEO_MAX_WORKERS);
        goto fail;
    }
    /* Several workers share the cores: one decoder thread each by default. */
    v->threads = opts && opts->threads > 0 ? opts->threads : v->workers > 1 ? 1 : DEFAULT_THREADS;
    v->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    v->cur_ts = v->last_out = v->max_pkt_pts = AV_NOPTS_VALUE;
    vv_quiet_ffmpeg_logs();

    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    v->prev = av_frame_alloc();
    v->cur = av_frame_alloc();
    if (!v->pkt || !v->frame || !v->prev || !v->cur) {
        st = vimo_error(VIMO_ERR_NOMEM, "video: %s: FFmpeg contexts", path);
        goto fail;
    }
    arm_deadline(v);
    const AVCodec *codec = NULL;
    VIMO_TRY(open_input(v, &codec));
    VIMO_TRY(fill_info(v));
    VIMO_TRY(open_decoder(v, codec, v->threads));
    v->positioned = 0;
    v->deadline_us = 0;
    *out = v;
    return VIMO_OK;
fail:
    vimo_video_free(v);
    return st;
}

void vimo_video_free(vimo_video *v)
{
    if (!v) return;
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt);
    av_packet_free(&v->pkt);
    av_frame_free(&v->frame);
    av_frame_free(&v->prev);
    av_frame_free(&v->cur);
    sws_freeContext(v->sc.sws);
    av_free(v->rgb);
    free(v->path);
    free(v);
}

vimo_status vimo_video_get_info(const vimo_video *v, vimo_video_info *info)
{
    if (!v || !info) return vimo_error(VIMO_ERR_INVALID, "video_get_info: NULL argument");
    *info = v->info;
    return VIMO_OK;
}

vimo_status vimo_video_get_stats(const vimo_video *v, vimo_video_stats *stats)
{
    if (!v || !stats) return vimo_error(VIMO_ERR_INVALID, "video_get_stats: NULL argument");
    *stats = v->stats;
    return VIMO_OK;
}

vimo_status vimo_video_sample_times(double duration_s, int n, double *t)
{
    if (!t || n < 1 || !(duration_s > 0) || !isfinite(duration_s))
        return vimo_error(VIMO_ERR_INVALID, "video_sample_times: n=%d duration=%g", n,
                          duration_s);
    for (int i = 0; i < n; i++) t[i] = (i + 0.5) * duration_s / n;
    return VIMO_OK;
}

/* ---- positioning and decoding ---------------------------------------------- */

/* Inputs that cannot seek at all (raw H.264 streams) are opened again and
 * decoded from the start. */
static vimo_status reopen(vimo_video *v)
{
    int si = v->si;
    const AVCodec *codec = NULL;
    avformat_close_input(&v->fmt);
    vimo_status st = open_input(v, &codec);
    if (st == VIMO_OK && v->si != si)
        st = vimo_error(VIMO_ERR_FORMAT, "video: %s: changed while reading", v->path);
    if (st != VIMO_OK) v->si = -1; /* the reader is unusable: every later call fails */
    return st;
}

/* Seeks so that decoding continues from a keyframe at or before ts.
 * ts = INT64_MIN starts over from the first byte (reopening the input),
 * which is the only sure way on inputs that cannot seek, or whose seeks
 * land after their first keyframe (MPEG-TS searches by dts). */
static vimo_status seek_to(vimo_video *v, int64_t ts)
{
    if (v->si < 0 || !v->fmt)
        return vimo_error(VIMO_ERR_STATE, "video: %s: reader failed earlier", v->path);
    int ret = ts == INT64_MIN ? -1 : av_seek_frame(v->fmt, v->si, ts, AVSEEK_FLAG_BACKWARD);
    if (ret == AVERROR_EXIT) return timeout_error(v, "seek");
    if (ret < 0) {
        vimo_status st = reopen(v);
        if (st != VIMO_OK) return st;
    }
    avcodec_flush_buffers(v->dec);
    v->stats.seeks++;
    v->positioned = 1;
    v->input_eof = v->read_err = v->discarded = 0;
    v->last_out = v->max_pkt_pts = AV_NOPTS_VALUE;
    av_frame_unref(v->prev);
    return VIMO_OK;
}

/* Seek, or keep decoding forward? Forward when the keyframe before the
 * target is not ahead of where the decoder already is. */
static int should_seek(vimo_video *v, int64_t target)
{
    if (!v->positioned || v->input_eof) return 1;
    if (v->last_out == AV_NOPTS_VALUE) return 0; /* just seeked: frames are coming */
    if (target <= v->last_out) return 1;         /* behind us                      */
    const AVIndexEntry *kf =
        avformat_index_get_entry_from_timestamp(v->st, target, AVSEEK_FLAG_BACKWARD);
    if (kf) return kf->timestamp > v->last_out;
    return tb_seconds(v, target) - tb_seconds(v, v->last_out) > NOINDEX_SEEK_GAP_S;
}

/* Reads the next packet of the video stream into v->pkt. Returns 1 on a
 * packet, 0 at the end of input (or a read error, kept in read_err). */
static vimo_status next_packet(vimo_video *v, int64_t *reads, int *got)
{
    for (;;) {
        if (++*reads > MAX_PACKETS_PER_CALL)
            return vimo_error(VIMO_ERR_FORMAT, "video: %s: more than %d packets without "
                              "reaching the frame", v->path, MAX_PACKETS_PER_CALL);
        int ret = av_read_frame(v->fmt, v->pkt);
        if (ret == AVERROR_EXIT) return timeout_error(v, "reading");
        if (ret < 0) {
            v->input_eof = 1;
            v->read_err = ret == AVERROR_EOF ? 0 : ret;
            *got = 0;
            return VIMO_OK;
        }
        if (v->pkt->stream_index == v->si) {
            v->stats.packets_read++;
            *got = 1;
            return VIMO_OK;
        }
        av_packet_unref(v->pkt);
    }
}

/* Feeds one packet (or the end-of-stream flush) to the decoder. Frames
 * that cannot be the answer (pts < target) are decoded only if other frames
 * reference them. */
static vimo_status feed(vimo_video *v, int64_t target, int64_t *reads, int *errors)
{
    int got = 0, ret;
    vimo_status st = next_packet(v, reads, &got);
    if (st != VIMO_OK) return st;
    if (!got) {
        /* With frame threads an earlier packet's error can surface here;
         * draining goes on, and the caller reports what is missing. */
        ret = avcodec_send_packet(v->dec, NULL);
        if (ret < 0 && ret != AVERROR_EOF && ++*errors > MAX_DECODE_ERRORS)
            return vimo_error(VIMO_ERR_FORMAT, "video: %s: decoder flush: %s", v->path,
                              vv_averr(ret));
        return VIMO_OK;
    }
    int64_t pts = v->pkt->pts;
    int skip = pts != AV_NOPTS_VALUE && pts < target;
    if (pts != AV_NOPTS_VALUE && (v->max_pkt_pts == AV_NOPTS_VALUE || pts > v->max_pkt_pts))
        v->max_pkt_pts = pts;
    v->dec->skip_frame = skip ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
    v->discarded |= skip;
    v->stats.packets_skipped += skip;
    ret = avcodec_send_packet(v->dec, v->pkt);
    av_packet_unref(v->pkt);
    if (ret < 0 && ret != AVERROR(EAGAIN)) { /* corrupt packet: skip it, bounded */
        if (++*errors > MAX_DECODE_ERRORS)
            return vimo_error(VIMO_ERR_FORMAT, "video: %s: %d decode errors, last: %s", v->path,
                              *errors - 1, vv_averr(ret));
    }
    return VIMO_OK;
}

/* No frame at or after target: the end of the stream was reached. */
static vimo_status past_end(vimo_video *v, int64_t target)
{
    v->positioned = 0;
    const char *why = v->read_err ? vv_averr(v->read_err) : "end of stream";
    if (v->last_out == AV_NOPTS_VALUE)
        return vimo_error(VIMO_ERR_NOT_FOUND, "video: %s: no decodable frame at or after "
                          "%.3f s (%s; corrupt or truncated?)", v->path,
                          tb_seconds(v, target), why);
    return vimo_error(VIMO_ERR_NOT_FOUND, "video: %s: no frame at or after %.3f s: frames "
                      "end at %.3f s (%s; truncated?)", v->path, tb_seconds(v, target),
                      tb_seconds(v, v->last_out), why);
}

/* Leaves in v->cur the first frame with timestamp >= target (or the last
 * frame when target falls inside its display interval). */
static vimo_status decode_to(vimo_video *v, int64_t target, int retry_end)
{
    if (v->cur_ts != AV_NOPTS_VALUE && target >= v->cur_lo && target <= v->cur_hi)
        return VIMO_OK;
    vimo_status st = VIMO_OK;
    int64_t seek_ts = target, reads = 0, back = 0;
    int errors = 0, first_check = 0;
    if (should_seek(v, target)) {
        VIMO_TRY(seek_to(v, seek_ts));
        first_check = 1;
    }
    for (;;) {
        if (timed_out(v)) return timeout_error(v, "decoding");
        int ret = avcodec_receive_frame(v->dec, v->frame);
        if (ret == 0) {
            int64_t ts = frame_ts(v, v->frame);
            v->stats.frames_decoded++;
            if (first_check && ts > target) {
                /* The seek landed after the target: back off 1, 2, 4 ... s,
                 * and finally start over from the first byte. */
                av_frame_unref(v->frame);
                back = back ? 2 * back : av_rescale_q(1, (AVRational){1, 1}, v->st->time_base);
                seek_ts = seek_ts == INT64_MIN || target - back <= v->start ? INT64_MIN
                                                                            : target - back;
                first_check = seek_ts != INT64_MIN;
                VIMO_TRY(seek_to(v, seek_ts));
                continue;
            }
            first_check = 0;
            v->last_out = ts;
            if (ts >= target) {
                av_frame_unref(v->cur);
                av_frame_move_ref(v->cur, v->frame);
                v->cur_ts = v->cur_hi = ts;
                v->cur_lo = target;
                return VIMO_OK;
            }
            av_frame_unref(v->prev);
            av_frame_move_ref(v->prev, v->frame);
            continue;
        }
        if (ret == AVERROR_EOF) break;
        if (ret != AVERROR(EAGAIN)) {
            if (++errors > MAX_DECODE_ERRORS)
                return vimo_error(VIMO_ERR_FORMAT, "video: %s: %d decode errors, last: %s",
                                  v->path, errors - 1, vv_averr(ret));
            continue;
        }
        if (v->input_eof) break; /* flush was sent: EAGAIN now means nothing more */
        VIMO_TRY(feed(v, target, &reads, &errors));
    }
    /* End of stream. The last frame is shown until its time + 1/fps. */
    if (v->last_out != AV_NOPTS_VALUE) {
        v->positioned = 0;
        /* A skipped non-reference frame later than every decoded one? */
        int skipped_later = v->discarded && v->max_pkt_pts != AV_NOPTS_VALUE &&
                            v->max_pkt_pts > v->last_out;
        int64_t last = skipped_later ? v->max_pkt_pts : v->last_out;
        if (target < last + v->frame_dur) {
            if (skipped_later) { /* decode it, discarding nothing at or after it */
                if (!retry_end) return past_end(v, target);
                VIMO_TRY(decode_to(v, last, 0));
            } else if (v->cur_ts != v->last_out) { /* else cur is that last frame */
                if (!v->prev->buf[0]) return past_end(v, target);
                av_frame_unref(v->cur);
                av_frame_move_ref(v->cur, v->prev);
                v->cur_ts = v->cur_lo = v->last_out;
            }
            if (v->cur_ts == last) v->cur_hi = last + v->frame_dur - 1;
            if (target >= v->cur_lo && target <= v->cur_hi) return VIMO_OK;
        }
    }
    return past_end(v, target);
fail:
    v->positioned = 0;
    return st;
}

/* ---- conversion ------------------------------------------------------------ */

/* Converts v->cur to RGB24 dw x dh into v->rgb (stride vv_rgb_stride(dw)). */
static vimo_status reserve_rgb(vimo_video *v, size_t n);
static vimo_status cur_to_rgb(vimo_video *v, int dw, int dh)
{
    const AVFrame *f = v->cur;
    if (f->width <= 0 || f->height <= 0 || f->width > VIMO_VIDEO_MAX_SIDE ||
        f->height > VIMO_VIDEO_MAX_SIDE)
        return vimo_error(VIMO_ERR_FORMAT, "video: %s: frame at %.3f s is %dx%d", v->path,
                          tb_seconds(v, v->cur_ts), f->width, f->height);
    vimo_status st = reserve_rgb(v, (size_t)vv_rgb_stride(dw) * dh + 64);
    if (st != VIMO_OK) return st;
    return vv_scale_to_rgb(&v->sc, (const uint8_t *const *)f->data, f->linesize, f->width,
                           f->height, f->format, f->colorspace, f->color_range, v->rgb, dw, dh,
                           vv_rgb_stride(dw));
}

static vimo_status reserve_rgb(vimo_video *v, size_t n)
{
    if (n <= v->rgb_cap) return VIMO_OK;
    av_free(v->rgb);
    v->rgb_cap = 0;
    if (!(v->rgb = av_malloc(n)))
        return vimo_error(VIMO_ERR_NOMEM, "video: %s: %zu byte frame buffer", v->path, n);
    v->rgb_cap = n;
    return VIMO_OK;
}

static vimo_status frame_at(vimo_video *v, double t_s, double *t_frame)
{
    if (!isfinite(t_s) || t_s < 0)
        return vimo_error(VIMO_ERR_INVALID, "video: %s: bad time %g s", v->path, t_s);
    double t0 = vv_now_ms();
    vimo_status st = decode_to(v, seconds_to_ts(v, t_s), 1);
    v->stats.decode_ms += vv_now_ms() - t0;
    if (st == VIMO_OK && t_frame) *t_frame = tb_seconds(v, v->cur_ts);
    return st;
}

vimo_status vimo_video_read_rgb(vimo_video *v, double t_s, uint8_t *rgb, double *t_frame)
{
    if (!v || !rgb) return vimo_error(VIMO_ERR_INVALID, "video_read_rgb: NULL argument");
    arm_deadline(v);
    vimo_status st = frame_at(v, t_s, t_frame);
    if (st == VIMO_OK) {
        double t0 = vv_now_ms();
        int w = v->info.width, h = v->info.height, stride = vv_rgb_stride(w);
        st = cur_to_rgb(v, w, h);
        for (int y = 0; st == VIMO_OK && y < h; y++)
            memcpy(rgb + (size_t)y * w * 3, v->rgb + (size_t)y * stride, (size_t)w * 3);
        v->stats.convert_ms += vv_now_ms() - t0;
    }
    v->deadline_us = 0;
    return st;
}

/* Samples t[lo..hi) in order; sample i goes to slice i of out, crops and
 * t_frame (each may be NULL). One deadline for the whole range. */
vimo_status vv_sample_range(vimo_video *v, const double *t, int lo, int hi, int size, float *out,
                            uint8_t *crops, double *t_frame)
{
    vimo_status st = VIMO_OK;
    arm_deadline(v);
    size_t plane = (size_t)3 * size * size;
    for (int i = lo; i < hi; i++) {
        VIMO_TRY(frame_at(v, t[i], t_frame ? &t_frame[i] : NULL));
        double t0 = vv_now_ms();
        int rw, rh; /* per frame: a stream may change size midway */
        vv_resize_dims(v->cur->width, v->cur->height, size, &rw, &rh);
        VIMO_TRY(cur_to_rgb(v, rw, rh));
        vv_crop_normalise(v->rgb, rw, rh, vv_rgb_stride(rw), size, out ? out + i * plane : NULL,
                          crops ? crops + i * plane : NULL);
        v->stats.convert_ms += vv_now_ms() - t0;
    }
fail:
    v->deadline_us = 0;
    return st;
}

vimo_status vimo_video_sample_clip(vimo_video *v, int n, int size, float *out, uint8_t *crops,
                                   double *t_frame)
{
    if (!v) return vimo_error(VIMO_ERR_INVALID, "video_sample_clip: NULL reader");
    if (n < 1 || n > VIMO_VIDEO_MAX_SAMPLES || size < 1 || size > VIMO_VIDEO_MAX_OUT_SIZE)
        return vimo_error(VIMO_ERR_INVALID, "video: %s: n=%d size=%d out of range (1..%d, 1..%d)",
                          v->path, n, size, VIMO_VIDEO_MAX_SAMPLES, VIMO_VIDEO_MAX_OUT_SIZE);
    vimo_status st = VIMO_OK;
    double *t = malloc(sizeof *t * (size_t)n);
    if (!t) return vimo_error(VIMO_ERR_NOMEM, "video: %s: %d times", v->path, n);
    VIMO_TRY(vimo_video_sample_times(v->info.duration_s, n, t));
    if (v->workers > 1 && n > 1) st = vv_sample_groups(v, t, n, size, out, crops, t_frame);
    else st = vv_sample_range(v, t, 0, n, size, out, crops, t_frame);
fail:
    free(t);
    return st;
}

/* ---- what parallel.c needs of a reader --------------------------------------- */

int vv_workers(const vimo_video *v) { return v->workers; }

const char *vv_path(const vimo_video *v) { return v->path; }

int vv_keyframe_span(const vimo_video *v, double t_s, double *kf_s, double *frame_s)
{
    if (v->si < 0 || !v->st || avformat_index_get_entries_count(v->st) <= 0) return 0;
    /* The same lookup should_seek uses, so groups split where W = 1 seeks. */
    const AVIndexEntry *kf = avformat_index_get_entry_from_timestamp(
        v->st, seconds_to_ts(v, t_s), AVSEEK_FLAG_BACKWARD);
    *kf_s = kf ? tb_seconds(v, kf->timestamp) : 0.0; /* before the first entry: the start */
    *frame_s = tb_seconds(v, v->start + v->frame_dur);
    return 1;
}

vimo_status vv_open_like(vimo_video **out, const vimo_video *v)
{
    vimo_video_opts o = {.threads = v->threads, .timeout_ms = v->timeout_ms, .workers = 1};
    vimo_status st = vimo_video_open(out, v->path, &o);
    if (st != VIMO_OK) return st;
    const vimo_video_info *a = &v->info, *b = &(*out)->info;
    if (a->width != b->width || a->height != b->height || a->duration_s != b->duration_s ||
        a->frame_count != b->frame_count || strcmp(a->codec, b->codec) != 0) {
        vimo_video_free(*out);
        *out = NULL;
        return vimo_error(VIMO_ERR_FORMAT, "video: %s: changed while reading (a second reader "
                          "sees another stream)", v->path);
    }
    return VIMO_OK;
}

void vv_add_stats(vimo_video *v, const vimo_video_stats *s)
{
    v->stats.packets_read += s->packets_read;
    v->stats.frames_decoded += s->frames_decoded;
    v->stats.packets_skipped += s->packets_skipped;
    v->stats.seeks += s->seeks;
    v->stats.decode_ms += s->decode_ms;
    v->stats.convert_ms += s->convert_ms;
    v->stats.extra_readers++;
}

void vv_add_extra_cpu(vimo_video *v, double ms) { v->stats.extra_cpu_ms += ms; }

vimo_status vimo_video_load_clip(const char *path, int n, int size, float *out)
{
    vimo_video *v = NULL;
    vimo_status st = VIMO_OK;
    VIMO_TRY(vimo_video_open(&v, path, NULL));
    VIMO_TRY(vimo_video_sample_clip(v, n, size, out, NULL, NULL));
fail:
    vimo_video_free(v);
    return st;
}
