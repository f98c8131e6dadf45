/* What cuframessrc and cuframessink share: the one table that maps cuframes'
 * pixel formats to GStreamer's, the stream facts <-> caps conversions, and the
 * enum types of their properties. */
#ifndef GST_CUFRAMES_COMMON_H
#define GST_CUFRAMES_COMMON_H

#include <cuframes/cuframes.h>
#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

/* The raw formats both elements speak, as a caps string list ("{ NV12, ... }"). */
#define GST_CUFRAMES_VIDEO_FORMATS "{ NV12, P010_10LE, I420, RGB, BGR, RGBA, BGRA, GRAY8 }"
/* Caps of the encoded packets: Annex-B access units, as the packet ring holds them. */
#define GST_CUFRAMES_PACKET_CAPS                                                                                       \
    "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au; "                                          \
    "video/x-h265, stream-format=(string)byte-stream, alignment=(string)au"

/* GST_VIDEO_FORMAT_UNKNOWN for a format GStreamer has no name for (none today). */
GstVideoFormat gst_cuframes_to_video_format(cuframes_format format);
/* 0 for a GStreamer format cuframes does not carry. */
cuframes_format gst_cuframes_from_video_format(GstVideoFormat format);

/* Fills what the facts know into info (fps, pixel-aspect-ratio, colorimetry). */
void gst_cuframes_facts_to_info(const cuframes_stream_facts *facts, GstVideoInfo *info);
/* Fills the publisher's stream facts from raw or encoded caps (what they lack stays
 * unknown); pts and dts are published in nanoseconds. */
void gst_cuframes_structure_to_options(const GstStructure *structure, cuframes_publisher_options *options);

/* "video/x-h264" or "video/x-h265"; NULL for another codec. */
const gchar *gst_cuframes_codec_media_type(cuframes_codec codec);
/* 0 for a media type the packet ring does not carry. */
cuframes_codec gst_cuframes_codec_from_media_type(const gchar *media_type);

/* Where the producer's frames live (cuframes_subscriber_get_info): HOST (CPU pointers) or
 * CUDA (CUdeviceptr); AUTO when the subscriber cannot say. */
static inline cuframes_backend gst_cuframes_subscriber_backend(const cuframes_subscriber *subscriber) {
    cuframes_subscriber_info info;
    cuframes_subscriber_info_init(&info);
    return cuframes_subscriber_get_info(subscriber, &info) == CUFRAMES_OK ? info.backend : CUFRAMES_BACKEND_AUTO;
}

/* A time in time_base units as nanoseconds; -1 when the time base is unknown. */
gint64 gst_cuframes_to_ns(gint64 ticks, cuframes_rational time_base);

#define GST_TYPE_CUFRAMES_DELIVERY (gst_cuframes_delivery_get_type())
GType gst_cuframes_delivery_get_type(void);

G_END_DECLS

#endif /* GST_CUFRAMES_COMMON_H */
