// CUDA backend: every slot is a VMM allocation (cuMemCreate) exported as a
// POSIX file descriptor. Subscribers import it and map it read-only.
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "cuda/cuda_driver.hpp"
#include "cuframes/error.hpp"
#include "slots/slot_pool.hpp"

namespace cuframes {
namespace {

std::string slot_context(uint32_t slot) { return "slot " + std::to_string(slot); }

// For calls that release something, on paths that must not throw (destructors,
// clean-up before rethrowing): a failure is reported, not raised.
void report(CUresult result, const char *call) {
    if (result != CUDA_SUCCESS)
        std::fprintf(stderr, "cuframes: %s failed: %s\n", call, describe_cuda_error(result).c_str());
}

CUmemAllocationProp allocation_properties(CUdevice device) {
    CUmemAllocationProp properties{};
    properties.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    properties.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    properties.location.id = device;
    properties.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    return properties;
}

uint64_t granularity_for(CUdevice device) {
    CUmemAllocationProp properties = allocation_properties(device);
    size_t granularity = 0;
    CUFRAMES_CU(
        cuda_driver().cuMemGetAllocationGranularity(&granularity, &properties, CU_MEM_ALLOC_GRANULARITY_MINIMUM),
        "device " + std::to_string(device));
    return granularity;
}

// One mapped VMM allocation. Owns the reservation, the mapping and (on the
// producer) the allocation handle; released in reverse order.
class MappedAllocation {
public:
    MappedAllocation() = default;
    MappedAllocation(const MappedAllocation &) = delete;
    MappedAllocation &operator=(const MappedAllocation &) = delete;
    ~MappedAllocation() {
        const CudaDriver &cu = cuda_driver();
        if (mapped_) report(cu.cuMemUnmap(address_, size_), "cuMemUnmap");
        if (address_ != 0) report(cu.cuMemAddressFree(address_, size_), "cuMemAddressFree");
        if (handle_) report(cu.cuMemRelease(*handle_), "cuMemRelease");
    }

    // Reserves address space, maps `handle` there and sets access for `device`.
    void map(CUmemGenericAllocationHandle handle, uint64_t size, CUdevice device, bool writable,
             const std::string &context) {
        const CudaDriver &cu = cuda_driver();
        handle_ = handle;
        size_ = size;
        CUFRAMES_CU(cu.cuMemAddressReserve(&address_, size, 0, 0, 0), context);
        CUFRAMES_CU(cu.cuMemMap(address_, size, 0, handle, 0), context);
        mapped_ = true;
        CUmemAccessDesc access{};
        access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
        access.location.id = device;
        access.flags = writable ? CU_MEM_ACCESS_FLAGS_PROT_READWRITE : CU_MEM_ACCESS_FLAGS_PROT_READ;
        CUFRAMES_CU(cu.cuMemSetAccess(address_, size, &access, 1), context);
    }

    CUdeviceptr address() const noexcept { return address_; }

private:
    std::optional<CUmemGenericAllocationHandle> handle_;
    CUdeviceptr address_ = 0;
    uint64_t size_ = 0;
    bool mapped_ = false;
};

// A subscriber's slots, imported into one address reservation and made
// readable with one cuMemSetAccess for all of them: access setting is the
// costliest per-call step of an attach after the import itself (about 34 us
// a call on an H100), so one call instead of one per slot.
class ReadOnlySlotRange {
public:
    ReadOnlySlotRange(uint64_t slot_size, size_t count, const std::string &context)
        : slot_size_(slot_size), capacity_(count) {
        CUFRAMES_CU(cuda_driver().cuMemAddressReserve(&base_, slot_size * count, 0, 0, 0), context);
    }
    ReadOnlySlotRange(const ReadOnlySlotRange &) = delete;
    ReadOnlySlotRange &operator=(const ReadOnlySlotRange &) = delete;
    ~ReadOnlySlotRange() {
        const CudaDriver &cu = cuda_driver();
        for (size_t i = 0; i < mapped_; ++i) report(cu.cuMemUnmap(address(i), slot_size_), "cuMemUnmap");
        report(cu.cuMemAddressFree(base_, slot_size_ * capacity_), "cuMemAddressFree");
    }

