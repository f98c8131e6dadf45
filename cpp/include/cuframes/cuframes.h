/*
 * cuframes C ABI.
 *
 * A producer publishes frames into an N-slot pool shared with any number of
 * subscriber processes. On the cuda backend the slots are CUDA VMM allocations
 * (device pointers); on the host backend they are memfd mappings (CPU pointers).
 *
 * Conventions:
 *  - Every function that can fail returns a cuframes_status (0 on success).
 *    cuframes_last_error() then gives a message for the calling thread that
 *    names what was wrong (which key, which call, which errno or CUresult).
 *  - Booleans are int32_t, 0 or 1, in structs, arguments and results alike:
 *    a fixed width keeps struct layouts the same for every compiler and
 *    language binding (C's bool has no fixed size in other languages' FFIs).
 *  - Needs C99 (the *_init helpers below are static inline).
 *
 * How the ABI grows (the rule since CUFRAMES_ABI_VERSION 1; docs/c-api.md):
 *  - Every struct passed in or out, except the plain values cuframes_plane and
 *    cuframes_rational, begins with `uint32_t struct_size`, set by its *_init
 *    helper to the size the caller was compiled with. Fields are only ever
 *    appended. Call the *_init helper on every struct before use, options and
 *    outputs alike.
 *  - Input (options) structs: a struct_size smaller than the library's is
 *    accepted and the fields it lacks take their *_init defaults; a larger
 *    one (a program built against a newer cuframes.h) is accepted only when
 *    the bytes the library does not know are zero, i.e. left at their defaults.
 *  - Output structs: the library writes exactly struct_size bytes (the fields
 *    it does not know are zeroed) and never more.
 *  - Options structs also carry abi_version (set by *_init to the header's
 *    CUFRAMES_ABI_VERSION). A program built against the ABI 0 header (before
 *    output structs had struct_size) passes options that end before it, and the
 *    library then writes that program's output structs in the ABI 0 layout.
 *  - Compare cuframes_abi_version() with CUFRAMES_ABI_VERSION at start-up:
 *    the library serves every ABI version up to its own.
 *
 * Threads:
 *  - A handle is used by one thread at a time, with these exceptions:
 *    cuframes_subscriber_next and cuframes_subscriber_read_into may be called
 *    from several threads (they take turns), as may cuframes_packet_subscriber_next;
 *    cuframes_subscriber_close and cuframes_packet_subscriber_close may be called
 *    from any thread at any time, and a call blocked in next/read_into then
 *    returns CUFRAMES_ERR_STATE promptly (within 250 ms);
 *    cuframes_publisher_publish_packet and cuframes_publisher_set_parameter_sets
 *    may run on another thread than acquire/publish/abort;
 *    cuframes_publisher_subscriber_count and the *_stream_facts getters may be
 *    called from any thread.
 *  - A frame (cuframes_frame) may be read and released on any thread, also after
 *    its subscriber was closed or destroyed.
 *  - *_destroy must be the last call on a handle: no other thread may be inside
 *    a call on it (close it first to wake a blocked call, then join that thread).
 *  - cuframes_last_error() is per thread.
 */
#ifndef CUFRAMES_H
#define CUFRAMES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What libcuframes exports: the C ABI here and the public C++ classes and functions
 * (publisher.hpp, subscriber.hpp, ...). The library is built with hidden visibility,
 * so nothing else is. */
#if defined(__GNUC__)
#define CUFRAMES_API __attribute__((visibility("default")))
#define CUFRAMES_HIDDEN __attribute__((visibility("hidden")))
#else
#define CUFRAMES_API
#define CUFRAMES_HIDDEN
#endif

#define CUFRAMES_VERSION_MAJOR 0
#define CUFRAMES_VERSION_MINOR 1
#define CUFRAMES_VERSION_PATCH 0
/* Generation of the C ABI's rules and layouts: 0 before structs carried their
 * size on output, 1 since. The library serves callers of every generation up to
 * its own (cuframes_abi_version()). */
#define CUFRAMES_ABI_VERSION 2

/* Largest user metadata blob carried with one frame. */
#define CUFRAMES_MAX_METADATA 4096
/* Most planes any format has. */
#define CUFRAMES_MAX_PLANES 4
/* Longest key, not counting the terminating NUL. */
#define CUFRAMES_MAX_KEY 64

