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

class WritableFrame;

// Where the producer's last frame spent its time (CLOCK_MONOTONIC, ns):
// what cuframes adds on top of the stream sync, for benchmarks and monitors.
struct PublishTiming {
    uint64_t acquire_ns = 0;  // loan(): finding a slot no subscriber holds
    uint64_t sync_ns = 0;     // publish(): cuStreamSynchronize (0 on host)
    uint64_t ring_ns = 0;     // publish(): record, ring entry, sequence update
    uint64_t wake_ns = 0;     // publish(): FUTEX_WAKE of the sleeping subscribers
};

// Not thread-safe for concurrent producers of frames: loan and publish belong
// to one thread. close() may come from any thread and waits for a call in
// progress.
class CUFRAMES_API Publisher {
public:
    struct Impl;

    explicit Publisher(const PublisherOptions &options);
    ~Publisher();
    Publisher(Publisher &&) noexcept;
    Publisher &operator=(Publisher &&) noexcept;
    Publisher(const Publisher &) = delete;
    Publisher &operator=(const Publisher &) = delete;

    // A free slot to write the next frame into: not held by any subscriber
    // and not the newest frame. Never blocks. One frame is on loan at a time:
    // throws STATE while another is (publish or drop it first).
    //   auto frame = publisher.loan();
    //   ... write frame.data() + layout().planes[i].offset ...
    //   publisher.publish(std::move(frame), stream, pts, nullptr, 0);
    WritableFrame loan();
    // Publishes the loaned frame: cuStreamSynchronize(stream) (stream_ordered:
    // a queued completion signal instead), then the sequence update, then the
    // wake-up. Returns the new frame's sequence number. metadata_size <= 4096.
    // The frame is consumed once the ring has it; a call that throws before
    // (bad metadata, a closed publisher) leaves it on loan with the caller.
    // INVALID_ARGUMENT for a frame of another publisher, STATE for an empty one.
    uint64_t publish(WritableFrame &&frame, StreamHandle stream, int64_t pts, const void *metadata,
                     uint32_t metadata_size);
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
    // Timing of the last loan() and publish().
    PublishTiming last_timing() const noexcept;
    // Keeps the slots mapped while held, even after close(): for views of a
    // slot that may outlive the publisher. nullptr once closed.
    std::shared_ptr<const void> slot_memory_owner() const;

private:
    // Shared with the frame on loan, which may outlive the Publisher.
    std::shared_ptr<Impl> impl_;
};

// A slot on loan from Publisher::loan(): fill it, then hand it to
// Publisher::publish(std::move(frame), ...) (iceoryx2's loan -> send). Move-only.
// Destroyed unpublished, it aborts: the slot goes back to the pool unpublished,
// as discard() does. It may outlive its Publisher (it is then merely dropped).
class CUFRAMES_API WritableFrame {
public:
    ~WritableFrame();
    WritableFrame(WritableFrame &&other) noexcept;
    WritableFrame &operator=(WritableFrame &&other) noexcept;  // drops the frame it held
    WritableFrame(const WritableFrame &) = delete;
    WritableFrame &operator=(const WritableFrame &) = delete;

    // False once published, discarded or moved from.
    explicit operator bool() const noexcept { return owner_ != nullptr; }
    uint32_t index() const noexcept { return slot_; }
    uint64_t data() const noexcept { return data_; }  // CUdeviceptr on cuda, CPU address on host
    uint64_t size() const noexcept { return size_; }  // bytes of the slot
    // Copies a packed frame (planes back to back, no row padding) into the
    // slot on `stream`; the copy is ordered before publish(stream). STATE when
    // empty or when the publisher is closed.
    void copy_from(uint64_t src, uint64_t src_size, MemoryKind src_kind, StreamHandle stream);
    // Hands the slot back unpublished now (what the destructor does). Idempotent.
    void discard() noexcept;

private:
    friend class Publisher;
    WritableFrame(std::shared_ptr<Publisher::Impl> owner, uint32_t slot, uint64_t data, uint64_t size) noexcept;

    std::shared_ptr<Publisher::Impl> owner_;
    uint32_t slot_ = 0;
    uint64_t data_ = 0;
    uint64_t size_ = 0;
};

}  // namespace cuframes
