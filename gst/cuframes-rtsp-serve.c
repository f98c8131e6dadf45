/* cuframes-rtsp-serve: an RTSP server (GStreamer's gst-rtsp-server) that serves the packet
 * ring of each cuframes key as rtsp://HOST:PORT/KEY, run by `cuframes serve` (docs/deployment.md).
 *
 *   cuframes-rtsp-serve [--port 8554] [--bind 0.0.0.0] [--dir DIR] [--user NAME [--digest]]
 *                       [--rescan-ms 1000] (--all | KEY...)
 *
 * The password of --user comes from $CUFRAMES_SERVE_PASSWORD (never from argv, which `ps`
 * shows). Prints "ready rtsp://BIND:PORT/" once it listens (--port 0: a free port), then
 * "serving KEY" and "gone KEY" as producers come and go, on stdout, flushed.
 *
 * Each client gets its own small pipeline, cuframessrc output=packets reconnect=true ! parse !
 * pay: a packet subscriber joins the ring at its latest keyframe with the parameter sets in
 * front, so every client starts at a keyframe, and follows producer restarts. The producer
 * never waits for a subscriber, each client reads through its own, and gst-rtsp-server bounds
 * the send backlog it keeps per TCP client, so a stalled client slows no one.
 * Exit codes: 0 on SIGTERM/SIGINT, 2 on bad arguments or a missing GStreamer element,
 * 3 when the address cannot be bound. */
#include <cuframes/cuframes.h>
#include <glib-unix.h>
#include <gst/base/gstbasesink.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_USAGE = 2, EXIT_BIND = 3 };
#define PROBE_TIMEOUT_MS 3000
#define CLIENT_THREADS 16
#define ROLE "cuframes"

typedef struct {
    const gchar *dir;
    gchar **keys; /* NULL with --all */
    GstRTSPServer *server;
    GstRTSPAuth *auth;   /* NULL without --user */
    GHashTable *mounted; /* the keys served now */
} Serve;

/* ---- the codec of a key, from its first packet ---- */

/* The key's codec ("h264", "h265"), or NULL with *why set (to free). */
static const gchar *probe_codec(const gchar *key, const gchar *dir, gchar **why) {
    cuframes_packet_subscriber_options options;
    cuframes_packet_subscriber_options_init(&options);
    options.key = key;
    options.dir = dir;
    options.connect_timeout_ms = PROBE_TIMEOUT_MS;
    cuframes_packet_subscriber *subscriber = NULL;
    cuframes_status status = cuframes_packet_subscriber_create(&options, &subscriber);
    if (status != CUFRAMES_OK) {
        *why = g_strdup_printf("%s: %s", cuframes_status_name(status), cuframes_last_error());
        return NULL;
    }
    cuframes_packet_info info;
    cuframes_packet_info_init(&info);
    /* No room for the data: CUFRAMES_ERR_LIMIT still says what the packet is. */
    status = cuframes_packet_subscriber_next(subscriber, PROBE_TIMEOUT_MS, NULL, 0, &info);
    const gchar *codec = NULL;
    if (status == CUFRAMES_OK || status == CUFRAMES_ERR_LIMIT) {
        codec = info.codec == CUFRAMES_CODEC_HEVC ? "h265" : info.codec == CUFRAMES_CODEC_H264 ? "h264" : NULL;
        if (codec == NULL) *why = g_strdup_printf("an unknown codec (%d)", (int)info.codec);
    } else {
        *why = g_strdup_printf("no packet within %d ms (%s: %s)", PROBE_TIMEOUT_MS, cuframes_status_name(status),
                               cuframes_last_error());
    }
    cuframes_packet_subscriber_destroy(subscriber);
    return codec;
}

/* ---- a media factory per key: one pipeline per client ---- */

typedef struct {
    GstRTSPMediaFactory parent;
    gchar *key;
    gchar *dir;
} CfFactory;
typedef struct {
    GstRTSPMediaFactoryClass parent_class;
} CfFactoryClass;
G_DEFINE_TYPE(CfFactory, cf_factory, GST_TYPE_RTSP_MEDIA_FACTORY)

static GstElement *make(GstBin *bin, const gchar *factory, const gchar *name) {
    GstElement *element = gst_element_factory_make(factory, name);
    if (element != NULL) gst_bin_add(bin, element);
    return element;
}

/* cuframessrc ! h264parse|h265parse ! rtph264pay|rtph265pay name=pay0, built element by element
 * (no launch string to quote the folder into). The codec is probed for each client, so a
 * producer restarted with another codec is served right. */
