/* cuframessrc: a live source that reads a cuframes key, frames or encoded packets.
 *
 * Frames from the host backend go downstream zero-copy: the buffer wraps the held
 * slot (a GstVideoMeta carries cuframes' 256-byte pitches) and releases the lease when
 * it is freed. Where downstream cannot read strides (no GstVideoMeta in the allocation
 * query), or still holds the last wrapped buffer (a queue), the frame is copied.
 * Timestamps are the pipeline's running time at which the producer published. */
#include "gstcuframessrc.h"

#include <time.h>

#include "gstcuframescommon.h"
#include "gstcuframessrcparts.h"

GST_DEBUG_CATEGORY(gst_cuframes_src_debug);
#define GST_CAT_DEFAULT gst_cuframes_src_debug

/* Each wait is cut into slices this long so that unlock() (a state change, a flush)
 * is seen promptly: cuframes_subscriber_close() would end the subscription for good. */
#define WAIT_SLICE_MS 100
#define DEFAULT_TIMEOUT_MS 10000

enum { PROP_0, PROP_KEY, PROP_DIR, PROP_DELIVERY, PROP_RECONNECT, PROP_TIMEOUT, PROP_OUTPUT };

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                            GST_STATIC_CAPS(GST_CUFRAMES_CUDA_CAPS GST_VIDEO_CAPS_MAKE(
                                GST_CUFRAMES_VIDEO_FORMATS) "; " GST_CUFRAMES_PACKET_CAPS));

G_DEFINE_TYPE(GstCuframesSrc, gst_cuframes_src, GST_TYPE_PUSH_SRC);

#define GST_TYPE_CUFRAMES_OUTPUT (gst_cuframes_output_get_type())
static GType gst_cuframes_output_get_type(void) {
    static GType type = 0;
    static const GEnumValue values[] = {
        {GST_CUFRAMES_OUTPUT_FRAMES, "Decoded frames: video/x-raw", "frames"},
        {GST_CUFRAMES_OUTPUT_PACKETS, "Encoded access units: video/x-h264 or video/x-h265, byte-stream", "packets"},
        {0, NULL, NULL},
    };
    if (g_once_init_enter(&type)) {
        GType registered = g_enum_register_static("GstCuframesOutput", values);
        g_once_init_leave(&type, registered);
    }
    return type;
}

static guint64 monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (guint64)now.tv_sec * GST_SECOND + (guint64)now.tv_nsec;
}

GstClockTime gst_cuframes_src_running_time_of(GstCuframesSrc *self, guint64 published_ns) {
    /* The producer stamps CLOCK_MONOTONIC; the pipeline's clock may be another one,
     * so carry the frame's age over rather than the stamp itself. */
    GstClock *clock = gst_element_get_clock(GST_ELEMENT(self));
    if (clock == NULL) return GST_CLOCK_TIME_NONE;
    const GstClockTime now = gst_clock_get_time(clock);
    gst_object_unref(clock);
    const GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
    const guint64 mono_now = monotonic_ns();
    const guint64 age = mono_now > published_ns ? mono_now - published_ns : 0;
    const GstClockTime at = now > age ? now - age : 0;
    return at > base ? at - base : 0;
}

/* Posts the error of a failed cuframes call, naming the key. */
GstFlowReturn gst_cuframes_src_fail(GstCuframesSrc *self, cuframes_status status, const gchar *what) {
    if (status == CUFRAMES_ERR_PRODUCER_DIED)
        GST_ELEMENT_ERROR(self, RESOURCE, READ, ("The producer of cuframes key '%s' died", self->key),
                          ("%s", cuframes_last_error()));
    else if (status == CUFRAMES_ERR_TIMEOUT)
        GST_ELEMENT_ERROR(self, RESOURCE, READ,
                          ("Nothing from cuframes key '%s' within timeout=%d ms", self->key, self->timeout_ms),
                          ("%s (raise the timeout property, or -1 to wait forever)", cuframes_last_error()));
    else
        GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Could not %s cuframes key '%s'", what, self->key),
                          ("%s: %s", cuframes_status_name(status), cuframes_last_error()));
    return GST_FLOW_ERROR;
}

gint gst_cuframes_src_next_slice(GstCuframesSrc *self, gint64 deadline_us) {
    if (self->timeout_ms < 0) return WAIT_SLICE_MS;
    const gint64 left_ms = (deadline_us - g_get_monotonic_time()) / 1000;
    return (gint)CLAMP(left_ms, 0, WAIT_SLICE_MS);
}

gboolean gst_cuframes_src_past(GstCuframesSrc *self, gint64 deadline_us) {
    return self->timeout_ms >= 0 && g_get_monotonic_time() >= deadline_us;
}

