"""FFmpeg's names for cuframes' pixel formats and codecs: the one table that the
library (cuframes.av, conversions, snapshots) and `cuframes cat` share, so that
library modules never import command-line code."""

from __future__ import annotations

__all__ = ["FFMPEG_PIXEL_FORMATS", "FFMPEG_DEMUXERS"]

# cuframes format -> ffmpeg pix_fmt of the same packed layout.
FFMPEG_PIXEL_FORMATS = {
    "nv12": "nv12", "p010": "p010le", "i420": "yuv420p", "rgb24": "rgb24", "bgr24": "bgr24",
    "rgba": "rgba", "bgra": "bgra", "gray8": "gray",
}

# cuframes codec -> ffmpeg's demuxer of its Annex-B elementary stream.
FFMPEG_DEMUXERS = {"h264": "h264", "hevc": "hevc"}
