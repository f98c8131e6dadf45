/* cuframessrc output=frames: the key's frames as video/x-raw, in system memory (the slot
 * wrapped where downstream reads strides, else copied) or, from a cuda producer, in the
 * pipeline's CUDA memory where downstream takes it (gstcuframescuda.h). */
#include <string.h>

#include "gstcuframescommon.h"
#include "gstcuframessrcparts.h"

GST_DEBUG_CATEGORY_EXTERN(gst_cuframes_src_debug);
#define GST_CAT_DEFAULT gst_cuframes_src_debug

/* Frames of a cuda producer go downstream in CUDA memory where downstream takes it. */
static GstCaps *with_cuda_if_accepted(GstCuframesSrc *self, GstCaps *caps) {
    self->cuda_output = FALSE;
    self->wrap_refused = FALSE;
#ifdef CUFRAMES_GST_CUDA
    if (gst_cuframes_subscriber_backend(self->subscriber) != CUFRAMES_BACKEND_CUDA || !gst_cuframes_cuda_usable() ||
        !gst_cuda_ensure_element_context(GST_ELEMENT(self), -1, &self->cuda_context))
        return caps;
    GstCaps *cuda_caps = gst_caps_copy(caps);
    gst_caps_set_features(cuda_caps, 0, gst_caps_features_new(GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY, NULL));
    if (!gst_pad_peer_query_accept_caps(GST_BASE_SRC_PAD(self), cuda_caps)) {
        gst_caps_unref(cuda_caps);
        return caps;
    }
    if (self->cuda_pool != NULL) gst_buffer_pool_set_active(self->cuda_pool, FALSE);
    gst_clear_object(&self->cuda_pool);
    self->cuda_pool = gst_cuda_buffer_pool_new(self->cuda_context);
    GstStructure *config = gst_buffer_pool_get_config(self->cuda_pool);
    gst_buffer_pool_config_set_params(config, cuda_caps, GST_VIDEO_INFO_SIZE(&self->info), 2, 0);
    gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
    if (!gst_buffer_pool_set_config(self->cuda_pool, config) || !gst_buffer_pool_set_active(self->cuda_pool, TRUE)) {
        GST_WARNING_OBJECT(self, "no CUDA buffer pool: frames go in system memory");
        gst_clear_object(&self->cuda_pool);
        gst_caps_unref(cuda_caps);
        return caps;
    }
    gst_caps_unref(caps);
    self->cuda_output = TRUE;
    return cuda_caps;
#else
    return caps;
#endif
}

static gboolean frame_caps(GstCuframesSrc *self, const cuframes_frame_info *frame) {
    const GstVideoFormat format = gst_cuframes_to_video_format(frame->format);
    if (format == GST_VIDEO_FORMAT_UNKNOWN) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("cuframes key '%s' carries a pixel format GStreamer lacks", self->key),
                          ("cuframes format %d", (int)frame->format));
        return FALSE;
    }
    cuframes_stream_facts_init(&self->facts);
    if (cuframes_subscriber_stream_facts(self->subscriber, &self->facts) != CUFRAMES_OK)
        GST_WARNING_OBJECT(self, "no stream facts: %s", cuframes_last_error());
    gst_video_info_set_format(&self->info, format, frame->width, frame->height);
    gst_cuframes_facts_to_info(&self->facts, &self->info);
    if (!gst_cuframes_src_update_caps(self, with_cuda_if_accepted(self, gst_video_info_to_caps(&self->info)))) {
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Downstream refuses the caps of cuframes key '%s'", self->key),
                          ("%" GST_PTR_FORMAT, self->caps));
        return FALSE;
    }
    return TRUE;
}

