// What the benchmark's stand-alone C++ probes share (legacy_ipc_probe.cpp, bounce_probe.cpp): the
// driver entry points they call, resolved from libcuda.so.1 at run time (no link-time dependency,
// as in the cuframes core), errors as exceptions that name the call, the primary context with a
// stream and the device buffers made in it, one clock and the percentile JSON the Python harness
// reads (bench/harness/common.py's percentiles, same keys).
#pragma once

#include <cuda.h>
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace probe {

[[noreturn]] inline void fail(const std::string &what) { throw std::runtime_error(what); }

#define PROBE_STR2(x) #x
#define PROBE_STR(x) PROBE_STR2(x)  // expands cuda.h's versioning macros: cuMemAlloc -> "cuMemAlloc_v2"

// The driver entry points, resolved by their versioned names from libcuda.so.1.
struct Driver {
    void *lib = nullptr;
    decltype(&::cuInit) init;
    decltype(&::cuGetErrorName) error_name;
    decltype(&::cuDeviceGet) device_get;
    decltype(&::cuDevicePrimaryCtxRetain) ctx_retain;
    decltype(&::cuDevicePrimaryCtxRelease) ctx_release;
    decltype(&::cuCtxSetCurrent) ctx_set;
    decltype(&::cuCtxSynchronize) ctx_sync;
    decltype(&::cuStreamCreate) stream_create;
    decltype(&::cuStreamDestroy) stream_destroy;
    decltype(&::cuStreamSynchronize) stream_sync;
    decltype(&::cuStreamWaitEvent) stream_wait_event;
    decltype(&::cuEventCreate) event_create;
    decltype(&::cuEventDestroy) event_destroy;
    decltype(&::cuEventRecord) event_record;
    decltype(&::cuEventElapsedTime) event_elapsed;
    decltype(&::cuMemAlloc) alloc;
    decltype(&::cuMemFree) free;
    decltype(&::cuMemHostAlloc) host_alloc;
    decltype(&::cuMemFreeHost) host_free;
    decltype(&::cuMemsetD8) memset;
    decltype(&::cuMemcpyDtoDAsync) copy;
    decltype(&::cuMemcpyDtoHAsync) to_host_async;
    decltype(&::cuMemcpyHtoDAsync) to_device_async;
    decltype(&::cuMemcpyDtoH) to_host;
    decltype(&::cuIpcGetMemHandle) ipc_get;
    decltype(&::cuIpcOpenMemHandle) ipc_open;
    decltype(&::cuIpcCloseMemHandle) ipc_close;

    template <typename F>
    void load(F &fn, const char *name) {
        fn = reinterpret_cast<F>(dlsym(lib, name));
        if (fn == nullptr) fail(std::string("libcuda.so.1 has no ") + name + ": the driver is older than cuda.h");
    }

    Driver() {
        lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) fail(std::string("no CUDA driver (dlopen libcuda.so.1: ") + dlerror() + ")");
#define PROBE_LOAD(member, fn) load(member, PROBE_STR(fn))
        PROBE_LOAD(init, cuInit);
        PROBE_LOAD(error_name, cuGetErrorName);
        PROBE_LOAD(device_get, cuDeviceGet);
        PROBE_LOAD(ctx_retain, cuDevicePrimaryCtxRetain);
        PROBE_LOAD(ctx_release, cuDevicePrimaryCtxRelease);
        PROBE_LOAD(ctx_set, cuCtxSetCurrent);
        PROBE_LOAD(ctx_sync, cuCtxSynchronize);
        PROBE_LOAD(stream_create, cuStreamCreate);
        PROBE_LOAD(stream_destroy, cuStreamDestroy);
        PROBE_LOAD(stream_sync, cuStreamSynchronize);
        PROBE_LOAD(stream_wait_event, cuStreamWaitEvent);
        PROBE_LOAD(event_create, cuEventCreate);
        PROBE_LOAD(event_destroy, cuEventDestroy);
        PROBE_LOAD(event_record, cuEventRecord);
        PROBE_LOAD(event_elapsed, cuEventElapsedTime);
        PROBE_LOAD(alloc, cuMemAlloc);
        PROBE_LOAD(free, cuMemFree);
        PROBE_LOAD(host_alloc, cuMemHostAlloc);
        PROBE_LOAD(host_free, cuMemFreeHost);
        PROBE_LOAD(memset, cuMemsetD8);
        PROBE_LOAD(copy, cuMemcpyDtoDAsync);
        PROBE_LOAD(to_host_async, cuMemcpyDtoHAsync);
        PROBE_LOAD(to_device_async, cuMemcpyHtoDAsync);
        PROBE_LOAD(to_host, cuMemcpyDtoH);
        PROBE_LOAD(ipc_get, cuIpcGetMemHandle);
        PROBE_LOAD(ipc_open, cuIpcOpenMemHandle);
        PROBE_LOAD(ipc_close, cuIpcCloseMemHandle);
#undef PROBE_LOAD
    }

    void check(CUresult status, const char *what) const {
        if (status == CUDA_SUCCESS) return;
        const char *name = nullptr;
        if (error_name(status, &name) != CUDA_SUCCESS || name == nullptr) name = "an unknown CUresult";
        fail(std::string(what) + " failed: " + name);
    }
};

