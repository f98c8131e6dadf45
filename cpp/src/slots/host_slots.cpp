// Host backend: every slot is a sealed memfd, mapped writable by the producer
// and read-only by subscribers.
#include <unistd.h>

#include <cstring>

#include "base/memfd.hpp"
#include "base/memory_map.hpp"
#include "cuframes/error.hpp"
#include "slots/slot_pool.hpp"

namespace cuframes {

void check_packed_size(const FrameLayout &layout, uint64_t user_size, CopyDirection direction) {
    bool ok =
        direction == CopyDirection::IntoSlot ? user_size == layout.packed_bytes : user_size >= layout.packed_bytes;
    if (!ok)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                    std::string("buffer of ") + std::to_string(user_size) + " bytes does not fit a packed " +
                        format_name(layout.format) + " " + std::to_string(layout.width) + "x" +
                        std::to_string(layout.height) + " frame (" + std::to_string(layout.packed_bytes) + " bytes)");
}

void copy_packed_host(uint8_t *slot_base, const FrameLayout &layout, uint8_t *user, CopyDirection direction) {
    for (uint32_t p = 0; p < layout.plane_count; ++p) {
        const Plane &plane = layout.planes[p];
        uint8_t *pitched = slot_base + plane.offset;
        for (uint32_t row = 0; row < plane.height; ++row) {
            uint8_t *slot_row = pitched + static_cast<uint64_t>(row) * plane.pitch;
            if (direction == CopyDirection::IntoSlot)
                std::memcpy(slot_row, user, plane.row_bytes);
            else
                std::memcpy(user, slot_row, plane.row_bytes);
            user += plane.row_bytes;
        }
    }
}

namespace {

uint64_t page_size() {
    long size = ::sysconf(_SC_PAGESIZE);
    return size > 0 ? static_cast<uint64_t>(size) : 4096;
}

void require_host_memory(MemoryKind kind) {
    if (kind == MemoryKind::Device)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "the host backend copies only to and from host memory");
}

class HostSlotPool final : public SlotPool {
public:
    HostSlotPool(uint32_t count, uint64_t min_slot_bytes) {
        uint64_t page = page_size();
        slot_size_ = (min_slot_bytes + page - 1) / page * page;
        for (uint32_t i = 0; i < count; ++i) {
            UniqueFd fd = create_sealed_memfd("cuframes-slot", slot_size_);
            maps_.emplace_back(fd.get(), slot_size_, true, "slot " + std::to_string(i));
            seal_final(fd.get(), true, "slot " + std::to_string(i));  // only our mapping writes
            read_only_fds_.push_back(reopen_read_only(fd.get(), "slot " + std::to_string(i)));
        }
    }
    Backend backend() const noexcept override { return Backend::Host; }
    uint32_t count() const noexcept override { return static_cast<uint32_t>(maps_.size()); }
    uint64_t slot_size() const noexcept override { return slot_size_; }
    uint64_t address(uint32_t slot) const noexcept override { return reinterpret_cast<uint64_t>(maps_[slot].data()); }
    int shareable_fd(uint32_t slot) const noexcept override { return read_only_fds_[slot].get(); }
    int device() const noexcept override { return -1; }
    DeviceUuid device_uuid() const noexcept override { return {}; }
    void synchronize(StreamHandle) override {}
    void enable_ready_signals(void *, uint64_t) override {
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "stream-ordered publishing needs the cuda backend: a host frame is "
                                                   "complete when the CPU's copy returns");
    }
    void signal_ready(StreamHandle, std::atomic<uint64_t> *, uint64_t) override {}
    void disable_ready_signals() noexcept override {}
    void copy_packed(uint32_t slot, const FrameLayout &layout, uint64_t user, uint64_t user_size, MemoryKind user_kind,
                     StreamHandle) override {
        require_host_memory(user_kind);
        check_packed_size(layout, user_size, CopyDirection::IntoSlot);
        copy_packed_host(static_cast<uint8_t *>(maps_[slot].data()), layout, reinterpret_cast<uint8_t *>(user),
                         CopyDirection::IntoSlot);
    }

private:
    uint64_t slot_size_ = 0;
    std::vector<MemoryMap> maps_;
    std::vector<UniqueFd> read_only_fds_;
};

class ImportedHostSlots final : public ImportedSlots {
public:
    ImportedHostSlots(std::vector<UniqueFd> fds, uint64_t slot_size) {
        for (size_t i = 0; i < fds.size(); ++i) {
            std::string what = "slot " + std::to_string(i);
            check_sealed_region(fds[i].get(), slot_size, what, true);
            maps_.emplace_back(fds[i].get(), slot_size, false, what);
        }
        // The descriptors close here: the mappings keep the memory alive.
    }
    uint64_t address(uint32_t slot) const noexcept override { return reinterpret_cast<uint64_t>(maps_[slot].data()); }
    int device() const noexcept override { return -1; }
    void copy_packed_out(uint32_t slot, const FrameLayout &layout, uint64_t user, uint64_t user_size,
                         MemoryKind user_kind, StreamHandle) const override {
        require_host_memory(user_kind);
        check_packed_size(layout, user_size, CopyDirection::OutOfSlot);
        copy_packed_host(static_cast<uint8_t *>(maps_[slot].data()), layout, reinterpret_cast<uint8_t *>(user),
                         CopyDirection::OutOfSlot);
    }

private:
    std::vector<MemoryMap> maps_;
};

}  // namespace

std::unique_ptr<SlotPool> make_host_slot_pool(uint32_t count, uint64_t min_slot_bytes) {
    return std::make_unique<HostSlotPool>(count, min_slot_bytes);
}

std::unique_ptr<ImportedSlots> import_host_slots(std::vector<UniqueFd> fds, uint64_t slot_size) {
    return std::make_unique<ImportedHostSlots>(std::move(fds), slot_size);
}

}  // namespace cuframes