    // Maps the next slot. Takes the handle: the mapping keeps the memory alive,
    // so the handle is released at once, whether the map worked or not.
    void map_next(CUmemGenericAllocationHandle handle, const std::string &context) {
        const CudaDriver &cu = cuda_driver();
        CUresult mapped =
            mapped_ < capacity_ ? cu.cuMemMap(address(mapped_), slot_size_, 0, handle, 0) : CUDA_ERROR_INVALID_VALUE;
        report(cu.cuMemRelease(handle), "cuMemRelease");
        check_cuda(mapped, "cuMemMap", context);
        ++mapped_;
    }

    // Read access for `device` over every slot mapped so far.
    void allow_reading(CUdevice device, const std::string &context) {
        CUmemAccessDesc access{};
        access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
        access.location.id = device;
        access.flags = CU_MEM_ACCESS_FLAGS_PROT_READ;
        CUFRAMES_CU(cuda_driver().cuMemSetAccess(base_, slot_size_ * mapped_, &access, 1), context);
    }

    CUdeviceptr address(size_t slot) const noexcept { return base_ + slot * slot_size_; }

private:
    uint64_t slot_size_;
    size_t capacity_;
    size_t mapped_ = 0;
    CUdeviceptr base_ = 0;
};

// Stream-ordered 2-D copies of each plane between a pitched slot and a
// packed user buffer.
void copy_planes(CUdeviceptr slot, const FrameLayout &layout, uint64_t user, MemoryKind user_kind,
                 CopyDirection direction, CUstream stream) {
    const CudaDriver &cu = cuda_driver();
    uint64_t packed_offset = 0;
    for (uint32_t p = 0; p < layout.plane_count; ++p) {
        const Plane &plane = layout.planes[p];
        CUDA_MEMCPY2D copy{};
        CUmemorytype user_type = user_kind == MemoryKind::Device ? CU_MEMORYTYPE_DEVICE
                                 : user_kind == MemoryKind::Host ? CU_MEMORYTYPE_HOST
                                                                 : CU_MEMORYTYPE_UNIFIED;
        uint64_t user_address = user + packed_offset;
        if (direction == CopyDirection::IntoSlot) {
            copy.srcMemoryType = user_type;
            copy.srcHost = reinterpret_cast<const void *>(user_address);
            copy.srcDevice = static_cast<CUdeviceptr>(user_address);
            copy.srcPitch = plane.row_bytes;
            copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
            copy.dstDevice = slot + plane.offset;
            copy.dstPitch = plane.pitch;
        } else {
            copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
            copy.srcDevice = slot + plane.offset;
            copy.srcPitch = plane.pitch;
            copy.dstMemoryType = user_type;
            copy.dstHost = reinterpret_cast<void *>(user_address);
            copy.dstDevice = static_cast<CUdeviceptr>(user_address);
            copy.dstPitch = plane.row_bytes;
        }
        copy.WidthInBytes = plane.row_bytes;
        copy.Height = plane.height;
        CUFRAMES_CU(cu.cuMemcpy2DAsync(&copy, stream), std::string("plane ") + plane_name(layout.format, p));
        packed_offset += static_cast<uint64_t>(plane.row_bytes) * plane.height;
    }
}

CUdevice device_from_ordinal(int ordinal) {
    const CudaDriver &cu = cuda_driver();
    int count = 0;
    CUFRAMES_CU(cu.cuDeviceGetCount(&count), "");
    if (ordinal < 0 || ordinal >= count)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "CUDA device " + std::to_string(ordinal) + " does not exist (" +
                                                       std::to_string(count) + " visible)");
    CUdevice device = 0;
    CUFRAMES_CU(cu.cuDeviceGet(&device, ordinal), "device " + std::to_string(ordinal));
    int vmm = 0;
    int posix_fd = 0;
    CUFRAMES_CU(cu.cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, device), "");
    CUFRAMES_CU(
        cu.cuDeviceGetAttribute(&posix_fd, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, device),
        "");
    if (!vmm || !posix_fd)
        throw Error(CUFRAMES_ERR_CUDA_UNAVAILABLE, "CUDA device " + std::to_string(ordinal) +
                                                       " lacks virtual memory management with POSIX-FD handles");
    return device;
}