static GstElement *cf_factory_create_element(GstRTSPMediaFactory *factory, const GstRTSPUrl *url) {
    (void)url;
    CfFactory *self = (CfFactory *)factory;
    gchar *why = NULL;
    const gchar *codec = probe_codec(self->key, self->dir, &why);
    if (codec == NULL) {
        g_printerr("cuframes-rtsp-serve: cannot serve %s now: %s\n", self->key, why);
        g_free(why);
        return NULL;
    }
    gchar *parse_name = g_strdup_printf("%sparse", codec);
    gchar *pay_name = g_strdup_printf("rtp%spay", codec);
    GstBin *bin = GST_BIN(gst_bin_new(NULL));
    GstElement *src = make(bin, "cuframessrc", "src");
    GstElement *parse = make(bin, parse_name, "parse");
    GstElement *pay = make(bin, pay_name, "pay0");
    gboolean ok = src != NULL && parse != NULL && pay != NULL;
    if (ok) {
        g_object_set(src, "key", self->key, "reconnect", TRUE, NULL);
        if (self->dir != NULL) g_object_set(src, "dir", self->dir, NULL);
        gst_util_set_object_arg(G_OBJECT(src), "output", "packets");
        /* -1: the parameter sets before every keyframe, whatever the producer sends. */
        g_object_set(parse, "config-interval", -1, NULL);
        g_object_set(pay, "pt", 96, NULL);
        ok = gst_element_link_many(src, parse, pay, NULL);
    }
    if (!ok)
        g_printerr("cuframes-rtsp-serve: cannot build cuframessrc ! %s ! %s for %s\n", parse_name, pay_name, self->key);
    g_free(parse_name);
    g_free(pay_name);
    if (!ok) {
        gst_object_unref(gst_object_ref_sink(bin));
        return NULL;
    }
    return GST_ELEMENT(bin);
}

/* The packets come live from the ring already, but a client's first ones are the GOP before
 * it joined, stamped from its join on: sinks that wait for each buffer's running time would
 * keep that client as late as its first keyframe was old, for good. They send at once
 * instead; the streams set their sinks' sync as they add transports, so it is undone each time. */
static void keep_unsynced(GObject *sink, GParamSpec *spec, gpointer data) {
    (void)spec;
    (void)data;
    gboolean sync = FALSE;
    g_object_get(sink, "sync", &sync, NULL);
    if (sync) g_object_set(sink, "sync", FALSE, NULL);
}

static void sink_added(GstBin *bin, GstElement *element, gpointer data) {
    (void)bin;
    (void)data;
    if (!GST_IS_BASE_SINK(element)) return;
    g_signal_connect(element, "notify::sync", G_CALLBACK(keep_unsynced), NULL);
    keep_unsynced(G_OBJECT(element), NULL, NULL);
}

static void cf_factory_configure(GstRTSPMediaFactory *factory, GstRTSPMedia *media) {
    GST_RTSP_MEDIA_FACTORY_CLASS(cf_factory_parent_class)->configure(factory, media);
    GstElement *element = gst_rtsp_media_get_element(media);
    GstObject *pipeline = gst_object_get_parent(GST_OBJECT(element)); /* where the streams add their sinks */
    if (pipeline != NULL && GST_IS_BIN(pipeline))
        g_signal_connect(pipeline, "element-added", G_CALLBACK(sink_added), NULL);
    if (pipeline != NULL) gst_object_unref(pipeline);
    gst_object_unref(element);
}

static void cf_factory_finalize(GObject *object) {
    CfFactory *self = (CfFactory *)object;
    g_free(self->key);
    g_free(self->dir);
    G_OBJECT_CLASS(cf_factory_parent_class)->finalize(object);
}

static void cf_factory_class_init(CfFactoryClass *klass) {
    GST_RTSP_MEDIA_FACTORY_CLASS(klass)->create_element = cf_factory_create_element;
    GST_RTSP_MEDIA_FACTORY_CLASS(klass)->configure = cf_factory_configure;
    G_OBJECT_CLASS(klass)->finalize = cf_factory_finalize;
}

static void cf_factory_init(CfFactory *self) { (void)self; }

/* ---- the mounts follow the producers' sockets ---- */

static gboolean valid_key(const gchar *key) {
    size_t length = strlen(key);
    if (length == 0 || length > 64) return FALSE;
    for (const gchar *c = key; *c; c++)
        if (!g_ascii_isalnum(*c) && *c != '.' && *c != '_' && *c != '-') return FALSE;
    return TRUE;
}

