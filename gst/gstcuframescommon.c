#include "gstcuframescommon.h"

/* One row per cuframes format (CUFRAMES_FORMAT_LIST, cuframes.h): its GStreamer name.
 * A format added to the list without a row here is refused by both elements (caps
 * never name it) until it gets one. */
static const struct {
    cuframes_format format;
    GstVideoFormat video_format;
} format_table[] = {
    {CUFRAMES_FORMAT_NV12, GST_VIDEO_FORMAT_NV12}, {CUFRAMES_FORMAT_P010, GST_VIDEO_FORMAT_P010_10LE},
    {CUFRAMES_FORMAT_I420, GST_VIDEO_FORMAT_I420}, {CUFRAMES_FORMAT_RGB24, GST_VIDEO_FORMAT_RGB},
    {CUFRAMES_FORMAT_BGR24, GST_VIDEO_FORMAT_BGR}, {CUFRAMES_FORMAT_RGBA, GST_VIDEO_FORMAT_RGBA},
    {CUFRAMES_FORMAT_BGRA, GST_VIDEO_FORMAT_BGRA}, {CUFRAMES_FORMAT_GRAY8, GST_VIDEO_FORMAT_GRAY8},
};

GstVideoFormat gst_cuframes_to_video_format(cuframes_format format) {
    for (guint i = 0; i < G_N_ELEMENTS(format_table); ++i)
        if (format_table[i].format == format) return format_table[i].video_format;
    return GST_VIDEO_FORMAT_UNKNOWN;
}

cuframes_format gst_cuframes_from_video_format(GstVideoFormat format) {
    for (guint i = 0; i < G_N_ELEMENTS(format_table); ++i)
        if (format_table[i].video_format == format) return format_table[i].format;
    return (cuframes_format)0;
}

static GstVideoColorRange range_to_gst(uint32_t range) {
    switch (range) {
        case CUFRAMES_COLOR_RANGE_LIMITED: return GST_VIDEO_COLOR_RANGE_16_235;
        case CUFRAMES_COLOR_RANGE_FULL: return GST_VIDEO_COLOR_RANGE_0_255;
        default: return GST_VIDEO_COLOR_RANGE_UNKNOWN;
    }
}

static uint32_t range_from_gst(GstVideoColorRange range) {
    switch (range) {
        case GST_VIDEO_COLOR_RANGE_16_235: return CUFRAMES_COLOR_RANGE_LIMITED;
        case GST_VIDEO_COLOR_RANGE_0_255: return CUFRAMES_COLOR_RANGE_FULL;
        default: return CUFRAMES_COLOR_RANGE_UNSPECIFIED;
    }
}

void gst_cuframes_facts_to_info(const cuframes_stream_facts *facts, GstVideoInfo *info) {
    if (facts->frame_rate.num > 0 && facts->frame_rate.den > 0) {
        GST_VIDEO_INFO_FPS_N(info) = facts->frame_rate.num;
        GST_VIDEO_INFO_FPS_D(info) = facts->frame_rate.den;
    } else {
        GST_VIDEO_INFO_FPS_N(info) = 0; /* variable or unknown */
        GST_VIDEO_INFO_FPS_D(info) = 1;
    }
    if (facts->sample_aspect_ratio.num > 0 && facts->sample_aspect_ratio.den > 0) {
        GST_VIDEO_INFO_PAR_N(info) = facts->sample_aspect_ratio.num;
        GST_VIDEO_INFO_PAR_D(info) = facts->sample_aspect_ratio.den;
    }
    /* The facts are H.273 code points, which GStreamer calls ISO/IEC 23001-8; an
     * unspecified one keeps GStreamer's default for the size and format. */
    GstVideoColorimetry *colorimetry = &GST_VIDEO_INFO_COLORIMETRY(info);
    if (facts->color_matrix != CUFRAMES_COLOR_UNSPECIFIED &&
        gst_video_color_matrix_from_iso(facts->color_matrix) != GST_VIDEO_COLOR_MATRIX_UNKNOWN)
        colorimetry->matrix = gst_video_color_matrix_from_iso(facts->color_matrix);
    if (facts->color_primaries != CUFRAMES_COLOR_UNSPECIFIED &&
        gst_video_color_primaries_from_iso(facts->color_primaries) != GST_VIDEO_COLOR_PRIMARIES_UNKNOWN)
        colorimetry->primaries = gst_video_color_primaries_from_iso(facts->color_primaries);
    if (facts->color_transfer != CUFRAMES_COLOR_UNSPECIFIED &&
        gst_video_transfer_function_from_iso(facts->color_transfer) != GST_VIDEO_TRANSFER_UNKNOWN)
        colorimetry->transfer = gst_video_transfer_function_from_iso(facts->color_transfer);
    if (range_to_gst(facts->color_range) != GST_VIDEO_COLOR_RANGE_UNKNOWN)
        colorimetry->range = range_to_gst(facts->color_range);
}

