/* What the parts of cuframessrc share: the element (gstcuframessrc.c) and its frame and
 * packet halves (gstcuframessrcframes.c, gstcuframessrcpackets.c). Not a public interface. */
#ifndef GST_CUFRAMES_SRC_PARTS_H
#define GST_CUFRAMES_SRC_PARTS_H

#include "gstcuframessrc.h"

G_BEGIN_DECLS

/* The running time at which the producer published (its CLOCK_MONOTONIC stamp). */
GstClockTime gst_cuframes_src_running_time_of(GstCuframesSrc *self, guint64 published_ns);
/* Posts the error of a failed cuframes call naming the key; returns GST_FLOW_ERROR. */
GstFlowReturn gst_cuframes_src_fail(GstCuframesSrc *self, cuframes_status status, const gchar *what);
/* Milliseconds of the next wait: a slice, or what is left before the deadline. */
gint gst_cuframes_src_next_slice(GstCuframesSrc *self, gint64 deadline_us);
/* TRUE once the timeout property's deadline (g_get_monotonic_time) has passed. */
gboolean gst_cuframes_src_past(GstCuframesSrc *self, gint64 deadline_us);
/* Sets new caps (taking them) and negotiates, unless they equal the current ones. */
gboolean gst_cuframes_src_update_caps(GstCuframesSrc *self, GstCaps *caps);
/* create() for output=frames, once subscribed. */
GstFlowReturn gst_cuframes_src_create_frame(GstCuframesSrc *self, gint64 deadline_us, GstBuffer **out);
/* create() for output=packets, once subscribed. */
GstFlowReturn gst_cuframes_src_create_packet(GstCuframesSrc *self, gint64 deadline_us, GstBuffer **out);

G_END_DECLS

#endif /* GST_CUFRAMES_SRC_PARTS_H */