/* Every status, once: X(NAME, value, description). The enum below (CUFRAMES_##NAME),
 * cuframes_status_name() and Python's cuframes._core.STATUS (and through it the
 * exception classes of cuframes.errors) derive from this list; a new status is
 * added here and gets its Python class in errors.py (tests/test_errors.py says
 * which one is missing). Values never change: they are ABI. */
#define CUFRAMES_STATUS_LIST(X)                                                                                        \
    X(OK, 0, "success")                                                                                                \
    X(ERR_INVALID_ARGUMENT, 1, "bad key, dimensions, slot count, option")                                              \
    X(ERR_FORMAT, 2, "unknown or unsupported pixel format")                                                            \
    X(ERR_NOT_FOUND, 3, "no producer for the key (after the wait)")                                                    \
    X(ERR_TIMEOUT, 4, "no frame within the timeout")                                                                   \
    X(ERR_DISCONNECTED, 5, "the producer closed its stream: a normal end (or hung up in the handshake)")               \
    X(ERR_KEY_IN_USE, 6, "another live producer owns the key")                                                         \
    X(ERR_PERMISSION, 7, "refused by file mode or peer credentials")                                                   \
    X(ERR_PROTOCOL, 8, "malformed message or shared header from the peer")                                             \
    X(ERR_VERSION_MISMATCH, 9, "peers speak different protocol versions")                                              \
    X(ERR_CUDA, 10, "a CUDA driver call failed")                                                                       \
    X(ERR_CUDA_UNAVAILABLE, 11, "no libcuda, no GPU, or the device is not visible")                                    \
    X(ERR_LIMIT, 12, "too many subscribers, held frames or open files")                                                \
    X(ERR_STATE, 13, "call not valid now (e.g. publish without acquire)")                                              \
    X(ERR_OS, 14, "another system call failed; see the message")                                                       \
    X(ERR_PRODUCER_DIED, 15, "the producer died without closing its stream (killed, crashed)")

#define CUFRAMES_STATUS_ENUMERATOR_(name, value, description) CUFRAMES_##name = value,
typedef enum cuframes_status { CUFRAMES_STATUS_LIST(CUFRAMES_STATUS_ENUMERATOR_) } cuframes_status;
#undef CUFRAMES_STATUS_ENUMERATOR_

typedef enum cuframes_backend {
    CUFRAMES_BACKEND_AUTO = 0, /* cuda when a GPU is usable, else host (publisher only) */
    CUFRAMES_BACKEND_HOST = 1,
    CUFRAMES_BACKEND_CUDA = 2
} cuframes_backend;

/* Every pixel format, once: X(ID, value, name, description). The enum below
 * (CUFRAMES_FORMAT_##ID), the names the C++ and C APIs parse and print, and
 * Python's cuframes._core.FORMATS derive from this list; the planes of each are
 * in cpp/src/media/format.cpp (a static_assert there fails until the new one
 * has them). Values never change: they are ABI and on the wire. */
#define CUFRAMES_FORMAT_LIST(X)                                                                                        \
    X(NV12, 1, "nv12", "Y plane, then interleaved UV at half resolution")                                              \
    X(P010, 2, "p010", "as NV12 with 16-bit samples (10 significant bits, high)")                                      \
    X(I420, 3, "i420", "Y, U, V planes; U and V at half resolution")                                                   \
    X(RGB24, 4, "rgb24", "packed R, G, B, 8 bits each")                                                                \
    X(BGR24, 5, "bgr24", "packed B, G, R, 8 bits each")                                                                \
    X(RGBA, 6, "rgba", "packed R, G, B, A, 8 bits each")                                                               \
    X(BGRA, 7, "bgra", "packed B, G, R, A, 8 bits each")                                                               \
    X(GRAY8, 8, "gray8", "one 8-bit luma plane")

#define CUFRAMES_FORMAT_ENUMERATOR_(id, value, name, description) CUFRAMES_FORMAT_##id = value,
typedef enum cuframes_format { CUFRAMES_FORMAT_LIST(CUFRAMES_FORMAT_ENUMERATOR_) } cuframes_format;
#undef CUFRAMES_FORMAT_ENUMERATOR_

