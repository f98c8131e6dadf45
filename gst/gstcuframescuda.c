#include "gstcuframescuda.h"

gboolean gst_cuframes_caps_are_cuda(const GstCaps *caps) {
#ifdef CUFRAMES_GST_CUDA
    GstCapsFeatures *features = caps != NULL ? gst_caps_get_features(caps, 0) : NULL;
    return features != NULL && gst_caps_features_contains(features, GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY);
#else
    (void)caps;
    return FALSE;
#endif
}

#ifdef CUFRAMES_GST_CUDA
#include <gst/cuda/cuda-gst.h>
#include <gst/cuda/gstcudaloader.h>

gboolean gst_cuframes_cuda_usable(void) {
    static gsize loaded = 0; /* 1: loaded, 2: cannot be */
    if (g_once_init_enter(&loaded)) {
        const gboolean ok = gst_cuda_load_library();
        if (!ok) GST_WARNING("gst-cuda cannot load libcuda: cuframes elements use system memory only");
        g_once_init_leave(&loaded, ok ? 1 : 2);
    }
    return loaded == 1;
}

static gboolean cuda_failed(CUresult result, const gchar *call, GError **error) {
    const char *name = NULL;
    CuGetErrorName(result, &name);
    g_set_error(error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED, "%s failed: %s (%d)", call,
                name != NULL ? name : "unknown CUresult", (int)result);
    return FALSE;
}

gboolean gst_cuframes_cuda_copy(GstCudaContext *ctx, guint64 dst, const gsize *dst_offsets, const gint *dst_pitches,
                                guint64 src, const gsize *src_offsets, const gint *src_pitches,
                                const cuframes_plane *planes, guint plane_count, GError **error) {
    if (!gst_cuda_context_push(ctx)) {
        g_set_error(error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED, "could not make the CUDA context current");
        return FALSE;
    }
    gboolean ok = TRUE;
    for (guint p = 0; ok && p < plane_count; ++p) {
        CUDA_MEMCPY2D copy;
        memset(&copy, 0, sizeof(copy));
        copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
        copy.srcDevice = (CUdeviceptr)(src + src_offsets[p]);
        copy.srcPitch = (size_t)src_pitches[p];
        copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
        copy.dstDevice = (CUdeviceptr)(dst + dst_offsets[p]);
        copy.dstPitch = (size_t)dst_pitches[p];
        copy.WidthInBytes = planes[p].row_bytes;
        copy.Height = planes[p].height;
        /* The legacy default stream, waited for below: the slot goes back right after. */
        const CUresult result = CuMemcpy2DAsync(&copy, NULL);
        if (result != CUDA_SUCCESS) ok = cuda_failed(result, "cuMemcpy2DAsync", error);
    }
    const CUresult synced = CuStreamSynchronize(NULL);
    if (ok && synced != CUDA_SUCCESS) ok = cuda_failed(synced, "cuStreamSynchronize", error);
    gst_cuda_context_pop(NULL);
    return ok;
}

/* The device pointer of a GstCudaMemory and its layout, mapped for flags. */
static gboolean map_cuda(GstBuffer *buffer, GstMapFlags flags, GstMapInfo *map, GstCudaMemory **memory) {
    GstMemory *mem = gst_buffer_n_memory(buffer) == 1 ? gst_buffer_peek_memory(buffer, 0) : NULL;
    if (mem == NULL || !gst_is_cuda_memory(mem)) return FALSE;
    *memory = GST_CUDA_MEMORY_CAST(mem);
    return gst_memory_map(mem, map, flags | GST_MAP_CUDA);
}

GstFlowReturn gst_cuframes_cuda_download_slot(GstCudaContext *ctx, GstBufferPool *pool,
                                              const cuframes_frame_info *frame, GstBuffer **out, GError **error) {
    GstBuffer *buffer = NULL;
    GstFlowReturn ret = gst_buffer_pool_acquire_buffer(pool, &buffer, NULL);
    if (ret != GST_FLOW_OK) return ret;
    GstMapInfo map;
    GstCudaMemory *memory = NULL;
    if (!map_cuda(buffer, GST_MAP_WRITE, &map, &memory)) {
        gst_buffer_unref(buffer);
        g_set_error(error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED, "the CUDA buffer pool gave no CUDA memory");
        return GST_FLOW_ERROR;
    }
    gsize src_offsets[CUFRAMES_MAX_PLANES], dst_offsets[CUFRAMES_MAX_PLANES];
    gint src_pitches[CUFRAMES_MAX_PLANES], dst_pitches[CUFRAMES_MAX_PLANES];
    const guint planes = MIN(frame->plane_count, (guint)GST_VIDEO_INFO_N_PLANES(&memory->info));
    for (guint p = 0; p < planes; ++p) {
        src_offsets[p] = frame->planes[p].offset;
        src_pitches[p] = (gint)frame->planes[p].pitch;
        dst_offsets[p] = GST_VIDEO_INFO_PLANE_OFFSET(&memory->info, p);
        dst_pitches[p] = GST_VIDEO_INFO_PLANE_STRIDE(&memory->info, p);
    }
    const gboolean ok = gst_cuframes_cuda_copy(ctx, (guint64)(uintptr_t)map.data, dst_offsets, dst_pitches, frame->data,
                                               src_offsets, src_pitches, frame->planes, planes, error);
    gst_memory_unmap(GST_MEMORY_CAST(memory), &map);
    if (!ok) {
        gst_buffer_unref(buffer);
        return GST_FLOW_ERROR;
    }
    *out = buffer;
    return GST_FLOW_OK;
}

