/*
 * cuframes input: decoded frames (or encoded packets) that another process
 * publishes with libcuframes, read zero-copy from its shared slots.
 *
 * This file is part of FFmpeg.
 *
 * FFmpeg is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * FFmpeg is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
 * Lesser General Public License for more details.
 *
 * You should have received a copy of the GNU Lesser General Public
 * License along with FFmpeg; if not, write to the Free Software
 * Foundation, Inc., 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA
 */

/*
 * Frames leave as AV_CODEC_ID_WRAPPED_AVFRAME packets, as kmsgrab's do. On the
 * cuda backend they are AV_PIX_FMT_CUDA frames whose data[] point into the
 * producer's slot; on the host backend system-memory frames pointing into the
 * shared mapping. Either way the slot stays leased until FFmpeg unrefs the
 * frame (the av_buffer_create free callback releases it). The producer lets one
 * subscriber hold at most max_held frames, and FFmpeg may buffer more (probing,
 * filters, encoders' queues): one lease is kept for copying, so frames beyond
 * the others are copied into FFmpeg-owned buffers instead of stalling.
 */

#include <cuframes/cuframes.h>

#include "config.h"
#include "libavutil/avstring.h"
#include "libavutil/hwcontext.h"
#include "libavutil/imgutils.h"
#include "libavutil/internal.h"
#include "libavutil/mathematics.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/time.h"
#include "libavformat/avformat.h"
#include "libavformat/avio_internal.h"
#include "libavformat/internal.h"
#include "libavformat/url.h"
#include "libavformat/version.h"
#if LIBAVFORMAT_VERSION_MAJOR >= 61
#include "libavformat/demux.h"
#endif
#if CONFIG_CUDA
#include "libavutil/hwcontext_cuda_internal.h"
#endif

#define PREFIX "cuframes://"
#define POLL_MS 100 /* longest wait between checks of the interrupt callback */

typedef struct CuframesContext {
    const AVClass *class;
    char *dir;
    int delivery;
    int64_t timeout_us; /* < 0: forever */
    int reconnect;
    int copy;
    int packets;

    char key[CUFRAMES_MAX_KEY + 1];
    cuframes_subscriber *sub;
    cuframes_packet_subscriber *psub;
    cuframes_subscriber_info info;
    cuframes_stream_facts facts;
    enum AVPixelFormat sw_format;
    AVBufferRef *device_ref;
    AVBufferRef *frames_ref;
    AVPacket *first; /* the packet read_header took to learn the codec */
    cuframes_codec codec;
    int wallclock;   /* no time base from the producer: microseconds since the first frame */
    uint64_t first_ns;
    int64_t pts_offset, last_pts, step; /* pts continuity across producer restarts */
    uint64_t zero_copy, copied, missed;
} CuframesContext;

static const struct {
    cuframes_format cf;
    enum AVPixelFormat av;
} formats[] = {
    { CUFRAMES_FORMAT_NV12, AV_PIX_FMT_NV12 },   { CUFRAMES_FORMAT_P010, AV_PIX_FMT_P010LE },
    { CUFRAMES_FORMAT_I420, AV_PIX_FMT_YUV420P }, { CUFRAMES_FORMAT_RGB24, AV_PIX_FMT_RGB24 },
    { CUFRAMES_FORMAT_BGR24, AV_PIX_FMT_BGR24 },  { CUFRAMES_FORMAT_RGBA, AV_PIX_FMT_RGBA },
    { CUFRAMES_FORMAT_BGRA, AV_PIX_FMT_BGRA },    { CUFRAMES_FORMAT_GRAY8, AV_PIX_FMT_GRAY8 },
};

/* A failed cuframes call as an AVERROR, logged with the key and the library's message. */
static int fail(AVFormatContext *avctx, cuframes_status status, const char *call)
{
    CuframesContext *ctx = avctx->priv_data;
    switch (status) {
    case CUFRAMES_ERR_DISCONNECTED:
        av_log(avctx, AV_LOG_VERBOSE, PREFIX "%s: the producer closed the stream\n", ctx->key);
        return AVERROR_EOF;
    case CUFRAMES_ERR_TIMEOUT:
        av_log(avctx, AV_LOG_ERROR, PREFIX "%s: nothing within the timeout of %.3f s (option timeout)\n",
               ctx->key, ctx->timeout_us / 1e6);
        return AVERROR(ETIMEDOUT);
    default:
        av_log(avctx, AV_LOG_ERROR, PREFIX "%s: %s failed: %s: %s\n", ctx->key, call,
               cuframes_status_name(status), cuframes_last_error());
        switch (status) {
        case CUFRAMES_ERR_NOT_FOUND:
            return AVERROR(ENOENT);
        case CUFRAMES_ERR_PERMISSION:
            return AVERROR(EACCES);
        case CUFRAMES_ERR_PRODUCER_DIED:
            return AVERROR(EPIPE);
        case CUFRAMES_ERR_INVALID_ARGUMENT:
            return AVERROR(EINVAL);
        default:
            return AVERROR_EXTERNAL;
        }
    }
}