/* Every codec of the encoded packets in a stream's packet ring (Annex-B byte
 * streams), once: X(ID, value, name). The enum, codec_name() and Python's
 * cuframes._core.CODECS derive from it. */
#define CUFRAMES_CODEC_LIST(X)                                                                                         \
    X(H264, 1, "h264")                                                                                                 \
    X(HEVC, 2, "hevc")

#define CUFRAMES_CODEC_ENUMERATOR_(id, value, name) CUFRAMES_CODEC_##id = value,
typedef enum cuframes_codec { CUFRAMES_CODEC_LIST(CUFRAMES_CODEC_ENUMERATOR_) } cuframes_codec;
#undef CUFRAMES_CODEC_ENUMERATOR_

/* Where one plane lies inside a slot. */
typedef struct cuframes_plane {
    uint64_t offset;    /* bytes from the start of the slot */
    uint32_t pitch;     /* bytes between rows (aligned to CUFRAMES_PITCH_ALIGN) */
    uint32_t width;     /* samples per row (a sample may hold several channels) */
    uint32_t height;    /* rows */
    uint32_t row_bytes; /* meaningful bytes per row (<= pitch) */
} cuframes_plane;

#define CUFRAMES_PITCH_ALIGN 256

/* A ratio of two integers, as AVRational. num 0 means unknown (or, for a frame rate,
 * variable); den is then ignored. Otherwise both are positive. */
typedef struct cuframes_rational {
    int32_t num;
    int32_t den;
} cuframes_rational;

/* Colour description, ITU-T H.273 code points (the values of FFmpeg's AVColorSpace,
 * AVColorPrimaries and AVColorTransferCharacteristic): matrix 0..17, primaries 0..22,
 * transfer 0..18, e.g. 1 = BT.709, 6 = SMPTE 170M (BT.601), 9 = BT.2020. 2: unspecified. */
#define CUFRAMES_COLOR_UNSPECIFIED 2
/* Colour range, as AVColorRange. */
typedef enum cuframes_color_range {
    CUFRAMES_COLOR_RANGE_UNSPECIFIED = 0,
    CUFRAMES_COLOR_RANGE_LIMITED = 1, /* "tv": Y 16..235 at 8 bits */
    CUFRAMES_COLOR_RANGE_FULL = 2     /* "pc": 0..255 */
} cuframes_color_range;

/* Stream facts: how to read a stream's timestamps and colours. The producer sets them
 * (cuframes_publisher_options); subscribers read them with cuframes_*_stream_facts().
 * Frames' and packets' pts and dts count time_base units. */
typedef struct cuframes_stream_facts {
    uint32_t struct_size;                  /* set by cuframes_stream_facts_init */
    cuframes_rational time_base;           /* seconds per pts unit, e.g. 1/90000; 0/0: unknown */
    cuframes_rational frame_rate;          /* nominal frames per second, e.g. 30000/1001; 0/0: variable or unknown */
    cuframes_rational sample_aspect_ratio; /* width/height of one pixel; 0/0: unknown */
    uint32_t color_matrix;                 /* H.273 MatrixCoefficients; 2: unspecified */
    uint32_t color_range;                  /* cuframes_color_range */
    uint32_t color_primaries;              /* H.273 ColourPrimaries; 2: unspecified */
    uint32_t color_transfer;               /* H.273 TransferCharacteristics; 2: unspecified */
} cuframes_stream_facts;

/* A writable slot handed out by cuframes_publisher_acquire. */
typedef struct cuframes_buffer {
    uint32_t struct_size; /* set by cuframes_buffer_init */
    uint64_t data;        /* CUdeviceptr on cuda, a CPU pointer on host */
    uint64_t size;        /* bytes in the slot */
    uint32_t slot;
    uint32_t plane_count;
    cuframes_plane planes[CUFRAMES_MAX_PLANES];
} cuframes_buffer;