/* Copies the planes of a frame at src (slot layout) into a buffer of the default layout. */
static GstBuffer *copy_frame(GstCuframesSrc *self, const cuframes_frame_info *frame, const guint8 *src) {
    GstBuffer *buffer = gst_buffer_new_allocate(NULL, GST_VIDEO_INFO_SIZE(&self->info), NULL);
    GstVideoFrame out;
    if (buffer == NULL || !gst_video_frame_map(&out, &self->info, buffer, GST_MAP_WRITE)) {
        if (buffer != NULL) gst_buffer_unref(buffer);
        return NULL;
    }
    for (guint p = 0; p < frame->plane_count && p < GST_VIDEO_FRAME_N_PLANES(&out); ++p) {
        const cuframes_plane *plane = &frame->planes[p];
        guint8 *dst = GST_VIDEO_FRAME_PLANE_DATA(&out, p);
        const gint stride = GST_VIDEO_FRAME_PLANE_STRIDE(&out, p);
        for (guint row = 0; row < plane->height; ++row)
            memcpy(dst + (gsize)row * stride, src + plane->offset + (gsize)row * plane->pitch, plane->row_bytes);
    }
    gst_video_frame_unmap(&out);
    return buffer;
}

/* A wrapped slot: freeing the buffer releases the frame and counts it back in. The
 * counter is reference-counted: a buffer may outlive the element. */
typedef struct {
    cuframes_frame *frame;
    gint *outstanding;
} Lease;

/* Ends the lease without releasing its frame, which it returns. */
static cuframes_frame *lease_undo(Lease *lease) {
    cuframes_frame *frame = lease->frame;
    g_atomic_int_dec_and_test(lease->outstanding);
    g_atomic_rc_box_release(lease->outstanding);
    g_free(lease);
    return frame;
}

static void lease_free(gpointer data) { cuframes_frame_release(lease_undo(data)); }

/* A lease on a held frame, counted as downstream until lease_free. Takes the frame. */
static Lease *lease_new(GstCuframesSrc *self, cuframes_frame *held) {
    Lease *lease = g_new(Lease, 1);
    lease->frame = held;
    lease->outstanding = g_atomic_rc_box_acquire(self->outstanding);
    g_atomic_int_inc(lease->outstanding);
    return lease;
}

/* The frame's slot, wrapped: freeing the buffer gives the slot back. Takes the frame. */
static GstBuffer *wrap_frame(GstCuframesSrc *self, const cuframes_frame_info *frame, cuframes_frame *held) {
    Lease *lease = lease_new(self, held);
    GstBuffer *buffer = gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY, (gpointer)(uintptr_t)frame->data,
                                                    frame->size, 0, frame->size, lease, lease_free);
    gsize offsets[GST_VIDEO_MAX_PLANES] = {0};
    gint strides[GST_VIDEO_MAX_PLANES] = {0};
    for (guint p = 0; p < frame->plane_count && p < GST_VIDEO_MAX_PLANES; ++p) {
        offsets[p] = frame->planes[p].offset;
        strides[p] = (gint)frame->planes[p].pitch;
    }
    gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&self->info), frame->width,
                                   frame->height, frame->plane_count, offsets, strides);
    return buffer;
}

/* A frame in device memory: a packed copy through the library, described by a GstVideoMeta
 * (or, for elements that read no strides, copied again into GStreamer's layout). */
static cuframes_status read_packed(GstCuframesSrc *self, gint wait_ms, cuframes_frame_info *frame, GstBuffer **out) {
    const guint64 size = cuframes_subscriber_packed_size(self->subscriber);
    GstBuffer *buffer = gst_buffer_new_allocate(NULL, size, NULL);
    GstMapInfo map;
    gst_buffer_map(buffer, &map, GST_MAP_WRITE); /* fresh system memory: always mappable */
    cuframes_frame_info_init(frame);
    const cuframes_status status =
        cuframes_subscriber_read_into(self->subscriber, wait_ms, map.data, size, NULL, frame);
    if (status != CUFRAMES_OK) {
        gst_buffer_unmap(buffer, &map);
        gst_buffer_unref(buffer);
        return status;
    }
    /* The planes as read_into packed them: one after the other, rows without padding. */
    cuframes_frame_info packed = *frame;
    gsize offsets[GST_VIDEO_MAX_PLANES] = {0};
    gint strides[GST_VIDEO_MAX_PLANES] = {0};
    gsize offset = 0;
    for (guint p = 0; p < frame->plane_count && p < GST_VIDEO_MAX_PLANES; ++p) {
        packed.planes[p].offset = offsets[p] = offset;
        packed.planes[p].pitch = packed.planes[p].row_bytes;
        strides[p] = (gint)frame->planes[p].row_bytes;
        offset += (gsize)frame->planes[p].row_bytes * frame->planes[p].height;
    }
    if (self->downstream_video_meta) {
        gst_buffer_unmap(buffer, &map);
        gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&self->info),
                                       frame->width, frame->height, frame->plane_count, offsets, strides);
        *out = buffer;
    } else {
        *out = copy_frame(self, &packed, map.data);
        gst_buffer_unmap(buffer, &map);
        gst_buffer_unref(buffer);
    }
    return CUFRAMES_OK;
}