static int32_t timeout_ms(const CuframesContext *ctx)
{
    return ctx->timeout_us < 0 ? -1 : (int32_t)FFMIN(ctx->timeout_us / 1000, INT32_MAX);
}

/* Calls next(poll ms) until it gives something other than a timeout, the whole
 * timeout has passed, or the user interrupts (q, Ctrl-C): a blocking wait of its
 * own would leave ffmpeg deaf until the producer's next frame. */
static cuframes_status wait_next(AVFormatContext *avctx, void *next_arg, int *interrupted,
                                 cuframes_status (*next)(void *arg, int32_t ms))
{
    CuframesContext *ctx = avctx->priv_data;
    const int64_t deadline = ctx->timeout_us < 0 ? INT64_MAX : av_gettime_relative() + ctx->timeout_us;
    for (;;) {
        const int64_t left_ms = (deadline - av_gettime_relative()) / 1000;
        const cuframes_status status = next(next_arg, (int32_t)av_clip64(left_ms, 0, POLL_MS));
        if (status != CUFRAMES_ERR_TIMEOUT || left_ms <= 0)
            return status;
        if (ff_check_interrupt(&avctx->interrupt_callback)) {
            *interrupted = 1;
            return status;
        }
    }
}

/* Stream pts for a producer's pts: wall-clock microseconds without a time base, and
 * shifted after a producer restart so that they keep increasing. */
static int64_t stream_pts(CuframesContext *ctx, int64_t pts, uint64_t timestamp_ns, int reconnected)
{
    if (ctx->wallclock) {
        if (!ctx->first_ns)
            ctx->first_ns = timestamp_ns;
        pts = (int64_t)(timestamp_ns - ctx->first_ns) / 1000;
    }
    if (reconnected && ctx->last_pts != AV_NOPTS_VALUE)
        ctx->pts_offset = ctx->last_pts + ctx->step - pts;
    pts += ctx->pts_offset;
    if (ctx->last_pts != AV_NOPTS_VALUE && pts <= ctx->last_pts)
        pts = ctx->last_pts + 1; /* a new producer's clock behind the old one */
    ctx->last_pts = pts;
    return pts;
}

static void set_timing(AVFormatContext *avctx, AVStream *st)
{
    CuframesContext *ctx = avctx->priv_data;
    const cuframes_stream_facts *f = &ctx->facts;
    AVCodecParameters *par = st->codecpar;

    ctx->wallclock = f->time_base.num <= 0;
    if (ctx->wallclock)
        avpriv_set_pts_info(st, 64, 1, 1000000);
    else
        avpriv_set_pts_info(st, 64, f->time_base.num, f->time_base.den);
    if (f->frame_rate.num > 0) {
        st->avg_frame_rate = st->r_frame_rate = (AVRational){ f->frame_rate.num, f->frame_rate.den };
        ctx->step = FFMAX(1, av_rescale_q(1, av_inv_q(st->avg_frame_rate), st->time_base));
    } else {
        ctx->step = 1;
    }
    if (f->sample_aspect_ratio.num > 0)
        st->sample_aspect_ratio = par->sample_aspect_ratio =
            (AVRational){ f->sample_aspect_ratio.num, f->sample_aspect_ratio.den };
    par->color_range = f->color_range;
    par->color_space = f->color_matrix;
    par->color_primaries = f->color_primaries;
    par->color_trc = f->color_transfer;
    ctx->last_pts = AV_NOPTS_VALUE;
}