DeviceUuid uuid_of(CUdevice device) {
    CUuuid uuid{};
    CUFRAMES_CU(cuda_driver().cuDeviceGetUuid(&uuid, device), "");
    DeviceUuid out{};
    std::memcpy(out.data(), uuid.bytes, out.size());
    return out;
}

class CudaSlotPool final : public SlotPool {
public:
    CudaSlotPool(int ordinal, uint32_t count, uint64_t min_slot_bytes)
        : ordinal_(ordinal), context_(device_from_ordinal(ordinal)) {
        ScopedContext current(context_.get());
        uuid_ = uuid_of(context_.device());
        uint64_t granularity = granularity_for(context_.device());
        slot_size_ = (min_slot_bytes + granularity - 1) / granularity * granularity;
        CUmemAllocationProp properties = allocation_properties(context_.device());
        slots_.reserve(count);
        try {
            allocate(count, properties);
        } catch (...) {
            release_slots();  // with the context current, before it is released
            throw;
        }
    }

    void allocate(uint32_t count, CUmemAllocationProp &properties) {
        const CudaDriver &cu = cuda_driver();
        for (uint32_t i = 0; i < count; ++i) {
            slots_.push_back(std::make_unique<MappedAllocation>());
            CUmemGenericAllocationHandle handle{};
            CUFRAMES_CU(cu.cuMemCreate(&handle, slot_size_, &properties, 0), slot_context(i));
            // Exported once at start-up: the first exports can take milliseconds.
            int fd = -1;
            CUresult exported =
                cu.cuMemExportToShareableHandle(&fd, handle, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
            if (exported != CUDA_SUCCESS) {
                report(cu.cuMemRelease(handle), "cuMemRelease");
                check_cuda(exported, "cuMemExportToShareableHandle", slot_context(i));
            }
            fds_.emplace_back(fd);
            slots_.back()->map(handle, slot_size_, context_.device(), true, slot_context(i));
        }
    }
    ~CudaSlotPool() override { release_slots(); }

    void release_slots() noexcept {
        try {
            ScopedContext current(context_.get());
            slots_.clear();
        } catch (const Error &error) {
            std::fprintf(stderr, "cuframes: releasing the CUDA slots: %s\n", error.what());
        }
    }

    Backend backend() const noexcept override { return Backend::Cuda; }
    uint32_t count() const noexcept override { return static_cast<uint32_t>(slots_.size()); }
    uint64_t slot_size() const noexcept override { return slot_size_; }
    uint64_t address(uint32_t slot) const noexcept override { return slots_[slot]->address(); }
    int shareable_fd(uint32_t slot) const noexcept override { return fds_[slot].get(); }
    int device() const noexcept override { return ordinal_; }
    DeviceUuid device_uuid() const noexcept override { return uuid_; }

    void synchronize(StreamHandle stream) override {
        ScopedContext current(context_.get());
        CUFRAMES_CU(cuda_driver().cuStreamSynchronize(reinterpret_cast<CUstream>(stream)), "publish");
    }

    void enable_ready_signals(void *region, uint64_t bytes) override {
        ScopedContext current(context_.get());
        const CudaDriver &cu = cuda_driver();
        // DEVICEMAP: the GPU writes the ready words through a device pointer;
        // PORTABLE: from any context of this process.
        CUFRAMES_CU(cu.cuMemHostRegister(region, bytes, CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_PORTABLE),
                    "registering the shared header for stream-ordered publishing");
        CUdeviceptr device_base = 0;
        CUresult mapped = cu.cuMemHostGetDevicePointer(&device_base, region, 0);
        if (mapped != CUDA_SUCCESS) {
            report(cu.cuMemHostUnregister(region), "cuMemHostUnregister");
            check_cuda(mapped, "cuMemHostGetDevicePointer", "the shared header");
        }
        signal_region_ = static_cast<uint8_t *>(region);
        signal_bytes_ = bytes;
        signal_device_base_ = device_base;
    }

    void signal_ready(StreamHandle stream, std::atomic<uint64_t> *word, uint64_t value) override {
        auto *host = reinterpret_cast<uint8_t *>(word);
        if (signal_region_ == nullptr || host < signal_region_ ||
            host + sizeof(uint64_t) > signal_region_ + signal_bytes_)
            throw Error(CUFRAMES_ERR_STATE, "a ready signal outside the registered header");
        ScopedContext current(context_.get());
        CUdeviceptr target = signal_device_base_ + static_cast<CUdeviceptr>(host - signal_region_);
        CUFRAMES_CU(cuda_driver().cuStreamWriteValue64(reinterpret_cast<CUstream>(stream), target, value, 0),
                    "stream-ordered publish");
    }

    void disable_ready_signals() noexcept override {
        if (signal_region_ == nullptr) return;
        try {
            ScopedContext current(context_.get());
            const CudaDriver &cu = cuda_driver();
            // Signals still queued write into the header: let them land first.
            report(cu.cuCtxSynchronize(), "cuCtxSynchronize (queued ready signals)");
            report(cu.cuMemHostUnregister(signal_region_), "cuMemHostUnregister (the shared header)");
        } catch (const Error &error) {
            std::fprintf(stderr, "cuframes: unregistering the shared header: %s\n", error.what());
        }
        signal_region_ = nullptr;
    }

    void copy_packed(uint32_t slot, const FrameLayout &layout, uint64_t user, uint64_t user_size, MemoryKind user_kind,
                     StreamHandle stream) override {
        check_packed_size(layout, user_size, CopyDirection::IntoSlot);
        ScopedContext current(context_.get());
        copy_planes(slots_[slot]->address(), layout, user, user_kind, CopyDirection::IntoSlot,
                    reinterpret_cast<CUstream>(stream));
    }

private:
    int ordinal_;
    PrimaryContext context_;
    DeviceUuid uuid_{};
    uint64_t slot_size_ = 0;
    std::vector<std::unique_ptr<MappedAllocation>> slots_;
    std::vector<UniqueFd> fds_;
    // The header, registered for stream-ordered publishing; null when not.
    uint8_t *signal_region_ = nullptr;
    uint64_t signal_bytes_ = 0;
    CUdeviceptr signal_device_base_ = 0;
};

// The local ordinal of the GPU with this UUID: ordinals differ between
// containers (CUDA_VISIBLE_DEVICES), UUIDs do not.
int ordinal_for_uuid(const DeviceUuid &wanted) {
    const CudaDriver &cu = cuda_driver();
    int count = 0;
    CUFRAMES_CU(cu.cuDeviceGetCount(&count), "");
    for (int ordinal = 0; ordinal < count; ++ordinal) {
        CUdevice device = 0;
        CUFRAMES_CU(cu.cuDeviceGet(&device, ordinal), "");
        if (uuid_of(device) == wanted) return ordinal;
    }
    char text[40];
    std::snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", wanted[0],
                  wanted[1], wanted[2], wanted[3], wanted[4], wanted[5], wanted[6], wanted[7], wanted[8], wanted[9],
                  wanted[10], wanted[11], wanted[12], wanted[13], wanted[14], wanted[15]);
    throw Error(CUFRAMES_ERR_CUDA_UNAVAILABLE,
                std::string("the producer's GPU (GPU-") + text + ") is not visible in this process");
}

