#include "cuda/cuda_driver.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <mutex>

#include "cuframes/error.hpp"
#include "cuframes/types.hpp"

namespace cuframes {
namespace {

#define CUFRAMES_STRINGIFY_EXPANDED(x) CUFRAMES_STRINGIFY(x)
#define CUFRAMES_STRINGIFY(x) #x

struct DriverState {
    CudaDriver driver;
    std::string failure;  // empty when usable
};

DriverState load_driver() {
    DriverState state;
    // RTLD_LOCAL: never let our copy of the symbols shadow another library's.
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        const char *why = dlerror();
        state.failure = std::string("cannot load libcuda.so.1 (is the NVIDIA driver installed and visible "
                                    "in this container?): ") +
                        (why ? why : "unknown dlopen error");
        return state;
    }
    // The handle is kept for the life of the process: the driver cannot be
    // safely unloaded while contexts exist.
#define CUFRAMES_LOAD_SYMBOL(name)                                                                                     \
    state.driver.name = reinterpret_cast<decltype(&::name)>(dlsym(library, CUFRAMES_STRINGIFY_EXPANDED(name)));        \
    if (state.driver.name == nullptr) {                                                                                \
        state.failure = "libcuda.so.1 lacks " CUFRAMES_STRINGIFY_EXPANDED(name) ": the driver is too old";             \
        return state;                                                                                                  \
    }
    CUFRAMES_CUDA_FUNCTIONS(CUFRAMES_LOAD_SYMBOL)
#undef CUFRAMES_LOAD_SYMBOL

    CUresult result = state.driver.cuInit(0);
    if (result != CUDA_SUCCESS) {
        const char *name = nullptr;
        state.driver.cuGetErrorName(result, &name);
        state.failure = std::string("cuInit failed: ") + (name ? name : "unknown CUresult");
        return state;
    }
    int count = 0;
    result = state.driver.cuDeviceGetCount(&count);
    if (result != CUDA_SUCCESS || count == 0) {
        state.failure = "the CUDA driver sees no GPU";
        return state;
    }
    return state;
}

const DriverState &driver_state() {
    static const DriverState state = load_driver();
    return state;
}

}  // namespace

const CudaDriver &cuda_driver() {
    const DriverState &state = driver_state();
    if (!state.failure.empty())
        throw Error(CUFRAMES_ERR_CUDA_UNAVAILABLE, "cuda backend unavailable: " + state.failure);
    return state.driver;
}

bool cuda_available() noexcept {
    try {
        return driver_state().failure.empty();
    } catch (...) {
        return false;
    }
}

std::string cuda_unavailable_reason() { return driver_state().failure; }

std::string describe_cuda_error(CUresult result) {
    const DriverState &state = driver_state();
    const char *name = nullptr;
    const char *text = nullptr;
    if (state.driver.cuGetErrorName) state.driver.cuGetErrorName(result, &name);
    if (state.driver.cuGetErrorString) state.driver.cuGetErrorString(result, &text);
    std::string out = name ? name : ("CUresult " + std::to_string(static_cast<int>(result)));
    if (text) out += std::string(" (") + text + ")";
    return out;
}

void check_cuda(CUresult result, const char *call, const std::string &context) {
    if (result == CUDA_SUCCESS) return;
    std::string message = std::string(call) + " failed: " + describe_cuda_error(result);
    if (!context.empty()) message += " [" + context + "]";
    throw Error(CUFRAMES_ERR_CUDA, message);
}

ScopedContext::ScopedContext(CUcontext context) {
    CUFRAMES_CU(cuda_driver().cuCtxPushCurrent(context), "making the device's primary context current");
}

ScopedContext::~ScopedContext() {
    CUcontext popped = nullptr;
    CUresult result = cuda_driver().cuCtxPopCurrent(&popped);
    if (result != CUDA_SUCCESS)
        std::fprintf(stderr, "cuframes: cuCtxPopCurrent failed: %s\n", describe_cuda_error(result).c_str());
}

PrimaryContext::PrimaryContext(CUdevice device) : device_(device) {
    CUFRAMES_CU(cuda_driver().cuDevicePrimaryCtxRetain(&context_, device), "device " + std::to_string(device));
}

PrimaryContext::~PrimaryContext() {
    CUresult result = cuda_driver().cuDevicePrimaryCtxRelease(device_);
    if (result != CUDA_SUCCESS)
        std::fprintf(stderr, "cuframes: cuDevicePrimaryCtxRelease failed: %s\n", describe_cuda_error(result).c_str());
}

}  // namespace cuframes