/* What a subscriber learns about a frame it holds or copied. */
typedef struct cuframes_frame_info {
    uint32_t struct_size;  /* set by cuframes_frame_info_init */
    uint64_t seq;          /* 1, 2, 3, ... per publisher */
    int64_t pts;           /* the producer's presentation timestamp */
    uint64_t timestamp_ns; /* CLOCK_MONOTONIC at publish */
    uint64_t missed;       /* frames skipped since the previous one this subscriber got */
    uint64_t data;         /* zero-copy view: CUdeviceptr on cuda, CPU pointer on host */
    uint64_t size;
    uint32_t slot;
    uint32_t width;
    uint32_t height;
    cuframes_format format;
    uint32_t plane_count;
    cuframes_plane planes[CUFRAMES_MAX_PLANES];
    const void *metadata; /* valid while the frame is held */
    uint32_t metadata_size;
    int32_t reconnected; /* 1 on the first frame from a restarted producer (reconnect) */
    uint64_t epoch;      /* random id of the producer instance that published it */
} cuframes_frame_info;

typedef struct cuframes_publisher cuframes_publisher;
typedef struct cuframes_subscriber cuframes_subscriber;
typedef struct cuframes_frame cuframes_frame;

typedef struct cuframes_publisher_options {
    uint32_t struct_size; /* set by cuframes_publisher_options_init */
    const char *key;      /* [A-Za-z0-9._-], 1..64 chars, not starting with '.' */
    const char *dir;      /* NULL: $CUFRAMES_DIR, else /tmp/cuframes (the same for every user) */
    uint32_t width;
    uint32_t height;
    cuframes_format format;   /* default NV12 */
    uint32_t slots;           /* default 10; must be >= max_subscribers * max_held + 2 */
    uint32_t max_subscribers; /* default 4 */
    uint32_t max_held;        /* frames one subscriber may hold at once; default 2 */
    cuframes_backend backend; /* default AUTO */
    int32_t device;           /* CUDA device ordinal; default 0 */
    uint32_t socket_mode;     /* default 0660 */
    /* Access control. The kernel checks the socket's mode and group at connect; then the
     * subscriber's credentials (SO_PEERCRED) must match the producer's own uid, one of
     * allowed_uids, or a group (primary or supplementary) in allowed_gids. With both lists
     * empty, anyone the socket's mode admits may subscribe. A refused subscriber gets
     * CUFRAMES_ERR_PERMISSION and never receives a descriptor. */
    int64_t socket_group;         /* chown the socket to this gid; -1 (default) keeps the creator's */
    const uint32_t *allowed_uids; /* allowed_uid_count entries; may be NULL when the count is 0 */
    uint32_t allowed_uid_count;
    const uint32_t *allowed_gids;
    uint32_t allowed_gid_count;
    /* 1 (cuda only): publish queues the frame's completion on its stream (a stream
     * write-value into the shared header) instead of waiting in cuStreamSynchronize;
     * subscribers wait for the GPU's completion before they return the frame. Use one
     * stream per publisher. 0 (default): publish synchronizes the stream. */
    int32_t stream_ordered;
    /* Bytes of the packet ring for encoded packets (cuframes_publisher_publish_packet) beside
     * the frames, under the same key; 0 (default): none. 8 MiB holds several seconds of
     * 1080p H.264. */
    uint64_t packet_ring_bytes;
    /* Free text that `cuframes stat` and `ls` show, e.g. the source; NULL: none. */
    const char *description;
    /* Stream facts (see cuframes_stream_facts); the defaults say "unknown". Added in
     * protocol v4: a struct_size that ends before them keeps the defaults. */
    cuframes_rational time_base;
    cuframes_rational frame_rate;
    cuframes_rational sample_aspect_ratio;
    uint32_t color_matrix;
    uint32_t color_range;
    uint32_t color_primaries;
    uint32_t color_transfer;
    /* Set by cuframes_publisher_options_init to CUFRAMES_ABI_VERSION. Added in ABI 1. */
    uint32_t abi_version;
} cuframes_publisher_options;

/* Which frame a subscriber that fell behind gets next. */
typedef enum cuframes_delivery {
    /* The newest frame; the older unread ones count as missed. Lowest latency:
     * for detectors, compositors, anything that wants "now". The default. */
    CUFRAMES_DELIVERY_LATEST = 0,
    /* The oldest unread frame still in the pool, in order; only frames already
     * overwritten count as missed. The first is the newest frame when the producer
     * accepted the subscriber (it counts in subscriber_count from then), not once
     * the slots are mapped. For recorders that want every frame they can get. */
    CUFRAMES_DELIVERY_SEQUENTIAL = 1
} cuframes_delivery;

