/* cuframessink: publishes what reaches it under a cuframes key, raw video into the
 * frame pool and H.264/H.265 access units into the packet ring.
 *
 * It never waits for a subscriber: a publisher always has a free slot (slots >=
 * max_subscribers * max_held + 2) and the packet ring overwrites what the slowest
 * reader has not read. Raw video is copied into the slot (cuframes' rows are 256-byte
 * aligned); pts and dts are published as running time in nanoseconds (time base
 * 1/1000000000). */
#include "gstcuframessink.h"

#include "gstcuframescommon.h"

GST_DEBUG_CATEGORY_STATIC(gst_cuframes_sink_debug);
#define GST_CAT_DEFAULT gst_cuframes_sink_debug

#define DEFAULT_PACKET_RING_BYTES (8u << 20)

enum {
    PROP_0,
    PROP_KEY,
    PROP_DIR,
    PROP_SLOTS,
    PROP_MAX_SUBSCRIBERS,
    PROP_MAX_HELD,
    PROP_PACKET_RING_BYTES,
    PROP_DESCRIPTION
};

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
                            GST_STATIC_CAPS(GST_CUFRAMES_CUDA_CAPS GST_VIDEO_CAPS_MAKE(
                                GST_CUFRAMES_VIDEO_FORMATS) "; " GST_CUFRAMES_PACKET_CAPS));

G_DEFINE_TYPE(GstCuframesSink, gst_cuframes_sink, GST_TYPE_BASE_SINK);

static gboolean fail_status(GstCuframesSink *self, cuframes_status status, const gchar *what) {
    GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("Could not %s cuframes key '%s'", what, self->key),
                      ("%s: %s", cuframes_status_name(status), cuframes_last_error()));
    return FALSE;
}

static void fill_options(GstCuframesSink *self, cuframes_publisher_options *options, const GstStructure *structure) {
    cuframes_publisher_options_init(options);
    options->key = self->key;
    options->dir = self->dir;
    options->backend = CUFRAMES_BACKEND_HOST; /* the frames arrive in system memory */
    options->description = self->description != NULL ? self->description : "GStreamer cuframessink";
    if (self->slots > 0) options->slots = self->slots;
    if (self->max_subscribers > 0) options->max_subscribers = self->max_subscribers;
    if (self->max_held > 0) options->max_held = self->max_held;
    gst_cuframes_structure_to_options(structure, options);
}

static gboolean another_raw_sink(GstCuframesSink *self) {
    GST_ELEMENT_ERROR(self, RESOURCE, BUSY,
                      ("Another cuframessink of this process publishes cuframes key '%s'", self->key),
                      ("one sink of raw video and one of packets may share a key, no more"));
    return FALSE;
}

static gboolean set_raw_caps(GstCuframesSink *self, GstCaps *caps, GstBuffer *first) {
    GstVideoInfo info;
    if (!gst_video_info_from_caps(&info, caps)) {
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Unreadable video caps"), ("%" GST_PTR_FORMAT, caps));
        return FALSE;
    }
    if (gst_cuframes_shared_publisher(self->shared) != NULL && !self->owner) return another_raw_sink(self);
    if (gst_cuframes_shared_publisher(self->shared) != NULL) {
        /* A publisher's format and size are fixed for its life: compare, don't recreate. */
        if (GST_VIDEO_INFO_FORMAT(&info) == GST_VIDEO_INFO_FORMAT(&self->info) &&
            GST_VIDEO_INFO_WIDTH(&info) == GST_VIDEO_INFO_WIDTH(&self->info) &&
            GST_VIDEO_INFO_HEIGHT(&info) == GST_VIDEO_INFO_HEIGHT(&self->info))
            return TRUE;
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
                          ("The video of cuframes key '%s' changed its format or size mid-stream", self->key),
                          ("a cuframes producer publishes one format and size; got %" GST_PTR_FORMAT, caps));
        return FALSE;
    }
    self->info = info;
    cuframes_publisher_options options;
    fill_options(self, &options, gst_caps_get_structure(caps, 0));
    options.width = (uint32_t)GST_VIDEO_INFO_WIDTH(&info);
    options.height = (uint32_t)GST_VIDEO_INFO_HEIGHT(&info);
    options.format = gst_cuframes_from_video_format(GST_VIDEO_INFO_FORMAT(&info));
    self->cuda_input = gst_cuframes_caps_are_cuda(caps);