#if CONFIG_CUDA
/* The device context wraps the primary context that libcuframes imported the slots in, so the
 * frames' pointers and their context are one. av_hwdevice_ctx_create() with primary_ctx=1 cannot
 * be used: it wants the primary context's flags to be CU_CTX_SCHED_BLOCKING_SYNC and refuses
 * ("incompatible flags") once libcuframes has made it active with the default flags. This
 * module holds its own reference on the primary context, given back by the device's free(). */
typedef struct PrimaryContext {
    CudaFunctions *cu;
    CUdevice device;
    int retained;
} PrimaryContext;

static void release_primary_context(AVHWDeviceContext *device)
{
    PrimaryContext *primary = device->user_opaque;
    CUresult res;

    if (!primary)
        return;
    if (primary->retained && (res = primary->cu->cuDevicePrimaryCtxRelease(primary->device)) != CUDA_SUCCESS)
        av_log(device, AV_LOG_ERROR, PREFIX "releasing the primary CUDA context failed (CUresult %d)\n", res);
    cuda_free_functions(&primary->cu);
    av_freep(&device->user_opaque);
}

static int wrap_primary_context(AVFormatContext *avctx)
{
    CuframesContext *ctx = avctx->priv_data;
    AVHWDeviceContext *device;
    AVCUDADeviceContext *hwctx;
    PrimaryContext *primary;
    CUresult res;
    const char *what;
    int ret;

    if (!(ctx->device_ref = av_hwdevice_ctx_alloc(AV_HWDEVICE_TYPE_CUDA)))
        return AVERROR(ENOMEM);
    device = (AVHWDeviceContext *)ctx->device_ref->data;
    hwctx = device->hwctx;
    if (!(primary = av_mallocz(sizeof(*primary))))
        return AVERROR(ENOMEM);
    device->user_opaque = primary;
    device->free = release_primary_context;
    if ((ret = cuda_load_functions(&primary->cu, avctx)) < 0) {
        av_log(avctx, AV_LOG_ERROR, PREFIX "%s: cannot load libcuda: %s\n", ctx->key, av_err2str(ret));
        return ret;
    }
    what = "cuInit";
    if ((res = primary->cu->cuInit(0)) != CUDA_SUCCESS)
        goto fail;
    what = "cuDeviceGet";
    if ((res = primary->cu->cuDeviceGet(&primary->device, (int)ctx->info.device)) != CUDA_SUCCESS)
        goto fail;
    what = "cuDevicePrimaryCtxRetain";
    if ((res = primary->cu->cuDevicePrimaryCtxRetain(&hwctx->cuda_ctx, primary->device)) != CUDA_SUCCESS)
        goto fail;
    primary->retained = 1;
    if ((ret = av_hwdevice_ctx_init(ctx->device_ref)) < 0) {
        av_log(avctx, AV_LOG_ERROR, PREFIX "%s: CUDA device %u: %s\n", ctx->key, ctx->info.device,
               av_err2str(ret));
        return ret;
    }
    /* hwcontext_cuda asks this for the frames' alignment; its own create() would have set it. */
    hwctx->internal->cuda_device = primary->device;
    return 0;
fail:
    av_log(avctx, AV_LOG_ERROR, PREFIX "%s: cannot open CUDA device %u: %s failed (CUresult %d)\n", ctx->key,
           ctx->info.device, what, res);
    return AVERROR_EXTERNAL;
}
#endif

static int setup_cuda(AVFormatContext *avctx)
{
#if CONFIG_CUDA
    CuframesContext *ctx = avctx->priv_data;
    AVHWFramesContext *frames;
    int ret;

    if ((ret = wrap_primary_context(avctx)) < 0)
        return ret;
    ctx->frames_ref = av_hwframe_ctx_alloc(ctx->device_ref);
    if (!ctx->frames_ref)
        return AVERROR(ENOMEM);
    frames = (AVHWFramesContext *)ctx->frames_ref->data;
    frames->format = AV_PIX_FMT_CUDA;
    frames->sw_format = ctx->sw_format;
    frames->width = ctx->info.width;
    frames->height = ctx->info.height;
    ret = av_hwframe_ctx_init(ctx->frames_ref);
    if (ret < 0)
        av_log(avctx, AV_LOG_ERROR, PREFIX "%s: CUDA frames of %s: %s (publish nv12 or p010)\n", ctx->key,
               av_get_pix_fmt_name(ctx->sw_format), av_err2str(ret));
    return ret;
#else
    CuframesContext *ctx = avctx->priv_data;
    av_log(avctx, AV_LOG_ERROR,
           PREFIX "%s: the producer publishes CUDA frames and this FFmpeg was built without CUDA "
                  "(configure --enable-ffnvcodec, or see scripts/build-ffmpeg.sh)\n",
           ctx->key);
    return AVERROR(ENOSYS);
#endif
}

