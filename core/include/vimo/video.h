/*
 * vimo/video.h - video files in, model-ready frames out (libvimo_video).
 *
 * Contract
 * --------
 * Reader (FFmpeg 5.1: libavformat/libavcodec/libswscale). Any container and
 * codec the installed FFmpeg can demux and decode opens; the first "best"
 * video stream is used, audio and other streams are ignored.
 *
 *   Time.  Every time in this API is in seconds from the start of the video
 *   stream (its start_time, or the container's when the stream has none), the
 *   same origin `ffmpeg -ss` uses for files that start at 0.
 *
 *   Frame at time t.  "The frame at t" is the first frame in presentation
 *   order whose timestamp (FFmpeg's best-effort timestamp) is >= t, i.e.
 *   what `ffmpeg -ss t -i FILE -frames:v 1` (accurate seek) outputs for MP4
 *   (docs/video.md: where the CLI differs on AVI and MPEG-TS). The last
 *   frame also answers times up to its timestamp + 1/fps. To reach
 *   it the reader seeks to the last keyframe at or before t (from the
 *   container index) when that is ahead of the current decode position, else
 *   decodes forward, then decodes and discards frames before t (a seek that
 *   overshoots is retried 1, 2, 4 ... s earlier, then the file is reopened
 *   and decoded from its first byte; so are inputs that cannot seek). Frames that
 *   cannot be the answer and are not references are skipped in the decoder
 *   (AVDISCARD_NONREF), which never changes the frames that are returned.
 *
 *   Uniform sampling.  N frames at t_i = (i + 0.5) * D / N, i = 0..N-1,
 *   D = duration (the centres of N equal segments of the clip), each taken as
 *   "the frame at t_i". When N is more than about half the number of frames
 *   the same frame can be returned more than once.
 *
 *   Preprocessing (CLIP, Radford et al. 2021, the ViT-L/14 image transform
 *   that MotionLLM/ViMoNet use): resize so the short side is S (long side
 *   floor(long * S / short), like torchvision's Resize(S)) with swscale's
 *   bicubic filter (its kernel widens when downscaling, so it is
 *   antialiased, like PIL bicubic), centre crop S x S (offset floor of half
 *   the excess), RGB in [0,1], then per channel (x - mean) / std with
 *   mean = (0.48145466, 0.4578275, 0.40821073),
 *   std  = (0.26862954, 0.26130258, 0.27577711).
 *   Output float32 (N, 3, S, S), channel order R, G, B, row-major.
 *
 *   Colour.  YUV -> RGB uses the matrix and range the stream is tagged with
 *   (BT.601 limited range when untagged), as FFmpeg's own scaler does.
 *
 *   Metadata (vimo_video_info): duration from the stream, else the
 *   container; fps = the stream's average frame rate, else its base rate
 *   (r_frame_rate); frame count from the container header when it records
 *   one (MP4 sample table, AVI header), else round(duration * fps), marked
 *   estimated; when the duration is unknown too, packets are counted by one
 *   demux pass (no decoding), marked scanned.
 *
 *   Hostile input.  Truncated, corrupt or non-video files, files without a
 *   video stream, absurd sizes (> 16384 pixels a side) fail with a message
 *   that names the file; nothing aborts. Every call is bounded: an FFmpeg
 *   interrupt callback stops I/O after a deadline (opts.timeout_ms, default
 *   30 s per call), a call reads at most 2^20 packets, and gives up after 256
 *   consecutive decode errors.
 *
 *   Threads.  A reader is used by one thread at a time. The decoder uses
 *   opts.threads threads (default 2 = the cores of the reference machine
 *   when opts.workers <= 1, else 1; frame + slice threading: lower latency
 *   for one large clip). A loader running one reader per core should pass
 *   threads = 1 and workers = 1 (less CPU per clip).
 *
 *   GOP-parallel sampling (opts.workers = W > 1).  vimo_video_sample_clip
 *   splits its n sample times into at most W contiguous groups and samples
 *   them at once: group 0 on the calling thread with the reader itself,
 *   each other group on a thread of its own (created and joined inside the
 *   call) with a reader of its own opened on the same path with the same
 *   options, freed before the call returns. Groups start at different
 *   keyframe intervals (container index): all samples after one keyframe
 *   stay in one group, since a second reader would have to decode the same
 *   frames from that keyframe again; the split minimises the largest
 *   group's cost (frames from its keyframes to its samples, plus one per
 *   sample for the preprocessing) with no more groups than that needs. So
 *   a clip with a single keyframe before its last sample uses one group,
 *   i.e. exactly the sequential path. Without an index (MPEG-TS, raw
 *   streams) the samples are split into W equal counts (raw streams, which
 *   cannot seek, then decode from the start in every reader: no gain). The
 *   result (pixels, frames chosen, t_frame) is identical to W = 1; a
 *   failure in any group is returned as its status and message on the
 *   calling thread (the lowest failing group's, the one W = 1 would have
 *   met first).
 *   Thread rule: the call owns its threads (the caller's and up to W - 1
 *   it starts and joins), and each of its W readers decodes with
 *   opts.threads threads: keep W * threads <= the cores, and use W = 1
 *   when the caller already keeps every core busy with a clip of its own.
 *   pthreads, not OpenMP: no pool spinning after the call, and a call from
 *   inside a caller's OpenMP region still gets its threads.
 *
 *   Cost.  Exact sampling decodes every reference frame from the keyframe
 *   before each sample to the sample, so it grows with the keyframe
 *   interval: one keyframe per clip means decoding nearly the whole clip
 *   (figures in docs/video.md).
 *
 * Writer: H.264 (libx264, yuv420p, CRF 18, "veryfast", one keyframe per
 * second) in MP4; when the FFmpeg build has no libx264 it falls back to
 * MPEG-4 part 2, quantiser 3 (vimo_video_writer_codec() says which; the
 * environment variable VIMO_VIDEO_ENCODER=mpeg4 forces the fallback).
 *
 * PNG: RGB8 images written with cairo.
 *
 * Not here: audio, hardware decoding, writing anything but MP4, motion
 * rendering (see render.h).
 */
