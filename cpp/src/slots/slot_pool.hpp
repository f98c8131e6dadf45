// The frame slots, behind one interface for both backends.
//  - SlotPool: the producer's N slots, writable, with a descriptor per slot
//    to hand to subscribers.
//  - ImportedSlots: a subscriber's read-only view of the same slots.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/unique_fd.hpp"
#include "cuframes/format.hpp"
#include "cuframes/types.hpp"

namespace cuframes {

using DeviceUuid = std::array<uint8_t, 16>;

// Which way a packed copy goes, relative to the slot.
enum class CopyDirection { IntoSlot, OutOfSlot };

class SlotPool {
public:
    virtual ~SlotPool() = default;
    virtual Backend backend() const noexcept = 0;
    virtual uint32_t count() const noexcept = 0;
    virtual uint64_t slot_size() const noexcept = 0;
    virtual uint64_t address(uint32_t slot) const noexcept = 0;
    // The descriptor a subscriber receives for `slot` (read-only on host).
    virtual int shareable_fd(uint32_t slot) const noexcept = 0;
    virtual int device() const noexcept = 0;  // -1 on host
    virtual DeviceUuid device_uuid() const noexcept = 0;
    // Waits until all work queued on `stream` is done (the publish barrier).
    virtual void synchronize(StreamHandle stream) = 0;
    // Stream-ordered copy of a packed frame (planes back to back) into `slot`.
    virtual void copy_packed(uint32_t slot, const FrameLayout &layout, uint64_t user, uint64_t user_size,
                             MemoryKind user_kind, StreamHandle stream) = 0;

    // Stream-ordered publishing (cuda only; host throws INVALID_ARGUMENT):
    // registers the shared header with the GPU so that signal_ready() can
    // enqueue a write of a frame's ready word on the producer's stream.
    virtual void enable_ready_signals(void *region, uint64_t bytes) = 0;
    // Enqueues *word = value on `stream`, after the work already queued there.
    virtual void signal_ready(StreamHandle stream, std::atomic<uint64_t> *word, uint64_t value) = 0;
    // Waits for every queued signal, then unregisters the header. Idempotent.
    // The caller does it while the header is still mapped (the publisher's
    // ReadySignals member).
    virtual void disable_ready_signals() noexcept = 0;
};

class ImportedSlots {
public:
    virtual ~ImportedSlots() = default;
    virtual uint64_t address(uint32_t slot) const noexcept = 0;
    virtual int device() const noexcept = 0;  // local ordinal, -1 on host
    // Packed copy of `slot` into user memory; complete when this returns.
    virtual void copy_packed_out(uint32_t slot, const FrameLayout &layout, uint64_t user, uint64_t user_size,
                                 MemoryKind user_kind, StreamHandle stream) const = 0;
};

std::unique_ptr<SlotPool> make_host_slot_pool(uint32_t count, uint64_t min_slot_bytes);
std::unique_ptr<SlotPool> make_cuda_slot_pool(int device, uint32_t count, uint64_t min_slot_bytes);

// Take ownership of the descriptors (one per slot), validate and map them.
std::unique_ptr<ImportedSlots> import_host_slots(std::vector<UniqueFd> fds, uint64_t slot_size);
std::unique_ptr<ImportedSlots> import_cuda_slots(std::vector<UniqueFd> fds, uint64_t slot_size,
                                                 const DeviceUuid &producer_device);

// Host memcpy of a packed frame to or from a pitched slot at `slot_base`.
void copy_packed_host(uint8_t *slot_base, const FrameLayout &layout, uint8_t *user, CopyDirection direction);
// Throws INVALID_ARGUMENT unless user_size fits the packed frame (== for
// copies into a slot, >= for copies out).
void check_packed_size(const FrameLayout &layout, uint64_t user_size, CopyDirection direction);

}  // namespace cuframes