#ifdef CUFRAMES_GST_CUDA
    if (self->cuda_input) {
        if (!gst_cuframes_cuda_usable()) {
            GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("CUDA memory in, but libcuda cannot be loaded"),
                              ("gst_cuda_load_library() failed; cuframes key '%s'", self->key));
            return FALSE;
        }
        /* Device memory in, device slots out, on the device the frames are on. */
        options.backend = CUFRAMES_BACKEND_CUDA;
        options.device = MAX(gst_cuframes_cuda_device_of(first), 0);
    }
#else
    (void)first;
#endif
    /* A packet sink of the same key in this process publishes into this publisher's ring. */
    options.packet_ring_bytes = gst_cuframes_shared_members(self->shared) > 1 ? self->packet_ring_bytes : 0;
    const cuframes_status status = gst_cuframes_shared_create(self->shared, &options);
    self->owner = status == CUFRAMES_OK;
    /* Made by the other sink of raw video between the check above and this call. */
    if (status == CUFRAMES_ERR_KEY_IN_USE && gst_cuframes_shared_publisher(self->shared) != NULL)
        return another_raw_sink(self);
    return self->owner || fail_status(self, status, "publish");
}

static gboolean set_packet_caps(GstCuframesSink *self, GstCaps *caps, cuframes_codec codec) {
    self->codec = codec;
    if (gst_cuframes_shared_publisher(self->shared) != NULL) return TRUE;
    if (gst_cuframes_shared_members(self->shared) > 1)
        return TRUE; /* the sink of raw video makes the publisher: render() waits for it */
    const GstStructure *structure = gst_caps_get_structure(caps, 0);
    gint width = 0, height = 0;
    if (!gst_structure_get_int(structure, "width", &width) || !gst_structure_get_int(structure, "height", &height)) {
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("The encoded video for cuframes key '%s' has no size", self->key),
                          ("put h264parse or h265parse in front of cuframessink; caps %" GST_PTR_FORMAT, caps));
        return FALSE;
    }
    cuframes_publisher_options options;
    fill_options(self, &options, structure);
    /* The frame pool of a packets-only key stays empty; memfd pages never written cost nothing. */
    options.width = (uint32_t)(width + (width & 1));
    options.height = (uint32_t)(height + (height & 1));
    options.packet_ring_bytes = self->packet_ring_bytes;
    const cuframes_status status = gst_cuframes_shared_create(self->shared, &options);
    self->owner = status == CUFRAMES_OK;
    return self->owner || fail_status(self, status, "publish");
}

/* Upstream elements that give either memory (cudaupload, nvh264dec) fixate the first caps of
 * what this pad answers, and GstBaseSink's default answer puts the query's filter (their
 * order, system memory first) first: CUDA frames would come down to system memory and back.
 * Here the template's order comes first, CUDA memory before system memory. */
