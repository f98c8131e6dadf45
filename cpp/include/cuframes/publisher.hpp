// The producer side: owns the slot pool, the shared header and the socket.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuframes/cuframes.h"
#include "cuframes/format.hpp"
#include "cuframes/types.hpp"

namespace cuframes {

struct PublisherOptions {
    std::string key;
    std::string dir;  // "" means default_dir()
    uint32_t width = 0;
    uint32_t height = 0;
    PixelFormat format = CUFRAMES_FORMAT_NV12;
    uint32_t slots = 10;
    uint32_t max_subscribers = 4;
    uint32_t max_held = 2;  // frames one subscriber may hold at once
    Backend backend = Backend::Auto;
    int device = 0;
    // Who may subscribe. The socket file's mode and group are checked by the
    // kernel at connect; then the peer's credentials (SO_PEERCRED) must match
    // the producer's own uid, a uid in allowed_uids or a group (primary or
    // supplementary) in allowed_gids. Both lists empty: anyone the mode admits.
    uint32_t socket_mode = 0660;
    int64_t socket_group = -1;  // chown the socket to this gid; -1 keeps the creator's
    std::vector<uint32_t> allowed_uids;
    std::vector<uint32_t> allowed_gids;
    // cuda only. publish() queues the frame's completion on its stream (a
    // stream write-value into the shared header) instead of waiting for it in
    // cuStreamSynchronize, and announces the frame at once; subscribers wait
    // for the GPU's completion before they hand the frame out. The producer's
    // thread never blocks on the GPU. Use one stream per publisher: a frame's
    // completion must not overtake an earlier frame's in the same slot.
    bool stream_ordered = false;
    // Bytes of the packet ring, for encoded packets published with
    // publish_packet() beside the frames under the same key (e.g. 8 MiB:
    // several seconds of 1080p H.264). 0: no packet ring.
    uint64_t packet_ring_bytes = 0;
    // Free text shown by `cuframes stat`/`ls`, e.g. the source ("rtsp://...").
    std::string description;
    // Time base, nominal rate, colour and aspect ratio, for every subscriber:
    // give frames' and packets' pts and dts in facts.time_base units.
    // INVALID_ARGUMENT when stream_facts_problem() finds one.
    StreamFacts facts;
};

// A slot the producer may write into until publish() or abort().
struct WritableSlot {
    uint32_t index = 0;
    uint64_t data = 0;  // CUdeviceptr on cuda, CPU address on host
    uint64_t size = 0;
};

// Where the producer's last frame spent its time (CLOCK_MONOTONIC, ns):
// what cuframes adds on top of the stream sync, for benchmarks and monitors.
struct PublishTiming {
    uint64_t acquire_ns = 0;  // acquire(): finding a slot no subscriber holds
    uint64_t sync_ns = 0;     // publish(): cuStreamSynchronize (0 on host)
    uint64_t ring_ns = 0;     // publish(): record, ring entry, sequence update
    uint64_t wake_ns = 0;     // publish(): FUTEX_WAKE of the sleeping subscribers
};

// Not thread-safe for concurrent producers of frames: acquire, publish and
// abort belong to one thread. close() may come from any thread and waits for
// a call in progress.
class CUFRAMES_API Publisher {
public:
    explicit Publisher(const PublisherOptions &options);
    ~Publisher();
    Publisher(Publisher &&) noexcept;
    Publisher &operator=(Publisher &&) noexcept;
    Publisher(const Publisher &) = delete;
    Publisher &operator=(const Publisher &) = delete;

    // A free slot: not held by any subscriber and not the newest frame. Never
    // blocks. Throws STATE if a slot is already acquired.
    WritableSlot acquire();
    // cuStreamSynchronize(stream) (stream_ordered: a queued completion signal
    // instead), then the sequence update, then the wake-up.
    // Returns the new frame's sequence number. metadata_size <= 4096.
    uint64_t publish(StreamHandle stream, int64_t pts, const void *metadata, uint32_t metadata_size);
    // Hands the acquired slot back unpublished. No-op when none is acquired.
    void abort();
    // Copies a packed frame (planes back to back, no row padding) into the
    // acquired slot, on `stream`; the copy is ordered before publish(stream).
    void copy_into_acquired(uint64_t src, uint64_t src_size, MemoryKind src_kind, StreamHandle stream);
    // Appends one encoded access unit (Annex-B, start codes included) to the
    // packet ring and wakes its subscribers; returns its sequence number. Give
    // it the pts of the frame it decodes to. Never blocks on subscribers.
    // Thread-safe with respect to the frame calls. Throws STATE without a
    // packet ring or once closed, INVALID_ARGUMENT for a malformed packet.
    uint64_t publish_packet(const void *data, uint64_t size, int64_t pts, int64_t dts, cuframes_codec codec,
                            bool keyframe);
    // The parameter sets (Annex-B VPS/SPS/PPS) to put in front of a joining
    // subscriber's first keyframe when it does not carry them in-band (e.g.
    // from a container's extradata). In-band ones replace them as they come.
    void set_parameter_sets(cuframes_codec codec, const void *data, uint64_t size);
    // Stops serving: tells subscribers, removes the socket and lock. Idempotent.
    void close() noexcept;

    bool closed() const noexcept;
    bool has_acquired() const noexcept;
    const std::string &key() const noexcept;
    const std::string &dir() const noexcept;
    const std::string &socket_path() const noexcept;
    Backend backend() const noexcept;  // never Auto
    int device() const noexcept;       // CUDA ordinal, -1 on host
    const FrameLayout &layout() const noexcept;
    const StreamFacts &facts() const noexcept;
    uint32_t slot_count() const noexcept;
    uint64_t slot_size() const noexcept;
    uint32_t max_subscribers() const noexcept;
    uint32_t max_held() const noexcept;
    uint32_t subscriber_count() const noexcept;         // frame subscribers
    uint32_t packet_subscriber_count() const noexcept;  // packet subscribers
    uint64_t packet_ring_bytes() const noexcept;        // 0: no packet ring
    uint64_t last_packet_seq() const noexcept;
    uint64_t last_seq() const noexcept;
    // Timing of the last acquire() and publish().
    PublishTiming last_timing() const noexcept;
    // Keeps the slots mapped while held, even after close(): for views of a
    // slot that may outlive the publisher. nullptr once closed.
    std::shared_ptr<const void> slot_memory_owner() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace cuframes