gboolean gst_cuframes_cuda_upload_buffer(GstBuffer *buffer, const cuframes_buffer *slot, GError **error) {
    GstMapInfo map;
    GstCudaMemory *memory = NULL;
    if (!map_cuda(buffer, GST_MAP_READ, &map, &memory)) {
        g_set_error(error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
                    "a buffer of memory:CUDAMemory caps holds no single CUDA memory");
        return FALSE;
    }
    gsize src_offsets[CUFRAMES_MAX_PLANES], dst_offsets[CUFRAMES_MAX_PLANES];
    gint src_pitches[CUFRAMES_MAX_PLANES], dst_pitches[CUFRAMES_MAX_PLANES];
    const guint planes = MIN(slot->plane_count, (guint)GST_VIDEO_INFO_N_PLANES(&memory->info));
    for (guint p = 0; p < planes; ++p) {
        src_offsets[p] = GST_VIDEO_INFO_PLANE_OFFSET(&memory->info, p);
        src_pitches[p] = GST_VIDEO_INFO_PLANE_STRIDE(&memory->info, p);
        dst_offsets[p] = slot->planes[p].offset;
        dst_pitches[p] = (gint)slot->planes[p].pitch;
    }
    const gboolean ok =
        gst_cuframes_cuda_copy(memory->context, slot->data, dst_offsets, dst_pitches, (guint64)(uintptr_t)map.data,
                               src_offsets, src_pitches, slot->planes, planes, error);
    gst_memory_unmap(GST_MEMORY_CAST(memory), &map);
    return ok;
}

#ifdef CUFRAMES_GST_CUDA_WRAP
guint64 gst_cuframes_cuda_buffer_address(GstBuffer *buffer) {
    GstMapInfo map;
    GstCudaMemory *memory = NULL;
    if (!map_cuda(buffer, GST_MAP_READ, &map, &memory)) return 0;
    const guint64 address = (guint64)(uintptr_t)map.data;
    gst_memory_unmap(GST_MEMORY_CAST(memory), &map);
    return address;
}

GstBuffer *gst_cuframes_cuda_wrap_slot(GstCudaContext *ctx, const GstVideoInfo *info, const cuframes_frame_info *frame,
                                       gpointer lease, GDestroyNotify release) {
    GstVideoInfo layout = *info; /* the slot's: cuframes' offsets and 256-byte pitches */
    layout.size = frame->size;
    for (guint p = 0; p < frame->plane_count && p < GST_VIDEO_MAX_PLANES; ++p) {
        layout.offset[p] = frame->planes[p].offset;
        layout.stride[p] = (gint)frame->planes[p].pitch;
    }
    GstMemory *memory =
        gst_cuda_allocator_alloc_wrapped(NULL, ctx, NULL, &layout, (CUdeviceptr)frame->data, lease, release);
    if (memory == NULL) return NULL; /* a failed precondition, before it took the lease */
    GST_MINI_OBJECT_FLAG_SET(memory, GST_MEMORY_FLAG_READONLY);
    GstBuffer *buffer = gst_buffer_new();
    gst_buffer_append_memory(buffer, memory);
    gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&layout),
                                   GST_VIDEO_INFO_WIDTH(&layout), GST_VIDEO_INFO_HEIGHT(&layout),
                                   GST_VIDEO_INFO_N_PLANES(&layout), layout.offset, layout.stride);
    return buffer;
}
#endif

gint gst_cuframes_cuda_device_of(GstBuffer *buffer) {
    GstMemory *mem = gst_buffer_n_memory(buffer) > 0 ? gst_buffer_peek_memory(buffer, 0) : NULL;
    if (mem == NULL || !gst_is_cuda_memory(mem)) return -1;
    guint device = 0;
    g_object_get(GST_CUDA_MEMORY_CAST(mem)->context, "cuda-device-id", &device, NULL);
    return (gint)device;
}
#endif /* CUFRAMES_GST_CUDA */