/* A held frame of a cuda producer in the pipeline's CUDA memory: the slot itself where
 * GStreamer can wrap foreign memory (1.24) and no wrapped buffer is downstream, else a
 * copy. Takes held. */
static cuframes_status device_frame(GstCuframesSrc *self, const cuframes_frame_info *frame, cuframes_frame *held,
                                    GstBuffer **out, GstFlowReturn *flow) {
#ifdef CUFRAMES_GST_CUDA
#ifdef CUFRAMES_GST_CUDA_WRAP
    if (self->cuda_output && !self->wrap_refused && g_atomic_int_get(self->outstanding) == 0) {
        Lease *lease = lease_new(self, held);
        *out = gst_cuframes_cuda_wrap_slot(self->cuda_context, &self->info, frame, lease, lease_free);
        if (*out != NULL) {
            /* What downstream will map, read back: scripts/gst-gpu-check.sh checks these lines. */
            if (gst_debug_category_get_threshold(GST_CAT_DEFAULT) >= GST_LEVEL_DEBUG)
                GST_DEBUG_OBJECT(self,
                                 "frame %" G_GUINT64_FORMAT
                                 ": zero-copy: the buffer's CUDA memory is at 0x%" G_GINT64_MODIFIER
                                 "x, the slot at 0x%" G_GINT64_MODIFIER "x",
                                 frame->seq, gst_cuframes_cuda_buffer_address(*out), frame->data);
            return CUFRAMES_OK;
        }
        /* gst-cuda refused to wrap it (and logged why): its preconditions do not change from
         * frame to frame, so this and the next frames of these caps are copied, said once. */
        GST_WARNING_OBJECT(self, "could not wrap the slot of frame %" G_GUINT64_FORMAT "; copying the frames",
                           frame->seq);
        self->wrap_refused = TRUE;
        held = lease_undo(lease);
    }
#endif
    if (self->cuda_output) {
        GError *error = NULL;
        *flow = gst_cuframes_cuda_download_slot(self->cuda_context, self->cuda_pool, frame, out, &error);
        if (*flow == GST_FLOW_OK)
            GST_DEBUG_OBJECT(self, "frame %" G_GUINT64_FORMAT ": copied from the slot at 0x%" G_GINT64_MODIFIER "x",
                             frame->seq, frame->data);
        cuframes_frame_release(held);
        if (*flow == GST_FLOW_ERROR)
            GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Could not copy a frame of cuframes key '%s'", self->key),
                              ("%s", error != NULL ? error->message : "?"));
        g_clear_error(&error);
        return CUFRAMES_OK;
    }
#else
    (void)self;
    (void)frame;
    (void)out;
    (void)flow;
#endif
    /* Downstream takes system memory: this frame only chose the caps, and the next ones
     * come through the library's device-to-host copy (next_frame). */
    cuframes_frame_release(held);
    return CUFRAMES_ERR_TIMEOUT;
}

/* Waits one slice for a frame and makes it a buffer (*out stays NULL when none came).
 * Returns the status of the wait; a GstFlowReturn other than OK in *flow ends create(). */
