/* CUDA memory for cuframessrc and cuframessink, through GStreamer's gst-cuda library
 * (gst-plugins-bad, 1.22 and newer). Compiled only where CMake found it and cuda.h
 * (CUFRAMES_GST_CUDA); elsewhere both elements speak system memory alone.
 *
 * On 1.22 gst-cuda cannot wrap foreign device memory (gst_cuda_allocator_alloc_wrapped
 * came in 1.24), so each frame takes one device-to-device copy: from the slot into a
 * buffer of a GstCudaBufferPool (cuframessrc), or from the GstCudaMemory into the slot
 * (cuframessink). From 1.24 on, cuframessrc wraps the slot instead (CUFRAMES_GST_CUDA_WRAP)
 * while no wrapped buffer of it is downstream. cuframes' VMM slots are mapped for the whole process, so a copy in
 * the pipeline's GstCudaContext reaches them. */
#ifndef GST_CUFRAMES_CUDA_H
#define GST_CUFRAMES_CUDA_H

#include <cuframes/cuframes.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "gstcuframescommon.h"

#ifdef CUFRAMES_GST_CUDA
#if GST_CHECK_VERSION(1, 24, 0)
/* gst_cuda_allocator_alloc_wrapped: cuframessrc hands out the slot itself. */
#define CUFRAMES_GST_CUDA_WRAP 1
#include <gst/cuda/gstcuda.h>
#endif
#include <gst/cuda/gstcudabufferpool.h>
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudamemory.h>
#include <gst/cuda/gstcudautils.h>
#endif

G_BEGIN_DECLS

#ifdef CUFRAMES_GST_CUDA
#define GST_CUFRAMES_CUDA_CAPS                                                                                         \
    GST_VIDEO_CAPS_MAKE_WITH_FEATURES(GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY, GST_CUFRAMES_VIDEO_FORMATS) "; "
#else
#define GST_CUFRAMES_CUDA_CAPS ""
#endif

/* TRUE when caps (their first structure) carry memory:CUDAMemory. */
gboolean gst_cuframes_caps_are_cuda(const GstCaps *caps);

#ifdef CUFRAMES_GST_CUDA
/* TRUE once gst-cuda's driver entry points are loaded (gst_cuda_load_library, once per
 * process). Whoever calls it first loads them; nvcodec's plugin does when it loads, so a
 * pipeline with a cudaupload or nvh264dec in it has them, but one whose only CUDA user is
 * cuframessrc (say `cuframessrc ! filesink`) has not, and every gst-cuda call would then fail.
 * FALSE where libcuda cannot be loaded: the elements then speak system memory only. */
gboolean gst_cuframes_cuda_usable(void);
/* Copies a frame's planes device to device in ctx and waits for the copy.
 * src_pitches/dst_pitches and the offsets are per plane; the plane sizes are cuframes'. */
gboolean gst_cuframes_cuda_copy(GstCudaContext *ctx, guint64 dst, const gsize *dst_offsets, const gint *dst_pitches,
                                guint64 src, const gsize *src_offsets, const gint *src_pitches,
                                const cuframes_plane *planes, guint plane_count, GError **error);
/* The slot of a frame (device memory) copied into a buffer of pool. */
GstFlowReturn gst_cuframes_cuda_download_slot(GstCudaContext *ctx, GstBufferPool *pool,
                                              const cuframes_frame_info *frame, GstBuffer **out, GError **error);
/* A buffer of GstCudaMemory copied into an acquired cuda slot. */
gboolean gst_cuframes_cuda_upload_buffer(GstBuffer *buffer, const cuframes_buffer *slot, GError **error);
#ifdef CUFRAMES_GST_CUDA_WRAP
/* The slot of a held frame as a buffer of GstCudaMemory (read-only, with a GstVideoMeta of
 * cuframes' pitches); freeing it calls release(lease). NULL when gst-cuda refuses to wrap
 * it (release is then not called). */
GstBuffer *gst_cuframes_cuda_wrap_slot(GstCudaContext *ctx, const GstVideoInfo *info, const cuframes_frame_info *frame,
                                       gpointer lease, GDestroyNotify release);
/* The device address a buffer's single GstCudaMemory maps to (GST_MAP_CUDA), 0 when it holds
 * none: what downstream reads, for the debug log that shows a wrapped buffer is the slot. */
guint64 gst_cuframes_cuda_buffer_address(GstBuffer *buffer);
#endif
/* The CUDA device of a buffer's GstCudaMemory; -1 when it holds none. */
gint gst_cuframes_cuda_device_of(GstBuffer *buffer);
#endif

G_END_DECLS

#endif /* GST_CUFRAMES_CUDA_H */