typedef struct cuframes_subscriber_options {
    uint32_t struct_size;
    const char *key;
    const char *dir;
    int32_t connect_timeout_ms; /* wait this long for the producer to appear; -1 forever; default 5000 */
    cuframes_delivery delivery; /* default CUFRAMES_DELIVERY_LATEST */
    /* 1: when the producer closes or dies, wait (within each call's timeout) for the next
     * producer of the key and carry on with it: a new epoch, the slots imported again, and
     * the first frame after it flagged `reconnected`, its `missed` counting the frames lost
     * in between. The new producer must publish the same backend, format and size.
     * 0 (default): CUFRAMES_ERR_DISCONNECTED after a clean close, CUFRAMES_ERR_PRODUCER_DIED
     * after a crash (see docs/reliability.md). */
    int32_t reconnect;
    /* Nanoseconds to spin on the shared sequence before sleeping on the futex: 0 (default)
     * sleeps at once and costs no CPU while idle; -1 spins until the frame or the timeout.
     * Spinning buys a few microseconds of wake-up latency for a core. */
    int64_t spin_ns;
    uint32_t abi_version; /* set by cuframes_subscriber_options_init. Added in ABI 1. */
    /* 1: for event loops (epoll, select, libuv) that wait without a thread: the producer
     * writes a byte on this subscriber's socket after each frame, and cuframes_subscriber_fd
     * gives a descriptor to poll; when it is readable, call cuframes_subscriber_next with
     * timeout 0 until it returns CUFRAMES_ERR_TIMEOUT. 0 (default): no descriptor, and the
     * producer pays nothing for this subscriber. Added in ABI 2. */
    int32_t notify;
} cuframes_subscriber_options;

/* The defaults, written into the first struct_size bytes of options (and struct_size
 * itself). Call them through the *_options_init helpers, which pass the size
 * this program was compiled with. */
CUFRAMES_API void cuframes_publisher_options_init_size(cuframes_publisher_options *options, uint32_t struct_size);
CUFRAMES_API void cuframes_subscriber_options_init_size(cuframes_subscriber_options *options, uint32_t struct_size);

static inline void cuframes_publisher_options_init(cuframes_publisher_options *options) {
    if (options == NULL) return;
    cuframes_publisher_options_init_size(options, (uint32_t)sizeof(*options));
    options->abi_version = CUFRAMES_ABI_VERSION;
}
static inline void cuframes_subscriber_options_init(cuframes_subscriber_options *options) {
    if (options == NULL) return;
    cuframes_subscriber_options_init_size(options, (uint32_t)sizeof(*options));
    options->abi_version = CUFRAMES_ABI_VERSION;
}
/* Output structs: all zero, struct_size set. */
static inline void cuframes_buffer_init(cuframes_buffer *buffer) {
    if (buffer == NULL) return;
    memset(buffer, 0, sizeof(*buffer));
    buffer->struct_size = (uint32_t)sizeof(*buffer);
}
static inline void cuframes_frame_info_init(cuframes_frame_info *info) {
    if (info == NULL) return;
    memset(info, 0, sizeof(*info));
    info->struct_size = (uint32_t)sizeof(*info);
}
static inline void cuframes_stream_facts_init(cuframes_stream_facts *facts) {
    if (facts == NULL) return;
    memset(facts, 0, sizeof(*facts));
    facts->struct_size = (uint32_t)sizeof(*facts);
}

/* The library's version, "MAJOR.MINOR.PATCH" (CUFRAMES_VERSION_* are the header's). */
CUFRAMES_API const char *cuframes_version(void);
/* The library's CUFRAMES_ABI_VERSION: it serves programs built with this or an older one. */
CUFRAMES_API uint32_t cuframes_abi_version(void);
/* Message for the last failure on this thread; never NULL. */
CUFRAMES_API const char *cuframes_last_error(void);
/* Name of a status code, e.g. "CUFRAMES_ERR_DISCONNECTED". */
CUFRAMES_API const char *cuframes_status_name(cuframes_status status);
/* 1 when the cuda backend is usable here (driver loads, a GPU is visible). Never fails. */
CUFRAMES_API int32_t cuframes_cuda_available(void);

