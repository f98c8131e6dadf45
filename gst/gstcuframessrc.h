#ifndef GST_CUFRAMES_SRC_H
#define GST_CUFRAMES_SRC_H

#include <cuframes/cuframes.h>
#include <gst/base/gstpushsrc.h>
#include <gst/video/video.h>

#include "gstcuframescuda.h"

G_BEGIN_DECLS

#define GST_TYPE_CUFRAMES_SRC (gst_cuframes_src_get_type())
G_DECLARE_FINAL_TYPE(GstCuframesSrc, gst_cuframes_src, GST, CUFRAMES_SRC, GstPushSrc)

typedef enum {
    GST_CUFRAMES_OUTPUT_FRAMES = 0,
    GST_CUFRAMES_OUTPUT_PACKETS = 1,
} GstCuframesOutput;

struct _GstCuframesSrc {
    GstPushSrc parent;

    /* Properties (under the object lock). */
    gchar *key;
    gchar *dir;
    cuframes_delivery delivery;
    gboolean reconnect;
    gint timeout_ms;
    GstCuframesOutput output;

    /* Set by unlock() from any thread, read by the streaming thread between waits. */
    gint flushing;

    /* Streaming state: start() and stop() and the streaming thread. */
    cuframes_subscriber *subscriber;
    cuframes_packet_subscriber *packet_subscriber;
    cuframes_stream_facts facts;
    GstCaps *caps;                  /* what was negotiated from the first frame or packet */
    GstVideoInfo info;              /* frames: the negotiated layout */
    gboolean downstream_video_meta; /* frames: wrap slots (strides in a GstVideoMeta) */
    gint *outstanding;              /* wrapped buffers not yet freed (an atomic, rc-boxed) */
    guint8 *packet_scratch;         /* packets: where the next one is copied */
    gsize packet_capacity;
    gboolean have_offset; /* packets: running time = stream time + offset */
    gint64 offset_ns;
    gboolean pending_discont;
    gboolean cuda_output;  /* frames: memory:CUDAMemory caps, copied from cuda slots */
    gboolean wrap_refused; /* gst-cuda would not wrap a slot: copy the frames of these caps */
#ifdef CUFRAMES_GST_CUDA
    GstCudaContext *cuda_context; /* the pipeline's, shared through GstContext */
    GstBufferPool *cuda_pool;     /* where the frames are copied */
#endif
};

G_END_DECLS

#endif /* GST_CUFRAMES_SRC_H */