static gboolean wanted(const Serve *serve, const gchar *key) {
    return serve->keys == NULL || g_strv_contains((const gchar *const *)serve->keys, key);
}

static void mount(Serve *serve, const gchar *key) {
    CfFactory *factory = g_object_new(cf_factory_get_type(), NULL);
    factory->key = g_strdup(key);
    factory->dir = g_strdup(serve->dir);
    GstRTSPMediaFactory *media_factory = GST_RTSP_MEDIA_FACTORY(factory);
    gst_rtsp_media_factory_set_shared(media_factory, FALSE);
    if (serve->auth != NULL)
        gst_rtsp_media_factory_add_role(media_factory, ROLE, GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
                                        GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, NULL);
    gchar *path = g_strdup_printf("/%s", key);
    GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(serve->server);
    gst_rtsp_mount_points_add_factory(mounts, path, media_factory);
    g_object_unref(mounts);
    g_free(path);
    g_hash_table_add(serve->mounted, g_strdup(key));
    printf("serving %s\n", key);
    fflush(stdout);
}

static void unmount(Serve *serve, const gchar *key) {
    gchar *path = g_strdup_printf("/%s", key);
    GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(serve->server);
    gst_rtsp_mount_points_remove_factory(mounts, path); /* clients already playing go on */
    g_object_unref(mounts);
    g_free(path);
    printf("gone %s\n", key);
    fflush(stdout);
}

/* Every rescan: a key whose socket appeared is mounted, one whose socket went is not. */
static gboolean rescan(gpointer data) {
    Serve *serve = data;
    GHashTable *present = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GDir *folder = g_dir_open(serve->dir, 0, NULL); /* a folder not made yet holds no key */
    for (const gchar *name; folder != NULL && (name = g_dir_read_name(folder)) != NULL;) {
        if (!g_str_has_suffix(name, ".sock")) continue;
        gchar *key = g_strndup(name, strlen(name) - strlen(".sock"));
        if (valid_key(key) && wanted(serve, key))
            g_hash_table_add(present, key);
        else
            g_free(key);
    }
    if (folder != NULL) g_dir_close(folder);
    GHashTableIter iter;
    gpointer key;
    g_hash_table_iter_init(&iter, present);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        if (!g_hash_table_contains(serve->mounted, key)) mount(serve, key);
    g_hash_table_iter_init(&iter, serve->mounted);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        if (!g_hash_table_contains(present, key)) {
            unmount(serve, key);
            g_hash_table_iter_remove(&iter);
        }
    g_hash_table_unref(present);
    return G_SOURCE_CONTINUE;
}

/* ---- setup ---- */

/* cuframessrc from GST_PLUGIN_PATH, else from beside this program (the build folder) or
 * from ../lib/gstreamer-1.0 (an install). */
static gboolean has_src(void) {
    GstElementFactory *found = gst_element_factory_find("cuframessrc");
    if (found == NULL) return FALSE;
    gst_object_unref(found);
    return TRUE;
}

static gboolean find_plugin(const gchar *argv0) {
    if (has_src()) return TRUE;
    gchar *self = g_file_read_link("/proc/self/exe", NULL);
    gchar *here = g_path_get_dirname(self != NULL ? self : argv0);
    gchar *installed = g_build_filename(here, "..", "lib", "gstreamer-1.0", NULL);
    gst_registry_scan_path(gst_registry_get(), here);
    gst_registry_scan_path(gst_registry_get(), installed);
    g_free(self);
    g_free(here);
    g_free(installed);
    return has_src();
}

static GstRTSPAuth *make_auth(const gchar *user, gboolean digest) {
    const gchar *password = g_getenv("CUFRAMES_SERVE_PASSWORD");
    if (password == NULL || *password == '\0') {
        g_printerr("cuframes-rtsp-serve: --user needs the password in $CUFRAMES_SERVE_PASSWORD\n");
        return NULL;
    }
    GstRTSPAuth *auth = gst_rtsp_auth_new();
    GstRTSPToken *token = gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, ROLE, NULL);
    if (digest) {
        gst_rtsp_auth_add_digest(auth, user, password, token);
        gst_rtsp_auth_set_supported_methods(auth, GST_RTSP_AUTH_DIGEST);
    } else {
        gchar *basic = gst_rtsp_auth_make_basic(user, password);
        gst_rtsp_auth_add_basic(auth, basic, token);
        g_free(basic);
    }
    gst_rtsp_token_unref(token);
    return auth;
}