// The device's primary context, current in this thread, with one non-blocking stream and the
// device buffers made through alloc(); all released on destruction. A probe that makes more
// (streams, events, pinned memory) derives and frees them in its own destructor, which runs first.
struct Context {
    const Driver &cu;
    CUdevice device{};
    CUstream stream{};
    bool retained = false;
    std::vector<CUdeviceptr> allocations;

    Context(const Driver &driver, int ordinal) : cu(driver) {
        cu.check(cu.init(0), "cuInit");
        cu.check(cu.device_get(&device, ordinal), "cuDeviceGet");
        CUcontext ctx{};
        cu.check(cu.ctx_retain(&ctx, device), "cuDevicePrimaryCtxRetain");
        retained = true;
        cu.check(cu.ctx_set(ctx), "cuCtxSetCurrent");
        cu.check(cu.stream_create(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    }
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;
    ~Context() {  // best effort: the process is exiting, the driver reclaims the rest
        if (!retained) return;
        cu.ctx_sync();
        for (CUdeviceptr ptr : allocations) cu.free(ptr);
        if (stream != nullptr) cu.stream_destroy(stream);
        cu.ctx_release(device);
    }

    // nbytes of device memory, every byte `fill`, the fill complete.
    CUdeviceptr alloc(size_t nbytes, unsigned char fill) {
        CUdeviceptr ptr{};
        cu.check(cu.alloc(&ptr, nbytes), "cuMemAlloc");
        allocations.push_back(ptr);
        cu.check(cu.memset(ptr, fill, nbytes), "cuMemsetD8");
        cu.check(cu.ctx_sync(), "cuCtxSynchronize");
        return ptr;
    }
    // A device-to-device copy on the stream, synced.
    void copy(CUdeviceptr dst, CUdeviceptr src, size_t nbytes) const {
        cu.check(cu.copy(dst, src, nbytes, stream), "cuMemcpyDtoDAsync");
        cu.check(cu.stream_sync(stream), "cuStreamSynchronize");
    }
    // The byte at a device address.
    unsigned char byte_at(CUdeviceptr ptr) const {
        unsigned char byte = 0;
        cu.check(cu.to_host(&byte, ptr, 1), "cuMemcpyDtoH");
        return byte;
    }
};

inline uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// `"name": {"p50": ..., "p99": ..., "p999": ..., "max": ..., "mean": ..., "n": ...}` (nearest rank).
inline void print_percentiles(const char *name, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto pick = [&](double q) { return v.empty() ? 0.0 : v[std::min(v.size() - 1, size_t(q * double(v.size())))]; };
    double sum = 0;
    for (double x : v) sum += x;
    std::printf("\"%s\": {\"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f, \"mean\": %.3f, \"n\": %zu}",
                name, pick(0.5), pick(0.99), pick(0.999), v.empty() ? 0.0 : v.back(),
                v.empty() ? 0.0 : sum / double(v.size()), v.size());
}

}  // namespace probe