/* The URL's query (cuframes://KEY?dir=...&packets=1) sets the options by name. */
static int parse_url(AVFormatContext *avctx)
{
    CuframesContext *ctx = avctx->priv_data;
    const char *name = avctx->url;
    char *query, *pair, *save = NULL;
    size_t len;
    int ret = 0;

    av_strstart(name, PREFIX, &name);
    len = strcspn(name, "?");
    if (len == 0 || len > CUFRAMES_MAX_KEY) {
        av_log(avctx, AV_LOG_ERROR, "'%s': expected " PREFIX "KEY[?option=value&...], KEY of 1..%d characters\n",
               avctx->url, CUFRAMES_MAX_KEY);
        return AVERROR(EINVAL);
    }
    memcpy(ctx->key, name, len);
    ctx->key[len] = 0;
    if (!name[len])
        return 0;
    query = av_strdup(name + len + 1);
    if (!query)
        return AVERROR(ENOMEM);
    for (pair = av_strtok(query, "&", &save); pair && ret >= 0; pair = av_strtok(NULL, "&", &save)) {
        char *value = strchr(pair, '=');
        if (value)
            *value++ = 0;
        ret = av_opt_set(ctx, pair, value ? value : "1", 0);
        if (ret < 0)
            av_log(avctx, AV_LOG_ERROR, PREFIX "%s: bad URL option '%s': %s\n", ctx->key, pair, av_err2str(ret));
    }
    av_free(query);
    return ret;
}

static int read_header_packets(AVFormatContext *avctx, AVStream *st);

static int cuframes_read_header(AVFormatContext *avctx)
{
    CuframesContext *ctx = avctx->priv_data;
    cuframes_subscriber_options options;
    cuframes_status status;
    AVStream *st;
    int ret = parse_url(avctx);

    if (ret < 0)
        return ret;
    if (cuframes_abi_version() < CUFRAMES_ABI_VERSION) {
        av_log(avctx, AV_LOG_ERROR, "libcuframes %s is older than the cuframes.h FFmpeg was built with\n",
               cuframes_version());
        return AVERROR(ENOSYS);
    }
    st = avformat_new_stream(avctx, NULL);
    if (!st)
        return AVERROR(ENOMEM);
    st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
    if (ctx->packets)
        return read_header_packets(avctx, st);

    cuframes_subscriber_options_init(&options);
    options.key = ctx->key;
    options.dir = ctx->dir;
    options.connect_timeout_ms = timeout_ms(ctx);
    options.delivery = ctx->delivery;
    options.reconnect = ctx->reconnect;
    status = cuframes_subscriber_create(&options, &ctx->sub);
    if (status != CUFRAMES_OK)
        return fail(avctx, status, "subscribing");
    cuframes_subscriber_info_init(&ctx->info);
    cuframes_stream_facts_init(&ctx->facts);
    if ((status = cuframes_subscriber_get_info(ctx->sub, &ctx->info)) != CUFRAMES_OK ||
        (status = cuframes_subscriber_stream_facts(ctx->sub, &ctx->facts)) != CUFRAMES_OK)
        return fail(avctx, status, "reading the stream's description");

    ctx->sw_format = AV_PIX_FMT_NONE;
    for (int i = 0; i < FF_ARRAY_ELEMS(formats); i++)
        if (formats[i].cf == ctx->info.format)
            ctx->sw_format = formats[i].av;
    if (ctx->sw_format == AV_PIX_FMT_NONE) {
        av_log(avctx, AV_LOG_ERROR, PREFIX "%s: unknown pixel format %d (a newer producer?)\n", ctx->key,
               (int)ctx->info.format);
        return AVERROR_PATCHWELCOME;
    }
    if (ctx->info.backend == CUFRAMES_BACKEND_CUDA && (ret = setup_cuda(avctx)) < 0)
        return ret;

    st->codecpar->codec_id = AV_CODEC_ID_WRAPPED_AVFRAME;
    st->codecpar->width = ctx->info.width;
    st->codecpar->height = ctx->info.height;
    st->codecpar->format = ctx->frames_ref ? AV_PIX_FMT_CUDA : ctx->sw_format;
    set_timing(avctx, st);
    av_log(avctx, AV_LOG_VERBOSE, PREFIX "%s: %ux%u %s on %s, holds up to %u frames\n", ctx->key, ctx->info.width,
           ctx->info.height, av_get_pix_fmt_name(ctx->sw_format),
           ctx->frames_ref ? "cuda" : "host", ctx->info.max_held);
    return 0;
}