static GstCaps *gst_cuframes_sink_get_caps(GstBaseSink *base, GstCaps *filter) {
    GstCaps *caps = gst_pad_get_pad_template_caps(GST_BASE_SINK_PAD(base));
    if (filter != NULL) {
        GstCaps *ours_first = gst_caps_intersect_full(caps, filter, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(caps);
        caps = ours_first;
    }
    return caps;
}

static gboolean gst_cuframes_sink_set_caps(GstBaseSink *base, GstCaps *caps) {
    /* Only noted: the publisher is made at the first buffer, so that a refusal is one
     * error message and not one per caps that upstream tries next. */
    GstCuframesSink *self = GST_CUFRAMES_SINK(base);
    GST_INFO_OBJECT(self, "caps %" GST_PTR_FORMAT, caps);
    gst_caps_replace(&self->caps, caps);
    self->caps_applied = FALSE;
    return TRUE;
}

static gboolean apply_caps(GstCuframesSink *self, GstBuffer *first) {
    const GstStructure *structure = gst_caps_get_structure(self->caps, 0);
    const cuframes_codec codec = gst_cuframes_codec_from_media_type(gst_structure_get_name(structure));
    self->raw = codec == 0;
    self->caps_applied = self->raw ? set_raw_caps(self, self->caps, first) : set_packet_caps(self, self->caps, codec);
    return self->caps_applied;
}

/* A buffer time as running time (nanoseconds, possibly negative for an early dts): the
 * same instant has the same value in every branch of a pipeline, whereas the buffer's own
 * times follow its segment (an encoder's may start at 1000 hours). */
static gboolean running_time(GstCuframesSink *self, GstClockTime time, gint64 *out) {
    guint64 magnitude = 0;
    const gint sign =
        gst_segment_to_running_time_full(&GST_BASE_SINK(self)->segment, GST_FORMAT_TIME, time, &magnitude);
    if (sign == 0) return FALSE;
    *out = sign > 0 ? (gint64)magnitude : -(gint64)magnitude;
    return TRUE;
}

/* The pts to publish; a buffer without one continues the last. */
static gint64 pts_of(GstCuframesSink *self, GstBuffer *buffer) {
    gint64 pts = 0;
    if ((GST_BUFFER_PTS_IS_VALID(buffer) && running_time(self, GST_BUFFER_PTS(buffer), &pts)) ||
        (GST_BUFFER_DTS_IS_VALID(buffer) && running_time(self, GST_BUFFER_DTS(buffer), &pts)))
        self->last_pts = pts;
    else
        self->last_pts += 1;
    return self->last_pts;
}

#ifdef CUFRAMES_GST_CUDA
static GstFlowReturn render_cuda_frame(GstCuframesSink *self, cuframes_publisher *publisher, GstBuffer *buffer) {
    cuframes_buffer slot;
    cuframes_buffer_init(&slot);
    cuframes_status status = cuframes_publisher_acquire(publisher, &slot);
    if (status != CUFRAMES_OK) {
        fail_status(self, status, "publish a frame to");
        return GST_FLOW_ERROR;
    }
    GError *error = NULL;
    if (!gst_cuframes_cuda_upload_buffer(buffer, &slot, &error)) {
        cuframes_publisher_abort(publisher);
        GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("Could not copy a frame into cuframes key '%s'", self->key),
                          ("%s", error->message));
        g_clear_error(&error);
        return GST_FLOW_ERROR;
    }
    /* The copy has completed (gst_cuframes_cuda_copy waits): nothing left on a stream. */
    status = cuframes_publisher_publish(publisher, NULL, pts_of(self, buffer), NULL, 0, NULL);
    return status == CUFRAMES_OK || fail_status(self, status, "publish a frame to") ? GST_FLOW_OK : GST_FLOW_ERROR;
}
#endif

static GstFlowReturn render_frame(GstCuframesSink *self, cuframes_publisher *publisher, GstBuffer *buffer) {
#ifdef CUFRAMES_GST_CUDA
    if (self->cuda_input) return render_cuda_frame(self, publisher, buffer);
#endif
    GstVideoFrame in;
    if (!gst_video_frame_map(&in, &self->info, buffer, GST_MAP_READ)) {
        GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Could not map a video buffer"), ("%" GST_PTR_FORMAT, buffer));
        return GST_FLOW_ERROR;
    }
    cuframes_buffer slot;
    cuframes_buffer_init(&slot);
    cuframes_status status = cuframes_publisher_acquire(publisher, &slot);
    if (status == CUFRAMES_OK) {
        guint8 *dst = (guint8 *)(uintptr_t)slot.data;
        for (guint p = 0; p < slot.plane_count && p < GST_VIDEO_FRAME_N_PLANES(&in); ++p) {
            const cuframes_plane *plane = &slot.planes[p];
            const guint8 *src = GST_VIDEO_FRAME_PLANE_DATA(&in, p);
            const gint stride = GST_VIDEO_FRAME_PLANE_STRIDE(&in, p);
            for (guint row = 0; row < plane->height; ++row)
                memcpy(dst + plane->offset + (gsize)row * plane->pitch, src + (gsize)row * stride, plane->row_bytes);
        }
        status = cuframes_publisher_publish(publisher, NULL, pts_of(self, buffer), NULL, 0, NULL);
    }
    gst_video_frame_unmap(&in);
    return status == CUFRAMES_OK || fail_status(self, status, "publish a frame to") ? GST_FLOW_OK : GST_FLOW_ERROR;
}

