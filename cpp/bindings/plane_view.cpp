// PlaneView: one plane of a held or writable frame, exported to numpy, torch
// and cupy through DLPack, __cuda_array_interface__ or __array_interface__.
#include <new>

#include "bindings.hpp"
#include "dlpack.h"

namespace cuframes_py {

namespace {

constexpr const char *kCapsuleName = "dltensor";
constexpr const char *kUsedCapsuleName = "used_dltensor";

// Owns everything a DLManagedTensor points to. Holds only C++ objects, so the
// consumer may call the deleter from any thread without the GIL.
struct DLPackExport {
    std::shared_ptr<void> owner;
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;  // elements
    DLManagedTensor tensor{};
};

void delete_export(DLManagedTensor *tensor) { delete static_cast<DLPackExport *>(tensor->manager_ctx); }

// A capsule nobody consumed (its name is still "dltensor") still owns the
// tensor: free it. A consumer renames it to "used_dltensor" and calls the
// deleter itself when done.
void capsule_destructor(PyObject *capsule) {
    if (PyCapsule_IsValid(capsule, kCapsuleName)) {
        auto *tensor = static_cast<DLManagedTensor *>(PyCapsule_GetPointer(capsule, kCapsuleName));
        if (tensor != nullptr && tensor->deleter != nullptr) tensor->deleter(tensor);
    }
}

py::tuple to_tuple(const std::vector<int64_t> &values) {
    py::tuple out(values.size());
    for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
    return out;
}

std::string typestr(const PlaneView &view) { return view.itemsize == 1 ? "|u1" : "<u" + std::to_string(view.itemsize); }

py::tuple dlpack_device(const PlaneView &view) {
    const int type = view.is_cuda ? static_cast<int>(kDLCUDA) : static_cast<int>(kDLCPU);
    const int id = view.is_cuda ? view.device_id : 0;
    return py::make_tuple(type, id);
}

py::capsule to_dlpack(const PlaneView &view, const py::object &stream, const py::object &max_version,
                      const py::object &dl_device, const py::object &copy) {
    (void)stream;       // the producer synchronized before publish: the data is complete on every stream
    (void)max_version;  // always the legacy capsule, which every consumer accepts
    view.check_valid();
    if (!copy.is_none() && copy.cast<bool>()) {
        throw py::buffer_error("cuframes exports zero-copy views only (copy=True was asked for)");
    }
    if (!dl_device.is_none()) {
        const auto requested = dl_device.cast<std::pair<int, int>>();
        const auto own = dlpack_device(view).cast<std::pair<int, int>>();
        if (requested != own) {
            throw py::buffer_error("cuframes cannot export to another device than the frame's own");
        }
    }
    auto *ctx = new DLPackExport();
    ctx->owner = view.owner;
    ctx->shape = view.shape;
    ctx->strides.reserve(view.strides.size());
    for (int64_t stride : view.strides) ctx->strides.push_back(stride / static_cast<int64_t>(view.itemsize));
    DLTensor &t = ctx->tensor.dl_tensor;
    t.data = reinterpret_cast<void *>(static_cast<uintptr_t>(view.ptr));
    t.device.device_type = view.is_cuda ? kDLCUDA : kDLCPU;
    t.device.device_id = view.is_cuda ? view.device_id : 0;
    t.ndim = static_cast<int32_t>(ctx->shape.size());
    t.dtype.code = kDLUInt;
    t.dtype.bits = static_cast<uint8_t>(8 * view.itemsize);
    t.dtype.lanes = 1;
    t.shape = ctx->shape.data();
    t.strides = ctx->strides.data();
    t.byte_offset = 0;
    ctx->tensor.manager_ctx = ctx;
    ctx->tensor.deleter = delete_export;
    PyObject *capsule = PyCapsule_New(&ctx->tensor, kCapsuleName, capsule_destructor);
    if (capsule == nullptr) {
        delete ctx;
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::capsule>(capsule);
}

py::dict array_interface(const PlaneView &view) {
    view.check_valid();
    py::dict d;
    d["version"] = 3;
    d["shape"] = to_tuple(view.shape);
    d["typestr"] = typestr(view);
    d["strides"] = to_tuple(view.strides);
    d["data"] = py::make_tuple(py::int_(view.ptr), view.readonly);
    return d;
}

}  // namespace

void PlaneView::check_valid() const {
    if (token && !token->load(std::memory_order_acquire)) {
        throw_status(CUFRAMES_ERR_STATE, "the slot behind this view was already published or aborted");
    }
}

std::vector<PlaneView> make_plane_views(const cuframes::FrameLayout &layout, uint64_t base, std::shared_ptr<void> owner,
                                        SlotToken token, bool readonly, cuframes::Backend backend, int device) {
    std::vector<PlaneView> views;
    for (const PlaneInfo &info : plane_infos(layout)) {
        PlaneView v;
        v.owner = owner;
        v.token = token;
        v.name = info.name;
        v.ptr = base + info.offset;
        v.itemsize = info.itemsize;
        v.readonly = readonly;
        v.is_cuda = backend == cuframes::Backend::Cuda;
        v.device_id = v.is_cuda ? device : 0;
        v.shape = {info.height, info.width};
        v.strides = {info.pitch, static_cast<int64_t>(info.channels) * info.itemsize};
        if (info.channels > 1) {
            v.shape.push_back(info.channels);
            v.strides.push_back(info.itemsize);
        }
        views.push_back(std::move(v));
    }
    return views;
}

PlaneView make_frame_view(const cuframes::FrameLayout &layout, uint64_t base, std::shared_ptr<void> owner,
                          SlotToken token, bool readonly, cuframes::Backend backend, int device) {
    std::vector<PlaneView> planes = make_plane_views(layout, base, owner, token, readonly, backend, device);
    if (planes.size() == 1) {
        planes[0].name = "frame";
        return planes[0];
    }
    // Two planes: Y, then chroma interleaved in one plane (NV12, P010), which
    // continues Y's rows when the pitches agree; three (I420) never do.
    const bool semi_planar = layout.plane_count == 2;
    const cuframes::Plane &y = layout.planes[0];
    const cuframes::Plane &uv = layout.planes[1];
    if (!semi_planar || uv.pitch != y.pitch || uv.offset != y.offset + uint64_t(y.pitch) * y.height ||
        uv.row_bytes != y.row_bytes) {
        throw_status(CUFRAMES_ERR_FORMAT, std::string("a ") + cuframes::format_name(layout.format) +
                                              " frame is not one 2-D array; use its planes");
    }
    PlaneView whole = planes[0];
    whole.name = "frame";
    whole.shape = {int64_t(y.height) + uv.height, y.width};
    whole.strides = {y.pitch, whole.itemsize};
    return whole;
}

void register_plane_view(py::module_ &m) {
    py::class_<PlaneView>(m, "PlaneView",
                          "One plane of a frame (or a whole NV12/P010 frame). Keeps the frame held while alive.")
        .def_readonly("name", &PlaneView::name)
        .def_property_readonly("shape", [](const PlaneView &v) { return to_tuple(v.shape); })
        .def_property_readonly(
            "strides", [](const PlaneView &v) { return to_tuple(v.strides); }, "In bytes.")
        .def_property_readonly("typestr", &typestr)
        .def_readonly("itemsize", &PlaneView::itemsize)
        .def_property_readonly("ptr", [](const PlaneView &v) { return v.ptr; })
        .def_readonly("readonly", &PlaneView::readonly)
        .def_property_readonly("device", [](const PlaneView &v) { return v.is_cuda ? "cuda" : "cpu"; })
        .def_readonly("device_id", &PlaneView::device_id)
        .def_property_readonly("valid", [](const PlaneView &v) { return !v.token || v.token->load(); })
        .def("__dlpack__", &to_dlpack, py::kw_only(), py::arg("stream") = py::none(),
             py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
        .def("__dlpack_device__", &dlpack_device)
        .def_property_readonly("__cuda_array_interface__",
                               [](const PlaneView &v) {
                                   if (!v.is_cuda)
                                       throw py::attribute_error("a host plane has no __cuda_array_interface__");
                                   py::dict d = array_interface(v);
                                   d["stream"] = py::none();  // complete on every stream: no sync needed
                                   return d;
                               })
        .def_property_readonly("__array_interface__",
                               [](const PlaneView &v) {
                                   if (v.is_cuda) throw py::attribute_error("a cuda plane has no __array_interface__");
                                   return array_interface(v);
                               })
        .def("__repr__", [](const PlaneView &v) {
            std::string shape;
            for (size_t i = 0; i < v.shape.size(); ++i) shape += (i ? "x" : "") + std::to_string(v.shape[i]);
            return "<cuframes._core.PlaneView " + v.name + " " + shape + " " + typestr(v) + " on " +
                   (v.is_cuda ? "cuda:" + std::to_string(v.device_id) : std::string("cpu")) +
                   (v.readonly ? " read-only" : " writable") + ">";
        });
}

}  // namespace cuframes_py