/* The frame's slot is given back when FFmpeg lets go of the frame. */
static void release_slot(void *opaque, uint8_t *data)
{
    cuframes_frame_release(opaque);
}

static void free_wrapped_frame(void *opaque, uint8_t *data)
{
    AVFrame *frame = (AVFrame *)data;
    av_frame_free(&frame);
}

static void plane_pointers(const cuframes_frame_info *info, uint8_t *data[4], int linesize[4])
{
    for (uint32_t p = 0; p < info->plane_count && p < 4; p++) {
        data[p] = (uint8_t *)(uintptr_t)(info->data + info->planes[p].offset);
        linesize[p] = info->planes[p].pitch;
    }
}

/* A copy into an FFmpeg-owned frame; the caller releases the slot after. */
static int copy_frame(AVFormatContext *avctx, const cuframes_frame_info *info, AVFrame *out)
{
    CuframesContext *ctx = avctx->priv_data;
    uint8_t *src[4] = { NULL };
    int src_linesize[4] = { 0 };
    int ret;

    plane_pointers(info, src, src_linesize);
    if (!ctx->frames_ref) {
        out->format = ctx->sw_format;
        out->width = info->width;
        out->height = info->height;
        if ((ret = av_frame_get_buffer(out, 0)) < 0)
            return ret;
        av_image_copy(out->data, out->linesize, (const uint8_t **)src, src_linesize, ctx->sw_format, info->width,
                      info->height);
        return 0;
    }
#if CONFIG_CUDA
    {
        AVHWDeviceContext *device = (AVHWDeviceContext *)ctx->device_ref->data;
        AVCUDADeviceContext *hwctx = device->hwctx;
        CudaFunctions *cu = hwctx->internal->cuda_dl;
        CUcontext dummy;

        if ((ret = av_hwframe_get_buffer(ctx->frames_ref, out, 0)) < 0)
            return ret;
        if ((ret = cu->cuCtxPushCurrent(hwctx->cuda_ctx)) != CUDA_SUCCESS)
            return AVERROR_EXTERNAL;
        /* Synchronous: the slot is released as soon as this returns. */
        for (uint32_t p = 0; p < info->plane_count && ret == CUDA_SUCCESS; p++) {
            CUDA_MEMCPY2D copy = {
                .srcMemoryType = CU_MEMORYTYPE_DEVICE,
                .srcDevice = (CUdeviceptr)src[p],
                .srcPitch = src_linesize[p],
                .dstMemoryType = CU_MEMORYTYPE_DEVICE,
                .dstDevice = (CUdeviceptr)out->data[p],
                .dstPitch = out->linesize[p],
                .WidthInBytes = info->planes[p].row_bytes,
                .Height = info->planes[p].height,
            };
            ret = cu->cuMemcpy2D(&copy);
        }
        cu->cuCtxPopCurrent(&dummy);
        if (ret != CUDA_SUCCESS) {
            av_log(avctx, AV_LOG_ERROR, PREFIX "%s: copying a frame on the GPU failed (CUresult %d)\n", ctx->key,
                   ret);
            return AVERROR_EXTERNAL;
        }
        return 0;
    }
#else
    return AVERROR(ENOSYS);
#endif
}

/* out's data[] in the slot; the frame is released when out's last reference goes. */
static int wrap_frame(AVFormatContext *avctx, cuframes_frame *frame, const cuframes_frame_info *info, AVFrame *out)
{
    CuframesContext *ctx = avctx->priv_data;

    out->buf[0] = av_buffer_create((uint8_t *)(uintptr_t)info->data, info->size, release_slot, frame,
                                   AV_BUFFER_FLAG_READONLY);
    if (!out->buf[0])
        return AVERROR(ENOMEM);
    plane_pointers(info, out->data, out->linesize);
    out->width = info->width;
    out->height = info->height;
    out->format = ctx->sw_format;
    if (ctx->frames_ref) {
        out->format = AV_PIX_FMT_CUDA;
        out->hw_frames_ctx = av_buffer_ref(ctx->frames_ref);
        if (!out->hw_frames_ctx)
            return AVERROR(ENOMEM);
    }
    return 0;
}

