/* cuframessrc output=packets: the key's packet ring as video/x-h264 or video/x-h265
 * access units (byte-stream, alignment=au), for parsers, muxers and decoders such
 * as DeepStream's nvv4l2decoder.
 *
 * Timestamps: the producer's pts and dts (in its time base) are moved by one offset,
 * taken at the first packet of each producer, so that that packet's pts is the running
 * time at which it was published; the distances between packets stay the producer's. */
#include "gstcuframescommon.h"
#include "gstcuframessrcparts.h"

GST_DEBUG_CATEGORY_EXTERN(gst_cuframes_src_debug);
#define GST_CAT_DEFAULT gst_cuframes_src_debug

/* A first guess at the largest access unit; it grows to whatever the ring holds. */
#define FIRST_PACKET_CAPACITY (512 * 1024)

static gboolean packet_caps(GstCuframesSrc *self, cuframes_codec codec) {
    const gchar *media_type = gst_cuframes_codec_media_type(codec);
    if (media_type == NULL) {
        GST_ELEMENT_ERROR(self, STREAM, CODEC_NOT_FOUND, ("cuframes key '%s' carries an unknown codec", self->key),
                          ("cuframes codec %d", (int)codec));
        return FALSE;
    }
    cuframes_stream_facts_init(&self->facts);
    if (cuframes_packet_subscriber_stream_facts(self->packet_subscriber, &self->facts) != CUFRAMES_OK)
        GST_WARNING_OBJECT(self, "no stream facts: %s", cuframes_last_error());
    GstCaps *caps = gst_caps_new_simple(media_type, "stream-format", G_TYPE_STRING, "byte-stream", "alignment",
                                        G_TYPE_STRING, "au", NULL);
    if (self->facts.frame_rate.num > 0 && self->facts.frame_rate.den > 0)
        gst_caps_set_simple(caps, "framerate", GST_TYPE_FRACTION, self->facts.frame_rate.num,
                            self->facts.frame_rate.den, NULL);
    if (self->facts.sample_aspect_ratio.num > 0 && self->facts.sample_aspect_ratio.den > 0)
        gst_caps_set_simple(caps, "pixel-aspect-ratio", GST_TYPE_FRACTION, self->facts.sample_aspect_ratio.num,
                            self->facts.sample_aspect_ratio.den, NULL);
    if (!gst_cuframes_src_update_caps(self, caps)) {
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Downstream refuses the caps of cuframes key '%s'", self->key),
                          ("%" GST_PTR_FORMAT, self->caps));
        return FALSE;
    }
    return TRUE;
}

/* Waits one slice for the next packet, copied into the scratch buffer (grown when short). */
static cuframes_status next_packet(GstCuframesSrc *self, gint wait_ms, cuframes_packet_info *info) {
    if (self->packet_scratch == NULL) {
        self->packet_capacity = FIRST_PACKET_CAPACITY;
        self->packet_scratch = g_malloc(self->packet_capacity);
    }
    for (;;) {
        cuframes_packet_info_init(info);
        const cuframes_status status = cuframes_packet_subscriber_next(
            self->packet_subscriber, wait_ms, self->packet_scratch, self->packet_capacity, info);
        if (status != CUFRAMES_ERR_LIMIT || info->size <= self->packet_capacity) return status;
        /* The same packet comes again from the next call. */
        g_free(self->packet_scratch);
        self->packet_capacity = info->size;
        self->packet_scratch = g_malloc(self->packet_capacity);
    }
}

static void stamp(GstCuframesSrc *self, const cuframes_packet_info *info, GstBuffer *buffer) {
    const gint64 pts_ns = gst_cuframes_to_ns(info->pts, self->facts.time_base);
    const gint64 dts_ns = gst_cuframes_to_ns(info->dts, self->facts.time_base);
    const GstClockTime published = gst_cuframes_src_running_time_of(self, info->timestamp_ns);
    if (pts_ns == -1 || !GST_CLOCK_TIME_IS_VALID(published)) {
        /* No time base: the publishing time is all there is, and decode order is arrival order. */
        GST_BUFFER_PTS(buffer) = published;
        return;
    }
    if (!self->have_offset || info->reconnected) {
        /* The first packet's pts lands on its publishing time, its dts no earlier than 0. */
        self->offset_ns = MAX((gint64)published - pts_ns, -dts_ns);
        self->have_offset = TRUE;
    }
    GST_BUFFER_PTS(buffer) = (GstClockTime)MAX(pts_ns + self->offset_ns, 0);
    GST_BUFFER_DTS(buffer) = (GstClockTime)MAX(dts_ns + self->offset_ns, 0);
    if (self->facts.frame_rate.num > 0 && self->facts.frame_rate.den > 0)
        GST_BUFFER_DURATION(buffer) =
            gst_util_uint64_scale(GST_SECOND, self->facts.frame_rate.den, self->facts.frame_rate.num);
}

GstFlowReturn gst_cuframes_src_create_packet(GstCuframesSrc *self, gint64 deadline_us, GstBuffer **out) {
    cuframes_packet_info info;
    for (;;) {
        if (g_atomic_int_get(&self->flushing)) return GST_FLOW_FLUSHING;
        const cuframes_status status = next_packet(self, gst_cuframes_src_next_slice(self, deadline_us), &info);
        if (status == CUFRAMES_OK) break;
        if (status == CUFRAMES_ERR_DISCONNECTED) return GST_FLOW_EOS; /* the producer closed its stream */
        if (status == CUFRAMES_ERR_STATE && g_atomic_int_get(&self->flushing)) return GST_FLOW_FLUSHING;
        if (status != CUFRAMES_ERR_TIMEOUT) return gst_cuframes_src_fail(self, status, "read a packet of");
        if (gst_cuframes_src_past(self, deadline_us))
            return gst_cuframes_src_fail(self, CUFRAMES_ERR_TIMEOUT, "read a packet of");
    }
    /* Caps from the first packet (its codec), and again after a restarted producer. */
    if ((self->caps == NULL || info.reconnected) && !packet_caps(self, info.codec)) return GST_FLOW_NOT_NEGOTIATED;
    *out = gst_buffer_new_memdup(self->packet_scratch, info.size);
    stamp(self, &info, *out);
    GST_BUFFER_OFFSET(*out) = info.seq;
    if (!info.keyframe) GST_BUFFER_FLAG_SET(*out, GST_BUFFER_FLAG_DELTA_UNIT);
    /* A rejoin after falling behind, or a new producer: the decoder starts again here. */
    if (info.reconnected || info.overruns > 0 || info.discontinuity) GST_BUFFER_FLAG_SET(*out, GST_BUFFER_FLAG_DISCONT);
    return GST_FLOW_OK;
}