class ImportedCudaSlots final : public ImportedSlots {
public:
    ImportedCudaSlots(std::vector<UniqueFd> fds, uint64_t slot_size, const DeviceUuid &producer_device)
        : ordinal_(ordinal_for_uuid(producer_device)), context_(device_from_ordinal(ordinal_)) {
        ScopedContext current(context_.get());
        uint64_t granularity = granularity_for(context_.device());
        if (slot_size == 0 || slot_size % granularity != 0)
            throw Error(CUFRAMES_ERR_PROTOCOL, "the producer's slot size " + std::to_string(slot_size) +
                                                   " is not a multiple of the allocation granularity " +
                                                   std::to_string(granularity));
        try {
            import_all(fds, slot_size);
        } catch (...) {
            release_slots();
            throw;
        }
        // The descriptors close on return: the mappings hold the memory.
    }

    void import_all(const std::vector<UniqueFd> &fds, uint64_t slot_size) {
        const CudaDriver &cu = cuda_driver();
        range_ = std::make_unique<ReadOnlySlotRange>(slot_size, fds.size(), "the slots' address range");
        std::vector<CUmemGenericAllocationHandle> handles = import_handles(fds);
        // From here each handle is released exactly once: by map_next (mapped
        // or not), or below for those after a failed map.
        for (size_t i = 0; i < handles.size(); ++i) {
            try {
                // A size larger than the allocation makes cuMemMap fail: the
                // producer's claimed size is checked by the driver here.
                range_->map_next(handles[i], slot_context(static_cast<uint32_t>(i)));
            } catch (...) {
                for (size_t j = i + 1; j < handles.size(); ++j) report(cu.cuMemRelease(handles[j]), "cuMemRelease");
                throw;
            }
        }
        range_->allow_reading(context_.device(), "read access to the slots");
    }