/* ---- producer ---- */
CUFRAMES_API cuframes_status cuframes_publisher_create(const cuframes_publisher_options *options,
                                                       cuframes_publisher **out);
/* A free slot to write into. Never blocks. One slot at a time.
 * out->struct_size must be set (cuframes_buffer_init). */
CUFRAMES_API cuframes_status cuframes_publisher_acquire(cuframes_publisher *publisher, cuframes_buffer *out);
/* Synchronizes `stream` (a CUstream; NULL is the legacy default stream; ignored on host),
 * then makes the acquired slot the newest frame and wakes subscribers. */
CUFRAMES_API cuframes_status cuframes_publisher_publish(cuframes_publisher *publisher, void *stream, int64_t pts,
                                                        const void *metadata, uint32_t metadata_size,
                                                        uint64_t *seq_out);
/* Hands the acquired slot back unpublished. */
CUFRAMES_API cuframes_status cuframes_publisher_abort(cuframes_publisher *publisher);
/* Number of connected subscribers. */
CUFRAMES_API uint32_t cuframes_publisher_subscriber_count(const cuframes_publisher *publisher);
/* Closes the socket, tells subscribers, frees everything. NULL is allowed. */
CUFRAMES_API void cuframes_publisher_destroy(cuframes_publisher *publisher);

/* ---- consumer ---- */
CUFRAMES_API cuframes_status cuframes_subscriber_create(const cuframes_subscriber_options *options,
                                                        cuframes_subscriber **out);
/* Waits up to timeout_ms (-1 forever, 0 poll) for the next frame and holds it zero-copy.
 * Release it with cuframes_frame_release. When the producer has gone (without reconnect):
 * CUFRAMES_ERR_DISCONNECTED if it closed its stream, the normal end; CUFRAMES_ERR_PRODUCER_DIED
 * if it died without closing it. */
CUFRAMES_API cuframes_status cuframes_subscriber_next(cuframes_subscriber *subscriber, int32_t timeout_ms,
                                                      cuframes_frame **out);
/* info->struct_size must be set (cuframes_frame_info_init). A NULL frame or info:
 * CUFRAMES_ERR_INVALID_ARGUMENT, nothing written. */
CUFRAMES_API cuframes_status cuframes_frame_get_info(const cuframes_frame *frame, cuframes_frame_info *info);
/* Gives the slot back to the producer. NULL is allowed. */
CUFRAMES_API void cuframes_frame_release(cuframes_frame *frame);
/* Waits for the next frame and copies it, planes packed without padding, into dst
 * (device or host memory on cuda; host memory on host). Returns when the copy is complete.
 * info may be NULL (else its struct_size set). The frame is released before this returns, so info->data,
 * info->metadata and info->metadata_size are zero afterwards. */
CUFRAMES_API cuframes_status cuframes_subscriber_read_into(cuframes_subscriber *subscriber, int32_t timeout_ms,
                                                           void *dst, uint64_t dst_size, void *stream,
                                                           cuframes_frame_info *info);
/* The current producer's stream facts (they may change when a reconnecting subscriber
 * follows a restarted producer). out->struct_size must be set (cuframes_stream_facts_init). */
CUFRAMES_API cuframes_status cuframes_subscriber_stream_facts(const cuframes_subscriber *subscriber,
                                                              cuframes_stream_facts *out);
/* Bytes a packed copy of one frame takes. */
CUFRAMES_API uint64_t cuframes_subscriber_packed_size(const cuframes_subscriber *subscriber);
/* With options.notify: a descriptor (owned by the subscriber, the same for its life,
 * reconnects included) that polls readable when cuframes_subscriber_next(timeout 0) may
 * have a frame, or the producer has gone (next then returns DISCONNECTED or PRODUCER_DIED;
 * with reconnect, the descriptor turns readable again once a producer of the key may be
 * back). Call next with timeout 0 until it returns CUFRAMES_ERR_TIMEOUT (that call reads
 * the notification bytes), then wait for the descriptor again. -1 without notify, or for
 * a NULL subscriber. docs/asyncio.md. Added in ABI 2. */
