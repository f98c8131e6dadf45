#include "gstcuframespublishers.h"

struct GstCuframesShared {
    gchar *name; /* dir '\n' key: the hash key */
    guint members;
    cuframes_publisher *publisher;
};

/* Guards the table and every entry's fields. Creation runs under it too: two sinks of
 * one key starting at once must not both create. */
static GMutex lock;
static GHashTable *table; /* name -> GstCuframesShared */

GstCuframesShared *gst_cuframes_shared_join(const gchar *dir, const gchar *key) {
    gchar *name = g_strconcat(dir != NULL ? dir : "", "\n", key, NULL);
    g_mutex_lock(&lock);
    if (table == NULL) table = g_hash_table_new(g_str_hash, g_str_equal);
    GstCuframesShared *shared = g_hash_table_lookup(table, name);
    if (shared == NULL) {
        shared = g_new0(GstCuframesShared, 1);
        shared->name = name;
        g_hash_table_insert(table, shared->name, shared);
    } else {
        g_free(name);
    }
    shared->members++;
    g_mutex_unlock(&lock);
    return shared;
}

void gst_cuframes_shared_leave(GstCuframesShared *shared) {
    if (shared == NULL) return;
    cuframes_publisher *gone = NULL;
    g_mutex_lock(&lock);
    if (--shared->members == 0) {
        g_hash_table_remove(table, shared->name);
        gone = shared->publisher;
        g_free(shared->name);
        g_free(shared);
    }
    g_mutex_unlock(&lock);
    /* Outside the lock: destroying tells the subscribers, which takes a moment. */
    cuframes_publisher_destroy(gone);
}

guint gst_cuframes_shared_members(GstCuframesShared *shared) {
    g_mutex_lock(&lock);
    const guint members = shared->members;
    g_mutex_unlock(&lock);
    return members;
}

cuframes_publisher *gst_cuframes_shared_publisher(GstCuframesShared *shared) {
    g_mutex_lock(&lock);
    cuframes_publisher *publisher = shared->publisher;
    g_mutex_unlock(&lock);
    return publisher;
}

cuframes_status gst_cuframes_shared_create(GstCuframesShared *shared, const cuframes_publisher_options *options) {
    cuframes_status status = CUFRAMES_ERR_KEY_IN_USE;
    g_mutex_lock(&lock);
    if (shared->publisher == NULL) {
        status = cuframes_publisher_create(options, &shared->publisher);
    }
    g_mutex_unlock(&lock);
    return status;
}
