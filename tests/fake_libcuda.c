// A stand-in for libcuda.so.1 with the few driver calls the probes in bench/cpp/ make
// (probe_driver.hpp), so that tests/test_bench_peers.py runs their two processes on a machine
// without a GPU.
//
// "Device memory" is host memory: each cuMemAlloc is a POSIX shared-memory object mapped into the
// process, and its IPC handle carries the object's name, so cuIpcOpenMemHandle in another process
// maps the same bytes. Copies are memcpy, and streams are synchronous. FAKE_CUDA_INIT_ERROR=N makes
// cuInit return N (100 is CUDA_ERROR_NO_DEVICE), as on a machine whose driver finds no GPU.
// Types are declared here, laid out as in cuda.h, so no CUDA header is needed to build it.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef struct {
    char reserved[64];
} CUipcMemHandle;

enum { kSuccess = 0, kInvalidValue = 1, kOutOfMemory = 2, kNoDevice = 100, kMaxAllocations = 64 };

static struct {
    CUdeviceptr ptr;
    size_t size;
    char name[48];
} allocations[kMaxAllocations];
static int counter;

CUresult cuInit(unsigned flags) {
    (void)flags;
    const char *forced = getenv("FAKE_CUDA_INIT_ERROR");
    return forced ? atoi(forced) : kSuccess;
}

CUresult cuGetErrorName(CUresult status, const char **name) {
    *name = status == kNoDevice       ? "CUDA_ERROR_NO_DEVICE"
            : status == kInvalidValue ? "CUDA_ERROR_INVALID_VALUE"
                                      : "CUDA_ERROR_FAKE";
    return kSuccess;
}

CUresult cuDeviceGet(int *device, int ordinal) {
    *device = ordinal;
    return ordinal == 0 ? kSuccess : kInvalidValue;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int device) {
    *ctx = (void *)(long)(device + 1);
    return kSuccess;
}
CUresult cuDevicePrimaryCtxRelease_v2(int device) { return (void)device, kSuccess; }
CUresult cuCtxSetCurrent(void *ctx) { return (void)ctx, kSuccess; }
CUresult cuCtxSynchronize(void) { return kSuccess; }
CUresult cuStreamCreate(void **stream, unsigned flags) {
    (void)flags;
    *stream = (void *)1;
    return kSuccess;
}
CUresult cuStreamDestroy_v2(void *stream) { return (void)stream, kSuccess; }
CUresult cuStreamSynchronize(void *stream) { return (void)stream, kSuccess; }

static CUresult map_object(const char *name, size_t size, int create, CUdeviceptr *ptr) {
    int fd = shm_open(name, create ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0600);
    if (fd < 0) return kInvalidValue;
    if (create && ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        shm_unlink(name);
        return kOutOfMemory;
    }
    void *at = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (at == MAP_FAILED) return kOutOfMemory;
    *ptr = (CUdeviceptr)at;
    return kSuccess;
}

CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t size) {
    for (int i = 0; i < kMaxAllocations; ++i) {
        if (allocations[i].ptr != 0) continue;
        snprintf(allocations[i].name, sizeof allocations[i].name, "/fake-cuda-%d-%d", (int)getpid(), counter++);
        CUresult status = map_object(allocations[i].name, size, 1, ptr);
        if (status != kSuccess) return status;
        allocations[i].ptr = *ptr;
        allocations[i].size = size;
        return kSuccess;
    }
    return kOutOfMemory;
}

CUresult cuMemFree_v2(CUdeviceptr ptr) {
    for (int i = 0; i < kMaxAllocations; ++i) {
        if (allocations[i].ptr != ptr) continue;
        munmap((void *)ptr, allocations[i].size);
        shm_unlink(allocations[i].name);
        allocations[i].ptr = 0;
        return kSuccess;
    }
    return kInvalidValue;
}

CUresult cuMemsetD8_v2(CUdeviceptr ptr, unsigned char value, size_t n) {
    memset((void *)ptr, value, n);
    return kSuccess;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void *stream) {
    (void)stream;
    memcpy((void *)dst, (const void *)src, n);
    return kSuccess;
}
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
    memcpy(dst, (const void *)src, n);
    return kSuccess;
}

CUresult cuIpcGetMemHandle(CUipcMemHandle *handle, CUdeviceptr ptr) {
    for (int i = 0; i < kMaxAllocations; ++i) {
        if (allocations[i].ptr != ptr) continue;
        memset(handle, 0, sizeof *handle);
        memcpy(handle->reserved, &allocations[i].size, sizeof(size_t));
        snprintf(handle->reserved + sizeof(size_t), sizeof handle->reserved - sizeof(size_t), "%s",
                 allocations[i].name);
        return kSuccess;
    }
    return kInvalidValue;
}

CUresult cuIpcOpenMemHandle_v2(CUdeviceptr *ptr, CUipcMemHandle handle, unsigned flags) {
    (void)flags;
    size_t size = 0;
    memcpy(&size, handle.reserved, sizeof size);
    handle.reserved[sizeof handle.reserved - 1] = '\0';
    for (int i = 0; i < kMaxAllocations; ++i) {
        if (allocations[i].ptr != 0) continue;
        CUresult status = map_object(handle.reserved + sizeof(size_t), size, 0, ptr);
        if (status != kSuccess) return status;
        allocations[i].ptr = *ptr;
        allocations[i].size = size;
        allocations[i].name[0] = '\0';  // not ours to unlink
        return kSuccess;
    }
    return kOutOfMemory;
}

CUresult cuIpcCloseMemHandle(CUdeviceptr ptr) {
    for (int i = 0; i < kMaxAllocations; ++i) {
        if (allocations[i].ptr != ptr || allocations[i].name[0] != '\0') continue;
        munmap((void *)ptr, allocations[i].size);
        allocations[i].ptr = 0;
        return kSuccess;
    }
    return kInvalidValue;
}

// For bench/cpp/bounce_probe.cpp: pinned host memory is malloc'ed, copies are memcpy, streams
// and events are synchronous no-ops, and an event pair measures 1 µs.
CUresult cuMemHostAlloc(void **ptr, size_t size, unsigned flags) {
    (void)flags;
    *ptr = malloc(size);
    return *ptr ? kSuccess : kOutOfMemory;
}
CUresult cuMemFreeHost(void *ptr) { return free(ptr), kSuccess; }
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, void *stream) {
    (void)stream;
    memcpy(dst, (const void *)src, n);
    return kSuccess;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, void *stream) {
    (void)stream;
    memcpy((void *)dst, src, n);
    return kSuccess;
}
CUresult cuEventCreate(void **event, unsigned flags) {
    (void)flags;
    *event = (void *)1;
    return kSuccess;
}
CUresult cuEventDestroy_v2(void *event) { return (void)event, kSuccess; }
CUresult cuEventRecord(void *event, void *stream) { return (void)event, (void)stream, kSuccess; }
CUresult cuStreamWaitEvent(void *stream, void *event, unsigned flags) {
    return (void)stream, (void)event, (void)flags, kSuccess;
}
// cuda.h names it cuEventElapsedTime_v2 from CUDA 12.8 on, cuEventElapsedTime before.
CUresult cuEventElapsedTime_v2(float *ms, void *start, void *end) {
    (void)start, (void)end;
    *ms = 0.001f;
    return kSuccess;
}
CUresult cuEventElapsedTime(float *ms, void *start, void *end) { return cuEventElapsedTime_v2(ms, start, end); }