#ifndef VIMO_VIDEO_H
#define VIMO_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_VIDEO_DEFAULT_FRAMES 8   /* N */
#define VIMO_VIDEO_DEFAULT_SIZE 224   /* S, CLIP ViT-L/14 */
#define VIMO_VIDEO_MAX_SIDE 16384     /* larger frames are refused          */
#define VIMO_VIDEO_MAX_SAMPLES 4096   /* largest N one call accepts         */
#define VIMO_VIDEO_MAX_OUT_SIZE 4096  /* largest S                          */
#define VIMO_VIDEO_MAX_WORKERS 16     /* largest opts.workers               */

/* CLIP normalisation constants, R, G, B. */
#define VIMO_CLIP_MEAN_R 0.48145466f
#define VIMO_CLIP_MEAN_G 0.4578275f
#define VIMO_CLIP_MEAN_B 0.40821073f
#define VIMO_CLIP_STD_R 0.26862954f
#define VIMO_CLIP_STD_G 0.26130258f
#define VIMO_CLIP_STD_B 0.27577711f

typedef struct vimo_video vimo_video; /* opaque reader */

/* Where vimo_video_info.frame_count comes from. */
typedef enum vimo_video_count_src {
    VIMO_VIDEO_COUNT_HEADER = 0,    /* recorded by the container: exact      */
    VIMO_VIDEO_COUNT_ESTIMATED = 1, /* round(duration_s * fps)               */
    VIMO_VIDEO_COUNT_SCANNED = 2    /* counted video packets in a demux pass */
} vimo_video_count_src;

typedef struct vimo_video_info {
    double duration_s;   /* seconds, > 0                                   */
    double fps;          /* frames per second, > 0                         */
    int width, height;   /* pixels of the decoded frames                   */
    int64_t frame_count; /* frames, > 0 (see count_src)                    */
    vimo_video_count_src count_src;
    int has_audio;       /* 1 when the file also has an audio stream       */
    char codec[32];      /* FFmpeg codec name, "h264"                      */
    char container[64];  /* FFmpeg demuxer name, "mov,mp4,m4a,3gp,3g2,mj2" */
} vimo_video_info;

/* Reader options; NULL means defaults. Zero (or negative) fields take
 * their default. */
typedef struct vimo_video_opts {
    int threads;    /* decoder threads per reader; default 2 when workers
                     * <= 1, else 1; 1 = single-threaded                  */
    int timeout_ms; /* per-call deadline for I/O, default 30000         */
    int workers;    /* readers (threads) that vimo_video_sample_clip may
                     * use at once, 1..VIMO_VIDEO_MAX_WORKERS; default
                     * 1 = sequential (see "GOP-parallel sampling")       */
} vimo_video_opts;

