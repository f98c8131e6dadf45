// libcuda, loaded at run time. Nothing here links against the driver, so the
// library imports and the host backend works on machines with no GPU.
#pragma once

#include <cuda.h>

#include <string>

namespace cuframes {

// The driver entry points cuframes uses. Each member has the exact type that
// cuda.h declares; the symbol name is the one cuda.h maps the API name to
// (e.g. cuCtxPushCurrent -> cuCtxPushCurrent_v2).
struct CudaDriver {
#define CUFRAMES_CUDA_FUNCTIONS(X)                                                                                     \
    X(cuInit)                                                                                                          \
    X(cuGetErrorName)                                                                                                  \
    X(cuGetErrorString)                                                                                                \
    X(cuDeviceGet)                                                                                                     \
    X(cuDeviceGetCount)                                                                                                \
    X(cuDeviceGetUuid)                                                                                                 \
    X(cuDeviceGetAttribute)                                                                                            \
    X(cuDevicePrimaryCtxRetain)                                                                                        \
    X(cuDevicePrimaryCtxRelease)                                                                                       \
    X(cuCtxPushCurrent)                                                                                                \
    X(cuCtxPopCurrent)                                                                                                 \
    X(cuMemGetAllocationGranularity)                                                                                   \
    X(cuMemCreate)                                                                                                     \
    X(cuMemRelease)                                                                                                    \
    X(cuMemExportToShareableHandle)                                                                                    \
    X(cuMemImportFromShareableHandle)                                                                                  \
    X(cuMemAddressReserve)                                                                                             \
    X(cuMemAddressFree)                                                                                                \
    X(cuMemMap)                                                                                                        \
    X(cuMemUnmap)                                                                                                      \
    X(cuMemSetAccess)                                                                                                  \
    X(cuMemcpy2DAsync)                                                                                                 \
    X(cuStreamSynchronize)                                                                                             \
    X(cuCtxSynchronize)                                                                                                \
    X(cuMemHostRegister)                                                                                               \
    X(cuMemHostUnregister)                                                                                             \
    X(cuMemHostGetDevicePointer)                                                                                       \
    X(cuStreamWriteValue64)

#define CUFRAMES_DECLARE_MEMBER(name) decltype(&::name) name = nullptr;
    CUFRAMES_CUDA_FUNCTIONS(CUFRAMES_DECLARE_MEMBER)
#undef CUFRAMES_DECLARE_MEMBER
};

// The loaded driver, after cuInit(0). Loads once; throws
// Error(CUDA_UNAVAILABLE) with the reason (no libcuda.so.1, a missing symbol,
// cuInit failure, no device) on every call when it is unusable.
const CudaDriver &cuda_driver();

// Throws Error(CUDA) naming `call`, the CUresult's name and `context` when
// result is not CUDA_SUCCESS.
void check_cuda(CUresult result, const char *call, const std::string &context = {});

// Returns a description of a failure without throwing (for destructors).
std::string describe_cuda_error(CUresult result);

#define CUFRAMES_CU(call, context) ::cuframes::check_cuda((call), #call, (context))

// Makes a context current for the lifetime of this object. Both push and pop
// are checked; a failed pop in the destructor is reported to stderr, never thrown.
class ScopedContext {
public:
    explicit ScopedContext(CUcontext context);
    ~ScopedContext();
    ScopedContext(const ScopedContext &) = delete;
    ScopedContext &operator=(const ScopedContext &) = delete;
};

// One device's primary context, retained for the lifetime of this object:
// the same context PyTorch and CuPy use, so pointers are valid in theirs.
class PrimaryContext {
public:
    explicit PrimaryContext(CUdevice device);
    ~PrimaryContext();
    PrimaryContext(const PrimaryContext &) = delete;
    PrimaryContext &operator=(const PrimaryContext &) = delete;

    CUcontext get() const noexcept { return context_; }
    CUdevice device() const noexcept { return device_; }

private:
    CUdevice device_;
    CUcontext context_ = nullptr;
};

}  // namespace cuframes
