/* The publishers of this process's cuframessink elements, shared by key.
 *
 * One producer owns a key, yet a pipeline may fill both of its rings from two sinks:
 * `decode ! cuframessink key=cam1` beside `parse ! cuframessink key=cam1`. The sink of
 * raw video creates the publisher (its frame pool needs the decoded format) with a
 * packet ring; the sink of packets uses that publisher. A packet sink alone on its key
 * creates its own publisher, with a frame pool that stays unused. */
#ifndef GST_CUFRAMES_PUBLISHERS_H
#define GST_CUFRAMES_PUBLISHERS_H

#include <cuframes/cuframes.h>
#include <glib.h>

G_BEGIN_DECLS

typedef struct GstCuframesShared GstCuframesShared;

/* A sink of this key is starting: the entry (created on first use) with one more member. */
GstCuframesShared *gst_cuframes_shared_join(const gchar *dir, const gchar *key);
/* The sink stopped; the last one out destroys the publisher. NULL is allowed. */
void gst_cuframes_shared_leave(GstCuframesShared *shared);
/* Sinks of the key in this process (joined and not yet left). */
guint gst_cuframes_shared_members(GstCuframesShared *shared);
/* The publisher, once created (by either sink): borrowed until leave. */
cuframes_publisher *gst_cuframes_shared_publisher(GstCuframesShared *shared);
/* Creates the publisher when there is none yet; CUFRAMES_ERR_KEY_IN_USE when another
 * sink of this process already made it. */
cuframes_status gst_cuframes_shared_create(GstCuframesShared *shared, const cuframes_publisher_options *options);

G_END_DECLS

#endif /* GST_CUFRAMES_PUBLISHERS_H */
