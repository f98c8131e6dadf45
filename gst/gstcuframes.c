/* The cuframes GStreamer plugin: cuframessrc and cuframessink, over libcuframes' C ABI. */
#include <gst/gst.h>

#include "gstcuframessink.h"
#include "gstcuframessrc.h"

static gboolean plugin_init(GstPlugin *plugin) {
    if (cuframes_abi_version() < CUFRAMES_ABI_VERSION) {
        GST_ERROR("libcuframes %s is older than the cuframes.h this plugin was built with (ABI %u < %u)",
                  cuframes_version(), cuframes_abi_version(), (unsigned)CUFRAMES_ABI_VERSION);
        return FALSE;
    }
    return gst_element_register(plugin, "cuframessrc", GST_RANK_NONE, GST_TYPE_CUFRAMES_SRC) &&
           gst_element_register(plugin, "cuframessink", GST_RANK_NONE, GST_TYPE_CUFRAMES_SINK);
}

#define PACKAGE "cuframes"
/* The project states no license yet: "unknown" is the value GStreamer accepts for that. */
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, cuframes,
                  "Zero-copy sharing of video frames and encoded packets between processes (cuframes)", plugin_init,
                  CUFRAMES_GST_VERSION, "unknown", "cuframes", "docs/gstreamer.md")