/* Opens the subscription (frames or packets) waiting at most wait_ms for the producer.
 * CUFRAMES_ERR_NOT_FOUND: not there yet. */
static cuframes_status connect(GstCuframesSrc *self, gint wait_ms) {
    if (self->output == GST_CUFRAMES_OUTPUT_PACKETS) {
        cuframes_packet_subscriber_options options;
        cuframes_packet_subscriber_options_init(&options);
        options.key = self->key;
        options.dir = self->dir;
        options.connect_timeout_ms = wait_ms;
        options.reconnect = self->reconnect ? 1 : 0;
        return cuframes_packet_subscriber_create(&options, &self->packet_subscriber);
    }
    cuframes_subscriber_options options;
    cuframes_subscriber_options_init(&options);
    options.key = self->key;
    options.dir = self->dir;
    options.connect_timeout_ms = wait_ms;
    options.delivery = self->delivery;
    options.reconnect = self->reconnect ? 1 : 0;
    return cuframes_subscriber_create(&options, &self->subscriber);
}

static gboolean connected(GstCuframesSrc *self) { return self->subscriber != NULL || self->packet_subscriber != NULL; }

static GstFlowReturn ensure_connected(GstCuframesSrc *self, gint64 deadline_us) {
    while (!connected(self)) {
        if (g_atomic_int_get(&self->flushing)) return GST_FLOW_FLUSHING;
        const cuframes_status status = connect(self, gst_cuframes_src_next_slice(self, deadline_us));
        if (status == CUFRAMES_OK) break;
        if (status != CUFRAMES_ERR_NOT_FOUND) return gst_cuframes_src_fail(self, status, "subscribe to");
        if (gst_cuframes_src_past(self, deadline_us)) {
            GST_ELEMENT_ERROR(
                self, RESOURCE, NOT_FOUND,
                ("No producer for cuframes key '%s' within timeout=%d ms", self->key, self->timeout_ms),
                ("%s (is the producer running, with the same dir or $CUFRAMES_DIR?)", cuframes_last_error()));
            return GST_FLOW_ERROR;
        }
    }
    return GST_FLOW_OK;
}

gboolean gst_cuframes_src_update_caps(GstCuframesSrc *self, GstCaps *caps) {
    /* Takes caps. Negotiating again (and the allocation query with it) only when they
     * changed: a restarted producer may describe its stream differently. */
    if (self->caps != NULL && gst_caps_is_equal(self->caps, caps)) {
        gst_caps_unref(caps);
        return TRUE;
    }
    gst_caps_replace(&self->caps, caps);
    gst_caps_unref(caps);
    GST_INFO_OBJECT(self, "caps %" GST_PTR_FORMAT, self->caps);
    return gst_base_src_negotiate(GST_BASE_SRC(self));
}

/* ---- GstBaseSrc ---- */

static GstFlowReturn gst_cuframes_src_create(GstPushSrc *push, GstBuffer **out) {
    GstCuframesSrc *self = GST_CUFRAMES_SRC(push);
    const gint64 deadline_us = g_get_monotonic_time() + (gint64)MAX(self->timeout_ms, 0) * 1000;
    GstFlowReturn ret = ensure_connected(self, deadline_us);
    if (ret != GST_FLOW_OK) return ret;
    if (self->output == GST_CUFRAMES_OUTPUT_PACKETS) return gst_cuframes_src_create_packet(self, deadline_us, out);
    return gst_cuframes_src_create_frame(self, deadline_us, out);
}

static gboolean gst_cuframes_src_negotiate(GstBaseSrc *base) {
    /* The caps come from the first frame or packet; until then there is nothing to say. */
    GstCuframesSrc *self = GST_CUFRAMES_SRC(base);
    return self->caps == NULL || gst_base_src_set_caps(base, self->caps);
}

static gboolean gst_cuframes_src_decide_allocation(GstBaseSrc *base, GstQuery *query) {
    GstCuframesSrc *self = GST_CUFRAMES_SRC(base);
    self->downstream_video_meta = gst_query_find_allocation_meta(query, GST_VIDEO_META_API_TYPE, NULL);
    GST_DEBUG_OBJECT(self, "downstream reads GstVideoMeta: %d", self->downstream_video_meta);
    return GST_BASE_SRC_CLASS(gst_cuframes_src_parent_class)->decide_allocation(base, query);
}