static gboolean quit(gpointer loop) {
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv) {
    gint port = 8554, rescan_ms = 1000;
    gchar *bind = NULL, *dir = NULL, *user = NULL;
    gboolean all = FALSE, digest = FALSE;
    GOptionEntry entries[] = {
        {"port", 0, 0, G_OPTION_ARG_INT, &port, "TCP port (0: a free one)", "PORT"},
        {"bind", 0, 0, G_OPTION_ARG_STRING, &bind, "Address to listen on (default 0.0.0.0)", "ADDRESS"},
        {"dir", 0, 0, G_OPTION_ARG_STRING, &dir, "Socket folder (default $CUFRAMES_DIR, else /tmp/cuframes)", "DIR"},
        {"all", 0, 0, G_OPTION_ARG_NONE, &all, "Serve every key of the folder", NULL},
        {"user", 0, 0, G_OPTION_ARG_STRING, &user, "Require this user (password: $CUFRAMES_SERVE_PASSWORD)", "NAME"},
        {"digest", 0, 0, G_OPTION_ARG_NONE, &digest, "Digest authentication instead of basic", NULL},
        {"rescan-ms", 0, 0, G_OPTION_ARG_INT, &rescan_ms, "How often to look for keys", "MS"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    GOptionContext *context = g_option_context_new("(--all | KEY...)");
    g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_add_group(context, gst_init_get_option_group());
    GError *error = NULL;
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("cuframes-rtsp-serve: %s\n", error->message);
        return EXIT_USAGE;
    }
    g_option_context_free(context);
    if (all == (argc > 1) || port < 0 || port > 65535 || rescan_ms < 10) {
        g_printerr("cuframes-rtsp-serve: give --all or keys (not both), a port in 0..65535, --rescan-ms >= 10\n");
        return EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++)
        if (!valid_key(argv[i])) {
            g_printerr("cuframes-rtsp-serve: %s is not a key ([A-Za-z0-9._-], 1..64 characters)\n", argv[i]);
            return EXIT_USAGE;
        }
    if (!find_plugin(argv[0])) {
        g_printerr("cuframes-rtsp-serve: no cuframessrc element: build the plugin (scripts/build-gst.sh) and put "
                   "its folder in GST_PLUGIN_PATH\n");
        return EXIT_USAGE;
    }
    Serve serve = {.dir = dir != NULL ? dir : g_getenv("CUFRAMES_DIR"),
                   .keys = all ? NULL : g_strdupv(argv + 1),
                   .server = gst_rtsp_server_new(),
                   .auth = NULL,
                   .mounted = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL)};
    if (serve.dir == NULL || *serve.dir == '\0') serve.dir = "/tmp/cuframes";
    if (user != NULL) {
        serve.auth = make_auth(user, digest);
        if (serve.auth == NULL) return EXIT_USAGE;
        gst_rtsp_server_set_auth(serve.server, serve.auth);
    }
    /* Clients on threads of their own: a client whose pipeline waits for its producer (the
     * codec probe, up to PROBE_TIMEOUT_MS twice) holds up no other client. */
    GstRTSPThreadPool *threads = gst_rtsp_server_get_thread_pool(serve.server);
    gst_rtsp_thread_pool_set_max_threads(threads, CLIENT_THREADS);
    g_object_unref(threads);
    gchar *service = g_strdup_printf("%d", port);
    gst_rtsp_server_set_address(serve.server, bind != NULL ? bind : "0.0.0.0");
    gst_rtsp_server_set_service(serve.server, service);
    g_free(service);
    if (gst_rtsp_server_attach(serve.server, NULL) == 0) {
        g_printerr("cuframes-rtsp-serve: cannot listen on %s:%d (in use? --port, --bind)\n",
                   bind != NULL ? bind : "0.0.0.0", port);
        return EXIT_BIND;
    }
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, quit, loop);
    g_unix_signal_add(SIGINT, quit, loop);
    printf("ready rtsp://%s:%d/\n", bind != NULL ? bind : "0.0.0.0", gst_rtsp_server_get_bound_port(serve.server));
    fflush(stdout);
    rescan(&serve);
    g_timeout_add(rescan_ms, rescan, &serve);
    g_main_loop_run(loop);
    g_main_loop_unref(loop);
    g_hash_table_unref(serve.mounted);
    g_strfreev(serve.keys);
    if (serve.auth != NULL) g_object_unref(serve.auth);
    g_object_unref(serve.server);
    return 0;
}
