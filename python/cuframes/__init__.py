"""cuframes: share decoded video frames zero-copy between processes.

A :class:`Publisher` owns a pool of frame slots (CUDA VMM memory, or memfd
host memory) and publishes frames into it; any number of :class:`Subscriber`
processes, possibly in other containers, receive them as zero-copy views that
torch, cupy and numpy take through DLPack.
"""

from __future__ import annotations

import os

from . import _core, errors
from ._formats import CODECS, FORMATS
from .errors import (
    CudaError,
    CudaUnavailableError,
    DisconnectedError,
    Error,
    FormatError,
    InvalidArgumentError,
    KeyInUseError,
    LimitError,
    NotFoundError,
    PermissionDeniedError,
    ProducerDiedError,
    ProtocolError,
    StateError,
    SystemCallError,
    TimeoutError,
    VersionMismatchError,
)
from .frame import Frame, WritableFrame
from .observe import list_streams, stat
from .packets import Packet, PacketSubscriber
from .publisher import Publisher
from .status import KeyEntry, PacketStatus, StreamStatus, SubscriberStatus
from .stream_facts import ColorInfo, StreamFacts
from .subscriber import FrameInfo, Subscriber

__version__: str = _core.__version__

PROTOCOL_VERSION: int = _core.PROTOCOL_VERSION
PlaneInfo = _core.PlaneInfo
PlaneView = _core.PlaneView
PublishTiming = _core.PublishTiming

__all__ = [
    "__version__",
    "FORMATS",
    "CODECS",
    "PROTOCOL_VERSION",
    "Publisher",
    "Subscriber",
    "PacketSubscriber",
    "Packet",
    "StreamFacts",
    "ColorInfo",
    "stat",
    "list_streams",
    "StreamStatus",
    "SubscriberStatus",
    "PacketStatus",
    "KeyEntry",
    "Frame",
    "WritableFrame",
    "FrameInfo",
    "PlaneInfo",
    "PlaneView",
    "PublishTiming",
    "cuda_available",
    "cuda_unavailable_reason",
    "default_dir",
    "layout",
    "packed_size",
    "validate_key",
    "get_include",
    "get_cmake_dir",
    *errors.__all__,
]


def cuda_available() -> bool:
    """True when the cuda backend is usable here: libcuda loads, cuInit
    succeeds and a GPU is visible. Never raises."""
    return bool(_core.cuda_available())


def cuda_unavailable_reason() -> str:
    """Why :func:`cuda_available` is False ("" when it is True)."""
    return _core.cuda_unavailable_reason()


def default_dir() -> str:
    """Where sockets go when no ``dir`` is given: $CUFRAMES_DIR, else /tmp/cuframes,
    the same for every user, so producers and subscribers of different users meet
    (the folder is created mode 1777, sticky, like /tmp; each socket's own mode,
    group and allow-lists say who may connect)."""
    return _core.default_dir()


def validate_key(key: str) -> None:
    """Raises InvalidArgumentError naming what is wrong with ``key``."""
    _core.validate_key(key)


def layout(format: str, width: int, height: int) -> list[PlaneInfo]:
    """The planes of one frame of this format and size (offsets, pitches...)."""
    return _core.layout(format, width, height)


def packed_size(format: str, width: int, height: int) -> int:
    """Bytes of one packed frame (planes back to back, no row padding)."""
    return _core.packed_size(format, width, height)


def get_include() -> str:
    """The folder holding cuframes/cuframes.h and the C++ headers, for building against this install."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def get_cmake_dir() -> str:
    """The folder holding cuframesConfig.cmake: pass it as cuframes_DIR to find_package(cuframes)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "cmake", "cuframes")