static cuframes_status next_frame_for(void *arg, int32_t ms)
{
    void **args = arg;
    return cuframes_subscriber_next(args[0], ms, args[1]);
}

static int read_frame(AVFormatContext *avctx, AVPacket *pkt)
{
    CuframesContext *ctx = avctx->priv_data;
    AVStream *st = avctx->streams[0];
    cuframes_frame *frame = NULL;
    cuframes_frame_info info;
    void *args[2] = { ctx->sub, &frame };
    int interrupted = 0, zero_copy, ret;
    cuframes_subscriber_info now;
    cuframes_status status;
    AVFrame *out;

    /* Zero-copy while a lease is left for copying: taking the last one could
     * leave FFmpeg holding them all and next() refused. */
    cuframes_subscriber_info_init(&now);
    if ((status = cuframes_subscriber_get_info(ctx->sub, &now)) != CUFRAMES_OK)
        return fail(avctx, status, "cuframes_subscriber_get_info");
    zero_copy = !ctx->copy && now.held + 2 <= now.max_held;

    status = wait_next(avctx, args, &interrupted, next_frame_for);
    if (interrupted)
        return AVERROR_EXIT;
    if (status != CUFRAMES_OK)
        return fail(avctx, status, "cuframes_subscriber_next");
    cuframes_frame_info_init(&info);
    cuframes_frame_get_info(frame, &info);
    if (info.reconnected) {
        av_log(avctx, AV_LOG_WARNING, PREFIX "%s: following a restarted producer (%" PRIu64 " frames lost)\n",
               ctx->key, info.missed);
        if (info.width != ctx->info.width || info.height != ctx->info.height || info.format != ctx->info.format) {
            cuframes_frame_release(frame);
            av_log(avctx, AV_LOG_ERROR, PREFIX "%s: the restarted producer publishes another size or format\n",
                   ctx->key);
            return AVERROR_INPUT_CHANGED;
        }
    }
    ctx->missed += info.missed;

    out = av_frame_alloc();
    if (!out) {
        cuframes_frame_release(frame);
        return AVERROR(ENOMEM);
    }
    if (zero_copy) {
        ret = wrap_frame(avctx, frame, &info, out);
        if (!out->buf[0])
            cuframes_frame_release(frame); /* else out's buffer releases it */
    } else {
        ret = copy_frame(avctx, &info, out);
        cuframes_frame_release(frame);
    }
    if (ret < 0) {
        av_frame_free(&out);
        return ret;
    }
    zero_copy ? ctx->zero_copy++ : ctx->copied++;
    av_log(avctx, AV_LOG_DEBUG, PREFIX "%s: frame %" PRIu64 " slot %u at 0x%" PRIx64 ": %s, data[0] %p\n", ctx->key,
           info.seq, info.slot, info.data, zero_copy ? "zero-copy" : "copied", out->data[0]);

    /* The frame's own pts stays unset: FFmpeg then takes the packet's, after it
     * shifted it (the input's start time, -itsoffset), as it does for kmsgrab. */
    pkt->pts = pkt->dts = stream_pts(ctx, info.pts, info.timestamp_ns, info.reconnected);
    out->sample_aspect_ratio = st->sample_aspect_ratio;
    out->color_range = st->codecpar->color_range;
    out->colorspace = st->codecpar->color_space;
    out->color_primaries = st->codecpar->color_primaries;
    out->color_trc = st->codecpar->color_trc;

    pkt->buf = av_buffer_create((uint8_t *)out, sizeof(*out), free_wrapped_frame, NULL, 0);
    if (!pkt->buf) {
        av_frame_free(&out);
        return AVERROR(ENOMEM);
    }
    pkt->data = (uint8_t *)out;
    pkt->size = sizeof(*out);
    pkt->flags |= AV_PKT_FLAG_KEY | AV_PKT_FLAG_TRUSTED;
    return 0;
}

/* ---- packets=1: the encoded stream ---- */

typedef struct PacketRead {
    CuframesContext *ctx;
    AVPacket *pkt;
    cuframes_packet_info info;
} PacketRead;