static gboolean gst_cuframes_src_query(GstBaseSrc *base, GstQuery *query) {
    GstCuframesSrc *self = GST_CUFRAMES_SRC(base);
    if (GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
        /* A frame is pushed as soon as it is published: one frame period of capture latency,
         * as a camera source reports; unlimited at most, since nothing queues here. */
        GstClockTime min = 33 * GST_MSECOND;
        if (self->facts.frame_rate.num > 0 && self->facts.frame_rate.den > 0)
            min = gst_util_uint64_scale(GST_SECOND, self->facts.frame_rate.den, self->facts.frame_rate.num);
        gst_query_set_latency(query, TRUE, min, GST_CLOCK_TIME_NONE);
        return TRUE;
    }
#ifdef CUFRAMES_GST_CUDA
    if (GST_QUERY_TYPE(query) == GST_QUERY_CONTEXT &&
        gst_cuda_handle_context_query(GST_ELEMENT(self), query, self->cuda_context))
        return TRUE;
#endif
    return GST_BASE_SRC_CLASS(gst_cuframes_src_parent_class)->query(base, query);
}

#ifdef CUFRAMES_GST_CUDA
static void gst_cuframes_src_set_context(GstElement *element, GstContext *context) {
    GstCuframesSrc *self = GST_CUFRAMES_SRC(element);
    gst_cuda_handle_set_context(element, context, -1, &self->cuda_context);
    GST_ELEMENT_CLASS(gst_cuframes_src_parent_class)->set_context(element, context);
}

static void release_cuda(GstCuframesSrc *self) {
    if (self->cuda_pool != NULL) gst_buffer_pool_set_active(self->cuda_pool, FALSE);
    gst_clear_object(&self->cuda_pool);
    gst_clear_object(&self->cuda_context);
}
#else
static void release_cuda(GstCuframesSrc *self) { (void)self; }
#endif

static void disconnect(GstCuframesSrc *self) {
    /* Wrapped buffers still downstream keep their frames: they outlive the subscriber. */
    cuframes_subscriber_destroy(self->subscriber);
    self->subscriber = NULL;
    cuframes_packet_subscriber_destroy(self->packet_subscriber);
    self->packet_subscriber = NULL;
}

static gboolean gst_cuframes_src_start(GstBaseSrc *base) {
    GstCuframesSrc *self = GST_CUFRAMES_SRC(base);
    if (self->key == NULL || self->key[0] == '\0') {
        GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("cuframessrc has no key"),
                          ("set key=NAME, the key the producer publishes under"));
        return FALSE;
    }
    gst_caps_replace(&self->caps, NULL);
    cuframes_stream_facts_init(&self->facts);
    self->have_offset = FALSE;
    self->pending_discont = FALSE;
    /* A first look without waiting: a key, folder or permission the library refuses is
     * an error now, at the state change; a producer not there yet is waited for in create. */
    const cuframes_status status = connect(self, 0);
    if (status != CUFRAMES_OK && status != CUFRAMES_ERR_NOT_FOUND) {
        gst_cuframes_src_fail(self, status, "subscribe to");
        return FALSE;
    }
    return TRUE;
}

static gboolean gst_cuframes_src_stop(GstBaseSrc *base) {
    GstCuframesSrc *self = GST_CUFRAMES_SRC(base);
    disconnect(self);
    gst_caps_replace(&self->caps, NULL);
    g_clear_pointer(&self->packet_scratch, g_free);
    self->packet_capacity = 0;
    self->cuda_output = FALSE;
    self->wrap_refused = FALSE;
    release_cuda(self);
    return TRUE;
}

static gboolean gst_cuframes_src_unlock(GstBaseSrc *base) {
    g_atomic_int_set(&GST_CUFRAMES_SRC(base)->flushing, 1);
    return TRUE;
}

static gboolean gst_cuframes_src_unlock_stop(GstBaseSrc *base) {
    g_atomic_int_set(&GST_CUFRAMES_SRC(base)->flushing, 0);
    return TRUE;
}