/* Counters since open, for benchmarks and tests (never reset). With
 * workers > 1 they include the work of the extra readers of
 * vimo_video_sample_clip, and the times are summed over readers (work
 * time, about CPU time on a core of its own), not the call's wall time. */
typedef struct vimo_video_stats {
    int64_t packets_read;    /* video packets demuxed                     */
    int64_t frames_decoded;  /* frames that left the decoder              */
    int64_t packets_skipped; /* packets decoded with AVDISCARD_NONREF     */
    int64_t seeks;           /* container seeks                           */
    double decode_ms;        /* wall time demuxing + decoding, summed     */
    double convert_ms;       /* wall time in swscale + crop + normalise   */
    int64_t extra_readers;   /* readers opened for GOP-parallel groups
                              * (groups used = extra_readers + 1 for one
                              * sample_clip call); their open time is in
                              * no field above                            */
    double extra_cpu_ms;     /* per GOP-parallel call, the largest thread
                              * CPU time among its extra readers' threads
                              * (open + sample + free), summed over calls */
} vimo_video_stats;

/* ---- reader -------------------------------------------------------------- */

/* Opens `path` and its best video stream, reads the metadata above.
 * Errors: VIMO_ERR_INVALID (NULL args, opts.workers over
 * VIMO_VIDEO_MAX_WORKERS), VIMO_ERR_NOT_FOUND (no such file, or
 * no video stream), VIMO_ERR_IO (unreadable, timeout), VIMO_ERR_FORMAT (not a
 * media file, corrupt or truncated header, unknown duration),
 * VIMO_ERR_UNSUPPORTED (no decoder for the codec), VIMO_ERR_NOMEM.
 * Messages read "video: FILE: what". */
VIMO_API vimo_status vimo_video_open(vimo_video **out, const char *path,
                                     const vimo_video_opts *opts);
/* Closes the file and frees the reader. NULL is a no-op. */
VIMO_API void vimo_video_free(vimo_video *v);

/* Copies the metadata (see the contract above). */
VIMO_API vimo_status vimo_video_get_info(const vimo_video *v, vimo_video_info *info);
VIMO_API vimo_status vimo_video_get_stats(const vimo_video *v, vimo_video_stats *stats);

/* The uniform sampling times t_i = (i + 0.5) * duration_s / n, i < n.
 * t: (n) seconds. Errors: VIMO_ERR_INVALID (n < 1, duration_s <= 0). */
VIMO_API vimo_status vimo_video_sample_times(double duration_s, int n, double *t);

/* The frame at time t_s (see contract) as RGB8 at native resolution.
 * rgb: (height, width, 3) bytes, row-major, from vimo_video_info (a stream
 * whose frames change size midway has them scaled to that size);
 * t_frame (may be NULL): the returned frame's timestamp, seconds.
 * Errors: VIMO_ERR_NOT_FOUND (no frame at or after t_s: past the end, or the
 * file is truncated), VIMO_ERR_FORMAT (undecodable data), VIMO_ERR_IO. */
VIMO_API vimo_status vimo_video_read_rgb(vimo_video *v, double t_s, uint8_t *rgb,
                                         double *t_frame);

/* N frames sampled uniformly (contract), preprocessed for CLIP.
 * out: float32 (n, 3, size, size), or NULL;
 * crops: RGB8 (n, size, size, 3) = the same crops before normalisation
 *        ("what the model sees", for PNG dumps), or NULL;
 * t_frame: (n) timestamps of the frames used, seconds, or NULL.
 * 1 <= n <= VIMO_VIDEO_MAX_SAMPLES, 1 <= size <= VIMO_VIDEO_MAX_OUT_SIZE.
 * With opts.workers = W > 1 up to W readers fill disjoint slices of the
 * three arrays at once (contract: GOP-parallel sampling); the values are
 * those of W = 1. The reader is left positioned where group 0 ended.
 * Errors: as vimo_video_read_rgb, VIMO_ERR_INVALID for bad n/size, and
 * those of vimo_video_open for an extra reader (the message names the
 * file; VIMO_ERR_FORMAT "changed while reading" when the extra reader
 * finds another stream). On error the arrays hold partial results. */