CUFRAMES_API int32_t cuframes_subscriber_fd(const cuframes_subscriber *subscriber);
/* Closes the connection, from any thread: a next() or read_into() blocked in another
 * thread returns CUFRAMES_ERR_STATE, and so does every later one. Held frames stay
 * readable until released. Idempotent; the handle still needs *_destroy. NULL is allowed. */
CUFRAMES_API void cuframes_subscriber_close(cuframes_subscriber *subscriber);
/* Closes (as above) and frees the handle. NULL is allowed. */
CUFRAMES_API void cuframes_subscriber_destroy(cuframes_subscriber *subscriber);

/* What a subscriber is connected to, known before its first frame: the producer's
 * backend and device (whether frame data are CUdeviceptr or CPU pointers, and on which
 * GPU), the frames' size and format, and the hold limit. An FFmpeg or GStreamer input
 * sets up its stream from it. Added in ABI 2. */
typedef struct cuframes_subscriber_info {
    uint32_t struct_size;     /* set by cuframes_subscriber_info_init */
    cuframes_backend backend; /* CUFRAMES_BACKEND_HOST or CUFRAMES_BACKEND_CUDA */
    int32_t device;           /* local CUDA ordinal of the producer's GPU; -1 on host */
    uint32_t width;
    uint32_t height;
    cuframes_format format;
    uint32_t slots;    /* slots in the producer's pool */
    uint32_t max_held; /* frames this subscriber may hold at once (the producer's max_held) */
    uint32_t held;     /* frames it holds now (taken by next, not yet released) */
} cuframes_subscriber_info;

static inline void cuframes_subscriber_info_init(cuframes_subscriber_info *info) {
    if (info == NULL) return;
    memset(info, 0, sizeof(*info));
    info->struct_size = (uint32_t)sizeof(*info);
}
/* The current producer's (they may change when reconnect follows a restart).
 * out->struct_size must be set (cuframes_subscriber_info_init). */
CUFRAMES_API cuframes_status cuframes_subscriber_get_info(const cuframes_subscriber *subscriber,
                                                          cuframes_subscriber_info *out);

/* ---- encoded packets ----
 * A producer created with packet_ring_bytes > 0 also publishes encoded access units
 * (Annex-B H.264/H.265, start codes included) beside its frames. Packet subscribers join
 * at the latest keyframe, with the parameter sets (VPS/SPS/PPS) in front of it, and then
 * get every packet in order. The producer never waits for them: one that falls more than
 * the ring behind rejoins at the next keyframe and is told how many packets it lost. */
typedef struct cuframes_packet_subscriber cuframes_packet_subscriber;

typedef struct cuframes_packet_subscriber_options {
    uint32_t struct_size;
    const char *key;
    const char *dir;
    int32_t connect_timeout_ms; /* wait this long for the producer to appear; -1 forever; default 5000 */
    /* 1: when the producer closes or dies, return the packets still in its ring, then wait
     * (within each call's timeout) for the key's next producer and join it at a keyframe,
     * flagged `reconnected`. 0 (default): CUFRAMES_ERR_DISCONNECTED after a clean close,
     * CUFRAMES_ERR_PRODUCER_DIED after a crash (in both cases after the packets still in the ring). */
    int32_t reconnect;
    uint32_t abi_version; /* set by cuframes_packet_subscriber_options_init. Added in ABI 1. */
    /* 1: a descriptor to poll (cuframes_packet_subscriber_fd), as the frame subscriber's
     * notify; next with timeout 0 until CUFRAMES_ERR_TIMEOUT when it is readable. Added in ABI 2. */
    int32_t notify;
} cuframes_packet_subscriber_options;