static void gst_cuframes_src_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
    GstCuframesSrc *self = GST_CUFRAMES_SRC(object);
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
        case PROP_DELIVERY: self->delivery = (cuframes_delivery)g_value_get_enum(value); break;
        case PROP_RECONNECT: self->reconnect = g_value_get_boolean(value); break;
        case PROP_TIMEOUT: self->timeout_ms = g_value_get_int(value); break;
        case PROP_OUTPUT: self->output = (GstCuframesOutput)g_value_get_enum(value); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_cuframes_src_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
    GstCuframesSrc *self = GST_CUFRAMES_SRC(object);
    GST_OBJECT_LOCK(self);
    switch (id) {
        case PROP_KEY: g_value_set_string(value, self->key); break;
        case PROP_DIR: g_value_set_string(value, self->dir); break;
        case PROP_DELIVERY: g_value_set_enum(value, self->delivery); break;
        case PROP_RECONNECT: g_value_set_boolean(value, self->reconnect); break;
        case PROP_TIMEOUT: g_value_set_int(value, self->timeout_ms); break;
        case PROP_OUTPUT: g_value_set_enum(value, self->output); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_cuframes_src_finalize(GObject *object) {
    GstCuframesSrc *self = GST_CUFRAMES_SRC(object);
    disconnect(self);
    release_cuda(self);
    gst_caps_replace(&self->caps, NULL);
    g_free(self->packet_scratch);
    g_free(self->key);
    g_free(self->dir);
    g_atomic_rc_box_release(self->outstanding);
    G_OBJECT_CLASS(gst_cuframes_src_parent_class)->finalize(object);
}

static void gst_cuframes_src_init(GstCuframesSrc *self) {
    self->delivery = CUFRAMES_DELIVERY_LATEST;
    self->timeout_ms = DEFAULT_TIMEOUT_MS;
    self->output = GST_CUFRAMES_OUTPUT_FRAMES;
    gst_video_info_init(&self->info);
    cuframes_stream_facts_init(&self->facts);
    self->outstanding = g_atomic_rc_box_new0(gint);
    gst_base_src_set_live(GST_BASE_SRC(self), TRUE);
    gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
}

static void gst_cuframes_src_class_init(GstCuframesSrcClass *klass) {
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
    GstBaseSrcClass *base_class = GST_BASE_SRC_CLASS(klass);
    GST_DEBUG_CATEGORY_INIT(gst_cuframes_src_debug, "cuframessrc", 0, "cuframes source");

    object_class->set_property = gst_cuframes_src_set_property;
    object_class->get_property = gst_cuframes_src_get_property;
    object_class->finalize = gst_cuframes_src_finalize;
    const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;
    g_object_class_install_property(
        object_class, PROP_KEY,
        g_param_spec_string("key", "Key", "The cuframes key to read ([A-Za-z0-9._-], 1..64 characters); required", NULL,
                            flags));
    g_object_class_install_property(
        object_class, PROP_DIR,
        g_param_spec_string("dir", "Directory",
                            "Folder of the producers' sockets (NULL: $CUFRAMES_DIR, else /tmp/cuframes)", NULL, flags));
    g_object_class_install_property(object_class, PROP_DELIVERY,
                                    g_param_spec_enum("delivery", "Delivery",
                                                      "Which frame comes next when this reader falls behind (frames)",
                                                      GST_TYPE_CUFRAMES_DELIVERY, CUFRAMES_DELIVERY_LATEST, flags));
    g_object_class_install_property(
        object_class, PROP_RECONNECT,
        g_param_spec_boolean("reconnect", "Reconnect",
                             "When the producer closes or dies, wait for its successor and carry on (the first "
                             "buffer after it flagged DISCONT); false: EOS on a close, an error on a crash",
                             FALSE, flags));
    g_object_class_install_property(
        object_class, PROP_TIMEOUT,
        g_param_spec_int("timeout", "Timeout",
                         "Milliseconds to wait for the producer and for each frame or packet before posting an "
                         "error (-1: forever)",
                         -1, G_MAXINT, DEFAULT_TIMEOUT_MS, flags));
    g_object_class_install_property(
        object_class, PROP_OUTPUT,
        g_param_spec_enum("output", "Output", "What to read: the decoded frames or the encoded packets of the key",
                          GST_TYPE_CUFRAMES_OUTPUT, GST_CUFRAMES_OUTPUT_FRAMES, flags));

    gst_element_class_add_static_pad_template(element_class, &src_template);
    gst_element_class_set_static_metadata(
        element_class, "cuframes source", "Source/Video",
        "Reads the frames or encoded packets that a cuframes producer publishes under a key (zero-copy on the host "
        "backend)",
        "cuframes");
    gst_type_mark_as_plugin_api(GST_TYPE_CUFRAMES_OUTPUT, 0);
    gst_type_mark_as_plugin_api(GST_TYPE_CUFRAMES_DELIVERY, 0);

#ifdef CUFRAMES_GST_CUDA
    element_class->set_context = gst_cuframes_src_set_context;
#endif
    base_class->start = gst_cuframes_src_start;
    base_class->stop = gst_cuframes_src_stop;
    base_class->unlock = gst_cuframes_src_unlock;
    base_class->unlock_stop = gst_cuframes_src_unlock_stop;
    base_class->negotiate = gst_cuframes_src_negotiate;
    base_class->decide_allocation = gst_cuframes_src_decide_allocation;
    base_class->query = gst_cuframes_src_query;
    GST_PUSH_SRC_CLASS(klass)->create = gst_cuframes_src_create;
}