/* Reads into pkt, growing it when the packet is larger than its buffer. */
static cuframes_status next_packet_for(void *arg, int32_t ms)
{
    PacketRead *read = arg;
    for (;;) {
        cuframes_status status;
        cuframes_packet_info_init(&read->info);
        status = cuframes_packet_subscriber_next(read->ctx->psub, ms, read->pkt->data, read->pkt->size, &read->info);
        if (status != CUFRAMES_ERR_LIMIT || read->info.size <= (uint64_t)read->pkt->size ||
            read->info.size > INT_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
            return status;
        av_packet_unref(read->pkt);
        if (av_new_packet(read->pkt, (int)read->info.size) < 0)
            return CUFRAMES_ERR_LIMIT;
    }
}

static int read_encoded(AVFormatContext *avctx, AVPacket *pkt)
{
    CuframesContext *ctx = avctx->priv_data;
    PacketRead read = { .ctx = ctx, .pkt = pkt };
    int interrupted = 0, ret;
    cuframes_status status;

    if (ctx->first) {
        av_packet_move_ref(pkt, ctx->first);
        av_packet_free(&ctx->first);
        return 0;
    }
    if ((ret = av_new_packet(pkt, 256 * 1024)) < 0)
        return ret;
    status = wait_next(avctx, &read, &interrupted, next_packet_for);
    if (interrupted)
        return AVERROR_EXIT;
    if (status != CUFRAMES_OK)
        return fail(avctx, status, "cuframes_packet_subscriber_next");
    av_shrink_packet(pkt, (int)read.info.size);
    if (read.info.overruns)
        av_log(avctx, AV_LOG_WARNING, PREFIX "%s: %" PRIu64 " packets lost (fell behind the ring)\n", ctx->key,
               read.info.overruns);
    if (read.info.reconnected)
        av_log(avctx, AV_LOG_WARNING, PREFIX "%s: following a restarted producer\n", ctx->key);
    ctx->missed += read.info.overruns;
    ctx->codec = read.info.codec;
    {
        /* dts moves by as much as pts so that a restart shifts both alike. */
        const int64_t pts = stream_pts(ctx, read.info.pts, read.info.timestamp_ns, read.info.reconnected);
        pkt->dts = ctx->wallclock ? pts : pts - (read.info.pts - read.info.dts);
        pkt->pts = pts;
    }
    if (read.info.keyframe)
        pkt->flags |= AV_PKT_FLAG_KEY;
    return 0;
}

static int read_header_packets(AVFormatContext *avctx, AVStream *st)
{
    CuframesContext *ctx = avctx->priv_data;
    cuframes_packet_subscriber_options options;
    cuframes_status status;
    AVPacket *first;
    int ret;

    cuframes_packet_subscriber_options_init(&options);
    options.key = ctx->key;
    options.dir = ctx->dir;
    options.connect_timeout_ms = timeout_ms(ctx);
    options.reconnect = ctx->reconnect;
    status = cuframes_packet_subscriber_create(&options, &ctx->psub);
    if (status != CUFRAMES_OK)
        return fail(avctx, status, "subscribing to packets");
    cuframes_stream_facts_init(&ctx->facts);
    if ((status = cuframes_packet_subscriber_stream_facts(ctx->psub, &ctx->facts)) != CUFRAMES_OK)
        return fail(avctx, status, "cuframes_packet_subscriber_stream_facts");
    set_timing(avctx, st);

    /* The codec is known from the first packet (a keyframe with its parameter sets). */
    if (!(first = av_packet_alloc()))
        return AVERROR(ENOMEM);
    if ((ret = read_encoded(avctx, first)) < 0) {
        av_packet_free(&first);
        return ret;
    }
    ctx->first = first;
    st->codecpar->codec_id = ctx->codec == CUFRAMES_CODEC_HEVC ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264;
    /* Whole access units with their timestamps and keyframe flags: no parser (FFmpeg's
     * h264 parser dropped the first packet's timestamps); probing decodes one for the size. */
    return 0;
}

static int cuframes_read_packet(AVFormatContext *avctx, AVPacket *pkt)
{
    CuframesContext *ctx = avctx->priv_data;
    return ctx->packets ? read_encoded(avctx, pkt) : read_frame(avctx, pkt);
}

static int cuframes_read_close(AVFormatContext *avctx)
{
    CuframesContext *ctx = avctx->priv_data;

    if (ctx->sub)
        av_log(avctx, AV_LOG_VERBOSE, PREFIX "%s: %" PRIu64 " frames zero-copy, %" PRIu64 " copied, %" PRIu64
               " missed\n", ctx->key, ctx->zero_copy, ctx->copied, ctx->missed);
    /* Frames FFmpeg still holds keep their slots: a frame outlives its subscriber. */
    cuframes_subscriber_destroy(ctx->sub);
    ctx->sub = NULL;
    cuframes_packet_subscriber_destroy(ctx->psub);
    ctx->psub = NULL;
    av_packet_free(&ctx->first);
    av_buffer_unref(&ctx->frames_ref);
    av_buffer_unref(&ctx->device_ref);
    return 0;
}

static int cuframes_probe(const AVProbeData *p)
{
    return av_strstart(p->filename, PREFIX, NULL) ? AVPROBE_SCORE_MAX : 0;
}

#define OFFSET(x) offsetof(CuframesContext, x)
#define D AV_OPT_FLAG_DECODING_PARAM
static const AVOption options[] = {
    { "dir", "the producers' directory (default: $CUFRAMES_DIR, else /tmp/cuframes)", OFFSET(dir),
      AV_OPT_TYPE_STRING, { .str = NULL }, 0, 0, D },
    { "delivery", "which frame a subscriber that fell behind gets", OFFSET(delivery), AV_OPT_TYPE_INT,
      { .i64 = CUFRAMES_DELIVERY_LATEST }, 0, 1, D, "delivery" },
    { "latest", "the newest (skips frames; lowest latency)", 0, AV_OPT_TYPE_CONST,
      { .i64 = CUFRAMES_DELIVERY_LATEST }, 0, 0, D, "delivery" },
    { "sequential", "the oldest unread still in the pool (every frame it can)", 0, AV_OPT_TYPE_CONST,
      { .i64 = CUFRAMES_DELIVERY_SEQUENTIAL }, 0, 0, D, "delivery" },
    { "timeout", "longest wait for the producer and for each frame; negative: forever", OFFSET(timeout_us),
      AV_OPT_TYPE_DURATION, { .i64 = 5000000 }, -1, INT64_MAX, D },
    { "reconnect", "follow the key across producer restarts", OFFSET(reconnect), AV_OPT_TYPE_BOOL, { .i64 = 0 }, 0,
      1, D },
    { "copy", "copy every frame into FFmpeg's own buffers (for consumers that keep frames long)", OFFSET(copy),
      AV_OPT_TYPE_BOOL, { .i64 = 0 }, 0, 1, D },
    { "packets", "read the encoded H.264/H.265 packets instead of frames", OFFSET(packets), AV_OPT_TYPE_BOOL,
      { .i64 = 0 }, 0, 1, D },
    { NULL },
};

static const AVClass cuframes_class = {
    .class_name = "cuframes indev",
    .item_name = av_default_item_name,
    .option = options,
    .version = LIBAVUTIL_VERSION_INT,
    .category = AV_CLASS_CATEGORY_DEVICE_VIDEO_INPUT,
};

#if LIBAVFORMAT_VERSION_MAJOR >= 61
/* FFmpeg 7.0 and newer: a demuxer is an FFInputFormat, its public fields under .p. */
const FFInputFormat ff_cuframes_demuxer = {
    .p.name = "cuframes",
    .p.long_name = NULL_IF_CONFIG_SMALL("cuframes shared frames (cuframes://KEY)"),
    .p.flags = AVFMT_NOFILE,
    .p.priv_class = &cuframes_class,
    .priv_data_size = sizeof(CuframesContext),
    .read_probe = cuframes_probe,
    .read_header = cuframes_read_header,
    .read_packet = cuframes_read_packet,
    .read_close = cuframes_read_close,
    .flags_internal = FF_INFMT_FLAG_INIT_CLEANUP,
};
#else
const AVInputFormat ff_cuframes_demuxer = {
    .name = "cuframes",
    .long_name = NULL_IF_CONFIG_SMALL("cuframes shared frames (cuframes://KEY)"),
    .priv_data_size = sizeof(CuframesContext),
    .read_probe = cuframes_probe,
    .read_header = cuframes_read_header,
    .read_packet = cuframes_read_packet,
    .read_close = cuframes_read_close,
    .flags = AVFMT_NOFILE,
    .flags_internal = FF_FMT_INIT_CLEANUP,
    .priv_class = &cuframes_class,
};
#endif
