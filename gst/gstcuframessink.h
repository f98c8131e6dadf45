#ifndef GST_CUFRAMES_SINK_H
#define GST_CUFRAMES_SINK_H

#include <cuframes/cuframes.h>
#include <gst/base/gstbasesink.h>
#include <gst/video/video.h>

#include "gstcuframescuda.h"
#include "gstcuframespublishers.h"

G_BEGIN_DECLS

#define GST_TYPE_CUFRAMES_SINK (gst_cuframes_sink_get_type())
G_DECLARE_FINAL_TYPE(GstCuframesSink, gst_cuframes_sink, GST, CUFRAMES_SINK, GstBaseSink)

struct _GstCuframesSink {
    GstBaseSink parent;

    /* Properties (under the object lock). */
    gchar *key;
    gchar *dir;
    gchar *description;
    guint slots;
    guint max_subscribers;
    guint max_held;
    guint64 packet_ring_bytes;

    /* Streaming state: start() to stop(), and the streaming thread. */
    GstCuframesShared *shared; /* the key's publisher, shared with a sink of packets */
    GstCaps *caps;             /* the negotiated caps, applied at the next buffer */
    gboolean caps_applied;
    gboolean raw;         /* video/x-raw, else encoded packets */
    gboolean cuda_input;  /* raw: memory:CUDAMemory, copied into cuda slots */
    GstVideoInfo info;    /* raw: the negotiated layout */
    cuframes_codec codec; /* packets */
    gint64 last_pts;
    gboolean owner;          /* this sink made the key's publisher */
    gboolean warned_waiting; /* packets: told once that the raw sink has not made it yet */
};

G_END_DECLS

#endif /* GST_CUFRAMES_SINK_H */