static GstFlowReturn render_packet(GstCuframesSink *self, cuframes_publisher *publisher, GstBuffer *buffer) {
    GstMapInfo map;
    if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) {
        GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Could not map an encoded buffer"), ("%" GST_PTR_FORMAT, buffer));
        return GST_FLOW_ERROR;
    }
    const gint64 pts = pts_of(self, buffer);
    gint64 dts = pts;
    if (GST_BUFFER_DTS_IS_VALID(buffer) && !running_time(self, GST_BUFFER_DTS(buffer), &dts)) dts = pts;
    const int32_t keyframe = GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT) ? 0 : 1;
    const cuframes_status status =
        cuframes_publisher_publish_packet(publisher, map.data, map.size, pts, dts, self->codec, keyframe, NULL);
    gst_buffer_unmap(buffer, &map);
    return status == CUFRAMES_OK || fail_status(self, status, "publish a packet to") ? GST_FLOW_OK : GST_FLOW_ERROR;
}

static GstFlowReturn gst_cuframes_sink_render(GstBaseSink *base, GstBuffer *buffer) {
    GstCuframesSink *self = GST_CUFRAMES_SINK(base);
    if (!self->caps_applied && !apply_caps(self, buffer)) return GST_FLOW_ERROR;
    cuframes_publisher *publisher = gst_cuframes_shared_publisher(self->shared);
    if (publisher == NULL) {
        /* A packet sink waiting for the raw sink of its key: no subscriber can exist before
         * the publisher does, so nothing is lost but packets nobody could read. */
        if (!self->warned_waiting)
            GST_ELEMENT_WARNING(self, RESOURCE, WRITE,
                                ("Packets for cuframes key '%s' wait for the sink of raw video of that key", self->key),
                                ("another cuframessink of this key is in this process: it makes the publisher at its "
                                 "first frame; packets until then are dropped"));
        self->warned_waiting = TRUE;
        return GST_FLOW_OK;
    }
    return self->raw ? render_frame(self, publisher, buffer) : render_packet(self, publisher, buffer);
}

static gboolean gst_cuframes_sink_start(GstBaseSink *base) {
    GstCuframesSink *self = GST_CUFRAMES_SINK(base);
    if (self->key == NULL || self->key[0] == '\0') {
        GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("cuframessink has no key"),
                          ("set key=NAME, the key to publish under"));
        return FALSE;
    }
    self->shared = gst_cuframes_shared_join(self->dir, self->key);
    self->last_pts = -1;
    self->owner = FALSE;
    self->warned_waiting = FALSE;
    return TRUE;
}

static gboolean gst_cuframes_sink_stop(GstBaseSink *base) {
    GstCuframesSink *self = GST_CUFRAMES_SINK(base);
    gst_cuframes_shared_leave(self->shared);
    self->shared = NULL;
    gst_caps_replace(&self->caps, NULL);
    self->caps_applied = FALSE;
    return TRUE;
}