    // Imports every descriptor, in slot order. On a failure every handle
    // imported so far is released. (Imports on four threads measured no
    // faster on an H100: the driver serialises them.)
    std::vector<CUmemGenericAllocationHandle> import_handles(const std::vector<UniqueFd> &fds) {
        const CudaDriver &cu = cuda_driver();
        std::vector<CUmemGenericAllocationHandle> handles;
        handles.reserve(fds.size());
        for (size_t i = 0; i < fds.size(); ++i) {
            CUmemGenericAllocationHandle handle{};
            void *fd = reinterpret_cast<void *>(static_cast<intptr_t>(fds[i].get()));
            CUresult imported =
                cu.cuMemImportFromShareableHandle(&handle, fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
            if (imported != CUDA_SUCCESS) {
                for (CUmemGenericAllocationHandle done : handles) report(cu.cuMemRelease(done), "cuMemRelease");
                check_cuda(imported, "cuMemImportFromShareableHandle",
                           slot_context(static_cast<uint32_t>(i)) +
                               " (the descriptor is not a CUDA allocation of this machine)");
            }
            handles.push_back(handle);
        }
        return handles;
    }

    ~ImportedCudaSlots() override { release_slots(); }

    void release_slots() noexcept {
        try {
            ScopedContext current(context_.get());
            range_.reset();
        } catch (const Error &error) {
            std::fprintf(stderr, "cuframes: releasing imported CUDA slots: %s\n", error.what());
        }
    }

    uint64_t address(uint32_t slot) const noexcept override { return range_->address(slot); }
    int device() const noexcept override { return ordinal_; }

    void copy_packed_out(uint32_t slot, const FrameLayout &layout, uint64_t user, uint64_t user_size,
                         MemoryKind user_kind, StreamHandle stream) const override {
        check_packed_size(layout, user_size, CopyDirection::OutOfSlot);
        ScopedContext current(context_.get());
        CUstream cu_stream = reinterpret_cast<CUstream>(stream);
        copy_planes(range_->address(slot), layout, user, user_kind, CopyDirection::OutOfSlot, cu_stream);
        // The slot may be rewritten once the caller lets the frame go, so the
        // copy has to be finished before this returns.
        CUFRAMES_CU(cuda_driver().cuStreamSynchronize(cu_stream), "read_into");
    }

private:
    int ordinal_;
    PrimaryContext context_;
    std::unique_ptr<ReadOnlySlotRange> range_;
};

}  // namespace

std::unique_ptr<SlotPool> make_cuda_slot_pool(int device, uint32_t count, uint64_t min_slot_bytes) {
    return std::make_unique<CudaSlotPool>(device, count, min_slot_bytes);
}

std::unique_ptr<ImportedSlots> import_cuda_slots(std::vector<UniqueFd> fds, uint64_t slot_size,
                                                 const DeviceUuid &producer_device) {
    return std::make_unique<ImportedCudaSlots>(std::move(fds), slot_size, producer_device);
}

}  // namespace cuframes