typedef struct cuframes_packet_info {
    uint32_t struct_size; /* set by cuframes_packet_info_init */
    uint64_t seq;         /* number of the packet in the ring: 1, 2, ... */
    int64_t pts;          /* as published: the pts of the frame it decodes to */
    int64_t dts;
    uint64_t timestamp_ns; /* CLOCK_MONOTONIC when the producer wrote it */
    uint64_t size;         /* bytes of the packet (also when it did not fit) */
    uint64_t overruns;     /* packets lost just before this one (the subscriber fell behind) */
    cuframes_codec codec;
    int32_t keyframe;                 /* 1 for a keyframe */
    int32_t discontinuity;            /* 1 on joining or rejoining: a keyframe a decoder can start at */
    int32_t parameter_sets_prepended; /* 1 when the kept VPS/SPS/PPS were put in front of it */
    int32_t reconnected;              /* 1 on the first packet from a restarted producer (reconnect) */
    uint64_t epoch;                   /* random id of the producer instance that wrote it */
} cuframes_packet_info;

/* Appends one access unit to the packet ring and wakes packet subscribers. Never blocks.
 * CUFRAMES_ERR_STATE without a packet ring; CUFRAMES_ERR_INVALID_ARGUMENT when it is empty,
 * larger than half the ring, or not Annex-B. keyframe: 0 or 1. */
CUFRAMES_API cuframes_status cuframes_publisher_publish_packet(cuframes_publisher *publisher, const void *data,
                                                               uint64_t size, int64_t pts, int64_t dts,
                                                               cuframes_codec codec, int32_t keyframe,
                                                               uint64_t *seq_out);
/* Parameter sets (Annex-B VPS/SPS/PPS, e.g. from a container's extradata) to give joining
 * subscribers whose first keyframe lacks them. In-band ones replace them as they come. */
CUFRAMES_API cuframes_status cuframes_publisher_set_parameter_sets(cuframes_publisher *publisher, cuframes_codec codec,
                                                                   const void *data, uint64_t size);

CUFRAMES_API void cuframes_packet_subscriber_options_init_size(cuframes_packet_subscriber_options *options,
                                                               uint32_t struct_size);
static inline void cuframes_packet_subscriber_options_init(cuframes_packet_subscriber_options *options) {
    if (options == NULL) return;
    cuframes_packet_subscriber_options_init_size(options, (uint32_t)sizeof(*options));
    options->abi_version = CUFRAMES_ABI_VERSION;
}
static inline void cuframes_packet_info_init(cuframes_packet_info *info) {
    if (info == NULL) return;
    memset(info, 0, sizeof(*info));
    info->struct_size = (uint32_t)sizeof(*info);
}
CUFRAMES_API cuframes_status cuframes_packet_subscriber_create(const cuframes_packet_subscriber_options *options,
                                                               cuframes_packet_subscriber **out);
/* Waits up to timeout_ms (-1 forever, 0 poll) for the next packet and copies it into dst.
 * When it needs more than dst_capacity bytes: CUFRAMES_ERR_LIMIT, info->size says how many,
 * and the same packet is returned by the next call. info must not be NULL; its
 * struct_size must be set (cuframes_packet_info_init). */
CUFRAMES_API cuframes_status cuframes_packet_subscriber_next(cuframes_packet_subscriber *subscriber, int32_t timeout_ms,
                                                             void *dst, uint64_t dst_capacity,
                                                             cuframes_packet_info *info);
/* With options.notify: the descriptor to poll, as cuframes_subscriber_fd. -1 without. Added in ABI 2. */
CUFRAMES_API int32_t cuframes_packet_subscriber_fd(const cuframes_packet_subscriber *subscriber);
/* The current producer's stream facts, as cuframes_subscriber_stream_facts. */
CUFRAMES_API cuframes_status cuframes_packet_subscriber_stream_facts(const cuframes_packet_subscriber *subscriber,
                                                                     cuframes_stream_facts *out);
/* Closes the connection, from any thread: a next() blocked in another thread returns
 * CUFRAMES_ERR_STATE, and so does every later one. Idempotent; the handle still needs
 * *_destroy. NULL is allowed. */
CUFRAMES_API void cuframes_packet_subscriber_close(cuframes_packet_subscriber *subscriber);
/* Closes (as above) and frees the handle. NULL is allowed. */
CUFRAMES_API void cuframes_packet_subscriber_destroy(cuframes_packet_subscriber *subscriber);

#ifdef __cplusplus
}
#endif

#endif /* CUFRAMES_H */