static cuframes_status next_frame(GstCuframesSrc *self, gint wait_ms, cuframes_frame_info *frame, GstBuffer **out,
                                  GstFlowReturn *flow) {
    cuframes_frame *held = NULL;
    cuframes_frame_info_init(frame);
    *out = NULL;
    const gboolean device_memory = gst_cuframes_subscriber_backend(self->subscriber) != CUFRAMES_BACKEND_HOST;
    gboolean copied = FALSE;
    cuframes_status status;
    if (device_memory && self->caps != NULL && !self->cuda_output) {
        status = read_packed(self, wait_ms, frame, out);
        copied = TRUE;
    } else {
        status = cuframes_subscriber_next(self->subscriber, wait_ms, &held);
        if (status == CUFRAMES_ERR_LIMIT) {
            /* Only with a producer lending one frame (max_held 1) while a wrapped one is
             * downstream: wait for it to come back. */
            GST_DEBUG_OBJECT(self, "every lease is downstream: waiting for one");
            return CUFRAMES_ERR_TIMEOUT;
        }
        if (status == CUFRAMES_OK) cuframes_frame_get_info(held, frame);
    }
    if (status != CUFRAMES_OK) return status;
    /* Caps from the first frame, and again after a restarted producer. */
    if ((self->caps == NULL || frame->reconnected) && !frame_caps(self, frame)) {
        cuframes_frame_release(held);
        if (*out != NULL) gst_buffer_unref(*out);
        *out = NULL;
        *flow = GST_FLOW_NOT_NEGOTIATED;
        return status;
    }
    if (copied) return status;
    if (device_memory) return device_frame(self, frame, held, out, flow);
    /* Zero-copy while no wrapped buffer is downstream: a lease (max_held, at least 2 by
     * default) then stays free for the next frame. Queues that hold buffers get copies. */
    if (self->downstream_video_meta && g_atomic_int_get(self->outstanding) == 0) {
        *out = wrap_frame(self, frame, held);
    } else {
        if (self->downstream_video_meta) GST_DEBUG_OBJECT(self, "a wrapped buffer is downstream: a copy");
        *out = copy_frame(self, frame, (const guint8 *)(uintptr_t)frame->data);
        cuframes_frame_release(held);
    }
    return status;
}

GstFlowReturn gst_cuframes_src_create_frame(GstCuframesSrc *self, gint64 deadline_us, GstBuffer **out) {
    cuframes_frame_info frame;
    for (;;) {
        if (g_atomic_int_get(&self->flushing)) return GST_FLOW_FLUSHING;
        GstFlowReturn flow = GST_FLOW_OK;
        const cuframes_status status =
            next_frame(self, gst_cuframes_src_next_slice(self, deadline_us), &frame, out, &flow);
        if (flow != GST_FLOW_OK) return flow;
        if (*out != NULL) break;
        if (status == CUFRAMES_ERR_DISCONNECTED) return GST_FLOW_EOS; /* the producer closed its stream */
        if (status == CUFRAMES_ERR_STATE && g_atomic_int_get(&self->flushing)) return GST_FLOW_FLUSHING;
        if (status != CUFRAMES_OK && status != CUFRAMES_ERR_TIMEOUT)
            return gst_cuframes_src_fail(self, status, "read a frame of");
        if (gst_cuframes_src_past(self, deadline_us))
            return gst_cuframes_src_fail(self, CUFRAMES_ERR_TIMEOUT, "read a frame of");
    }
    GST_BUFFER_PTS(*out) = gst_cuframes_src_running_time_of(self, frame.timestamp_ns);
    GST_BUFFER_DTS(*out) = GST_CLOCK_TIME_NONE;
    if (GST_VIDEO_INFO_FPS_N(&self->info) > 0)
        GST_BUFFER_DURATION(*out) =
            gst_util_uint64_scale(GST_SECOND, GST_VIDEO_INFO_FPS_D(&self->info), GST_VIDEO_INFO_FPS_N(&self->info));
    GST_BUFFER_OFFSET(*out) = frame.seq;
    if (frame.reconnected) GST_BUFFER_FLAG_SET(*out, GST_BUFFER_FLAG_DISCONT);
    return GST_FLOW_OK;
}