static void gst_cuframes_sink_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
    GstCuframesSink *self = GST_CUFRAMES_SINK(object);
    GST_OBJECT_LOCK(self);
    switch (id) {
        case PROP_KEY:
            g_free(self->key);
            self->key = g_value_dup_string(value);
            break;
        case PROP_DIR:
            g_free(self->dir);
            self->dir = g_value_dup_string(value);
            break;
        case PROP_SLOTS: self->slots = g_value_get_uint(value); break;
        case PROP_MAX_SUBSCRIBERS: self->max_subscribers = g_value_get_uint(value); break;
        case PROP_MAX_HELD: self->max_held = g_value_get_uint(value); break;
        case PROP_PACKET_RING_BYTES: self->packet_ring_bytes = g_value_get_uint64(value); break;
        case PROP_DESCRIPTION:
            g_free(self->description);
            self->description = g_value_dup_string(value);
            break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_cuframes_sink_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
    GstCuframesSink *self = GST_CUFRAMES_SINK(object);
    GST_OBJECT_LOCK(self);
    switch (id) {
        case PROP_KEY: g_value_set_string(value, self->key); break;
        case PROP_DIR: g_value_set_string(value, self->dir); break;
        case PROP_SLOTS: g_value_set_uint(value, self->slots); break;
        case PROP_MAX_SUBSCRIBERS: g_value_set_uint(value, self->max_subscribers); break;
        case PROP_MAX_HELD: g_value_set_uint(value, self->max_held); break;
        case PROP_PACKET_RING_BYTES: g_value_set_uint64(value, self->packet_ring_bytes); break;
        case PROP_DESCRIPTION: g_value_set_string(value, self->description); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_cuframes_sink_finalize(GObject *object) {
    GstCuframesSink *self = GST_CUFRAMES_SINK(object);
    gst_cuframes_shared_leave(self->shared);
    gst_caps_replace(&self->caps, NULL);
    g_free(self->key);
    g_free(self->dir);
    g_free(self->description);
    G_OBJECT_CLASS(gst_cuframes_sink_parent_class)->finalize(object);
}

static void gst_cuframes_sink_init(GstCuframesSink *self) {
    self->packet_ring_bytes = DEFAULT_PACKET_RING_BYTES;
    gst_video_info_init(&self->info);
}

static void gst_cuframes_sink_class_init(GstCuframesSinkClass *klass) {
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
    GstBaseSinkClass *base_class = GST_BASE_SINK_CLASS(klass);
    GST_DEBUG_CATEGORY_INIT(gst_cuframes_sink_debug, "cuframessink", 0, "cuframes sink");

    object_class->set_property = gst_cuframes_sink_set_property;
    object_class->get_property = gst_cuframes_sink_get_property;
    object_class->finalize = gst_cuframes_sink_finalize;
    const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;
    g_object_class_install_property(
        object_class, PROP_KEY,
        g_param_spec_string("key", "Key",
                            "The cuframes key to publish under ([A-Za-z0-9._-], 1..64 characters); "
                            "required",
                            NULL, flags));
    g_object_class_install_property(
        object_class, PROP_DIR,
        g_param_spec_string("dir", "Directory", "Folder of the socket (NULL: $CUFRAMES_DIR, else /tmp/cuframes)", NULL,
                            flags));
    g_object_class_install_property(
        object_class, PROP_SLOTS,
        g_param_spec_uint("slots", "Slots",
                          "Frames in the pool (0: the library's default, 10); at least max-subscribers * max-held + 2",
                          0, 4096, 0, flags));
    g_object_class_install_property(object_class, PROP_MAX_SUBSCRIBERS,
                                    g_param_spec_uint("max-subscribers", "Max subscribers",
                                                      "Frame subscribers at once (0: the default, 4)", 0, 1024, 0,
                                                      flags));
    g_object_class_install_property(object_class, PROP_MAX_HELD,
                                    g_param_spec_uint("max-held", "Max held",
                                                      "Frames one subscriber may hold at once (0: the default, 2)", 0,
                                                      32, 0, flags));
    g_object_class_install_property(
        object_class, PROP_PACKET_RING_BYTES,
        g_param_spec_uint64("packet-ring-bytes", "Packet ring bytes",
                            "Size of the ring of encoded packets, for H.264/H.265 input or when a sink of packets "
                            "shares the key in this process (8 MiB holds several seconds of 1080p H.264)",
                            0, G_MAXUINT32, DEFAULT_PACKET_RING_BYTES, flags));
    g_object_class_install_property(
        object_class, PROP_DESCRIPTION,
        g_param_spec_string("description", "Description", "Free text that `cuframes ls` and `stat` show", NULL, flags));

    gst_element_class_add_static_pad_template(element_class, &sink_template);
    gst_element_class_set_static_metadata(
        element_class, "cuframes sink", "Sink/Video",
        "Publishes raw video (into the frame pool) or H.264/H.265 byte-stream (into the packet ring) under a "
        "cuframes key, for Python, C, FFmpeg and GStreamer readers; never waits for them",
        "cuframes");

    base_class->start = gst_cuframes_sink_start;
    base_class->stop = gst_cuframes_sink_stop;
    base_class->get_caps = gst_cuframes_sink_get_caps;
    base_class->set_caps = gst_cuframes_sink_set_caps;
    base_class->render = gst_cuframes_sink_render;
}