void gst_cuframes_structure_to_options(const GstStructure *structure, cuframes_publisher_options *options) {
    gint num = 0, den = 0;
    options->time_base.num = 1; /* every pts and dts is published in nanoseconds */
    options->time_base.den = (int32_t)GST_SECOND;
    if (gst_structure_get_fraction(structure, "framerate", &num, &den) && num > 0 && den > 0) {
        options->frame_rate.num = num;
        options->frame_rate.den = den;
    }
    if (gst_structure_get_fraction(structure, "pixel-aspect-ratio", &num, &den) && num > 0 && den > 0) {
        options->sample_aspect_ratio.num = num;
        options->sample_aspect_ratio.den = den;
    }
    /* Only what the caps say: GstVideoInfo would guess a colorimetry from the size. */
    GstVideoColorimetry colorimetry;
    const gchar *text = gst_structure_get_string(structure, "colorimetry");
    if (text == NULL || !gst_video_colorimetry_from_string(&colorimetry, text)) return;
    /* GStreamer's unknown is H.273's 2, unspecified; 0 is a code point (identity, for RGB). */
    options->color_matrix = gst_video_color_matrix_to_iso(colorimetry.matrix);
    options->color_primaries = gst_video_color_primaries_to_iso(colorimetry.primaries);
    options->color_transfer = gst_video_transfer_function_to_iso(colorimetry.transfer);
    options->color_range = range_from_gst(colorimetry.range);
}

const gchar *gst_cuframes_codec_media_type(cuframes_codec codec) {
    switch (codec) {
        case CUFRAMES_CODEC_H264: return "video/x-h264";
        case CUFRAMES_CODEC_HEVC: return "video/x-h265";
        default: return NULL;
    }
}

cuframes_codec gst_cuframes_codec_from_media_type(const gchar *media_type) {
    if (g_strcmp0(media_type, "video/x-h264") == 0) return CUFRAMES_CODEC_H264;
    if (g_strcmp0(media_type, "video/x-h265") == 0) return CUFRAMES_CODEC_HEVC;
    return (cuframes_codec)0;
}

gint64 gst_cuframes_to_ns(gint64 ticks, cuframes_rational time_base) {
    if (time_base.num <= 0 || time_base.den <= 0) return -1;
    if (ticks < 0) return -gst_util_uint64_scale((guint64)-ticks, (guint64)time_base.num * GST_SECOND, time_base.den);
    return (gint64)gst_util_uint64_scale((guint64)ticks, (guint64)time_base.num * GST_SECOND, time_base.den);
}

GType gst_cuframes_delivery_get_type(void) {
    static GType type = 0;
    static const GEnumValue values[] = {
        {CUFRAMES_DELIVERY_LATEST, "The newest frame; older unread ones are skipped (lowest latency)", "latest"},
        {CUFRAMES_DELIVERY_SEQUENTIAL, "The oldest unread frame still in the pool, in order", "sequential"},
        {0, NULL, NULL},
    };
    if (g_once_init_enter(&type)) {
        GType registered = g_enum_register_static("GstCuframesDelivery", values);
        g_once_init_leave(&type, registered);
    }
    return type;
}