VIMO_API vimo_status vimo_video_sample_clip(vimo_video *v, int n, int size, float *out,
                                            uint8_t *crops, double *t_frame);

/* Open + sample_clip + free in one call (default options). */
VIMO_API vimo_status vimo_video_load_clip(const char *path, int n, int size, float *out);

/* ---- preprocessing of in-memory RGB -------------------------------------- */

/* The CLIP transform (contract) of one RGB8 image (height, width, 3) with
 * row stride `stride` bytes (>= 3 * width). out: float32 (3, size, size) or
 * NULL; crop: RGB8 (size, size, 3) or NULL. Used for rendered frames.
 * Errors: VIMO_ERR_INVALID, VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_video_preprocess_rgb(const uint8_t *rgb, int width, int height,
                                               int stride, int size, float *out,
                                               uint8_t *crop);

/* ---- timing for `vimo bench video` --------------------------------------- */

typedef struct vimo_video_timing {
    double open_ms;   /* median over repeats: vimo_video_open              */
    double sample_ms; /* median: vimo_video_sample_clip (decode + preprocess) */
    double total_ms;  /* median: open + sample + free                      */
    double best_total_ms; /* fastest run of open + sample + free (noisy hosts) */
    double cpu_ms;    /* median process CPU time (all threads) of the same: on
                       * a loaded host, with threads = 1 and workers = 1, the
                       * idle wall time                                    */
    double decode_ms, convert_ms; /* medians of the split of sample_ms,
                                   * summed over readers (stats above)     */
    int64_t frames_decoded;       /* per run, all readers                  */
    int workers_used;             /* groups sampled at once (<= workers)   */
    double critical_cpu_ms;       /* median of the largest thread CPU time
                                   * of a run: the calling thread (open,
                                   * group 0, free) or an extra reader's.
                                   * With decoder threads = 1 (decoding on
                                   * those threads), the wall time when each
                                   * group has an idle core of its own: the
                                   * figure to read on a loaded host       */
} vimo_video_timing;

/* Times `repeats` (1..1000) cold runs of open + sample_clip(n, size) + free
 * on `path` with `opts` (opts.workers > 1: GOP-parallel; cpu_ms then counts
 * every reader's thread, total_ms is the wall time of the whole call).
 * Errors: those of the reader. */
VIMO_API vimo_status vimo_video_time_clip(const char *path, int n, int size, int repeats,
                                          const vimo_video_opts *opts,
                                          vimo_video_timing *timing);

/* ---- writer (MP4) -------------------------------------------------------- */

typedef struct vimo_video_writer vimo_video_writer; /* opaque */

/* Creates an MP4 file at `path` for RGB8 frames of width x height (even,
 * 16..8192) at `fps` (0 < fps <= 240). The file is written to "path.part" and
 * renamed on vimo_video_writer_finish, so a failed write never leaves a
 * half file under `path`.
 * Errors: VIMO_ERR_INVALID, VIMO_ERR_UNSUPPORTED (no H.264 or MPEG-4
 * encoder), VIMO_ERR_IO, VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_video_writer_open(vimo_video_writer **out, const char *path,
                                            int width, int height, double fps);
/* Encodes one frame. rgb: (height, width, 3) bytes, row-major. */
VIMO_API vimo_status vimo_video_writer_add_rgb(vimo_video_writer *w, const uint8_t *rgb);
/* Flushes the encoder, writes the MP4 index and renames the file into place. */
VIMO_API vimo_status vimo_video_writer_finish(vimo_video_writer *w);
/* Frees; without a successful finish the partial file is removed. NULL: no-op. */
VIMO_API void vimo_video_writer_free(vimo_video_writer *w);
/* Encoder in use: "libx264" or "mpeg4". */
VIMO_API const char *vimo_video_writer_codec(const vimo_video_writer *w);

/* ---- PNG ----------------------------------------------------------------- */

/* Writes an RGB8 image (height, width, 3), stride = 3 * width, as PNG with
 * cairo. Errors: VIMO_ERR_INVALID, VIMO_ERR_NOMEM, VIMO_ERR_IO. */
VIMO_API vimo_status vimo_video_write_png(const char *path, const uint8_t *rgb, int width,
                                          int height);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_VIDEO_H */
