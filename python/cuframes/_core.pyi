"""
Low-level bindings of the cuframes C++ core; use the `cuframes` package instead.
"""
from __future__ import annotations
import collections.abc
import typing
import typing_extensions
__all__: list[str] = ['CODECS', 'DEFAULTS', 'FORMATS', 'FrameInfo', 'FrameLease', 'MAX_DIMENSION', 'MAX_KEY', 'MAX_METADATA', 'PITCH_ALIGN', 'PROTOCOL_VERSION', 'PacketInfo', 'PacketSubscriber', 'PlaneInfo', 'PlaneView', 'PublishTiming', 'Publisher', 'STATUS', 'Subscriber', 'WritableSlot', 'annexb_is_parameter_set_type', 'annexb_is_random_access_type', 'annexb_nal_unit_types', 'annexb_nal_units', 'annexb_parameter_sets', 'annexb_starts_with_start_code', 'cuda_available', 'cuda_unavailable_reason', 'default_dir', 'layout', 'observe', 'packed_size', 'validate_key']
class PlaneInfo:
    """
    Where one plane lies inside a slot.
    """
    def __repr__(self) -> str:
        ...
    @property
    def channels(self) -> int:
        """
        Channels per sample.
        """
    @property
    def height(self) -> int:
        """
        Rows.
        """
    @property
    def itemsize(self) -> int:
        """
        Bytes per channel.
        """
    @property
    def name(self) -> str:
        ...
    @property
    def offset(self) -> int:
        """
        Bytes from the start of the slot.
        """
    @property
    def pitch(self) -> int:
        """
        Bytes between rows.
        """
    @property
    def row_bytes(self) -> int:
        """
        Meaningful bytes per row (<= pitch).
        """
    @property
    def width(self) -> int:
        """
        Samples per row.
        """
class PlaneView:
    """
    One plane of a frame (or a whole NV12/P010 frame). Keeps the frame held while alive.
    """
    def __dlpack__(self, *, stream: typing.Any = None, max_version: typing.Any = None, dl_device: typing.Any = None, copy: typing.Any = None) -> typing_extensions.CapsuleType:
        ...
    def __dlpack_device__(self) -> tuple:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def __array_interface__(self) -> dict:
        ...
    @property
    def __cuda_array_interface__(self) -> dict:
        ...
    @property
    def device(self) -> str:
        ...
    @property
    def device_id(self) -> int:
        ...
    @property
    def itemsize(self) -> int:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def ptr(self) -> int:
        ...
    @property
    def readonly(self) -> bool:
        ...
    @property
    def shape(self) -> tuple:
        ...
    @property
    def strides(self) -> tuple:
        """
        In bytes.
        """
    @property
    def typestr(self) -> str:
        ...
    @property
    def valid(self) -> bool:
        ...
class WritableSlot:
    """
    A slot the producer may write into until publish() or abort().
    """
    def __repr__(self) -> str:
        ...
    def view(self) -> PlaneView:
        """
        The whole frame as one writable array (one-plane formats, NV12, P010).
        """
    @property
    def data(self) -> int:
        """
        CUdeviceptr on cuda, CPU address on host.
        """
    @property
    def index(self) -> int:
        ...
    @property
    def planes(self) -> list[PlaneView]:
        ...
    @property
    def size(self) -> int:
        ...
    @property
    def valid(self) -> bool:
        ...
class PublishTiming:
    """
    Where the last acquire() and publish() spent their time, in ns.
    """
    def __repr__(self) -> str:
        ...
    @property
    def acquire_ns(self) -> int:
        """
        acquire(): finding a free slot.
        """
    @property
    def overhead_ns(self) -> int:
        """
        What cuframes adds on top of the stream sync.
        """
    @property
    def ring_ns(self) -> int:
        """
        publish(): record, ring entry, sequence update.
        """
    @property
    def sync_ns(self) -> int:
        """
        publish(): cuStreamSynchronize (0 on host).
        """
    @property
    def wake_ns(self) -> int:
        """
        publish(): FUTEX_WAKE of sleeping subscribers.
        """
class Publisher:
    def __init__(self, key: str, width: int, height: int, format: str = 'nv12', slots: int = 10, backend: str = 'auto', device: typing.SupportsInt | typing.SupportsIndex = 0, dir: str = '', mode: int = 432, max_subscribers: int = 4, max_held: int = 2, group: int = -1, allowed_uids: collections.abc.Sequence[int] = [], allowed_gids: collections.abc.Sequence[int] = [], stream_ordered: bool = False, packet_ring_bytes: int = 0, description: str = '', facts: tuple = (0, 0, 0, 0, 0, 0, 2, 0, 2, 2)) -> None:
        ...
    def abort(self) -> None:
        ...
    def acquire(self) -> WritableSlot:
        """
        A free slot to write into. Never blocks; StateError if one is already acquired.
        """
    def close(self) -> None:
        ...
    def copy_into_acquired(self, src_ptr: typing.SupportsInt | typing.SupportsIndex, src_size: typing.SupportsInt | typing.SupportsIndex, src_is_device: bool, stream: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        """
        Copies a packed frame into the acquired slot on `stream`.
        """
    def publish(self, stream: typing.SupportsInt | typing.SupportsIndex = 0, pts: typing.SupportsInt | typing.SupportsIndex = 0, metadata: bytes = b'') -> int:
        """
        Synchronizes `stream`, publishes the acquired slot and returns its sequence number.
        """
    def publish_packet(self, data: typing.Any, pts: typing.SupportsInt | typing.SupportsIndex, dts: typing.SupportsInt | typing.SupportsIndex, codec: str, keyframe: bool) -> int:
        """
        Appends one Annex-B access unit to the packet ring; returns its sequence number.
        """
    def set_parameter_sets(self, codec: str, data: typing.Any) -> None:
        ...
    @property
    def backend(self) -> str:
        ...
    @property
    def closed(self) -> bool:
        ...
    @property
    def device(self) -> int:
        ...
    @property
    def dir(self) -> str:
        ...
    @property
    def facts(self) -> tuple:
        ...
    @property
    def format(self) -> str:
        ...
    @property
    def has_acquired(self) -> bool:
        ...
    @property
    def height(self) -> int:
        ...
    @property
    def key(self) -> str:
        ...
    @property
    def last_packet_seq(self) -> int:
        ...
    @property
    def last_seq(self) -> int:
        ...
    @property
    def last_timing(self) -> PublishTiming:
        ...
    @property
    def max_held(self) -> int:
        ...
    @property
    def max_subscribers(self) -> int:
        ...
    @property
    def packed_size(self) -> int:
        ...
    @property
    def packet_ring_bytes(self) -> int:
        ...
    @property
    def packet_subscriber_count(self) -> int:
        ...
    @property
    def planes(self) -> list[PlaneInfo]:
        ...
    @property
    def slot_count(self) -> int:
        ...
    @property
    def slot_size(self) -> int:
        ...
    @property
    def socket_path(self) -> str:
        ...
    @property
    def subscriber_count(self) -> int:
        ...
    @property
    def width(self) -> int:
        ...
class FrameInfo:
    """
    What read_into copied.
    """
    def __repr__(self) -> str:
        ...
    @property
    def epoch(self) -> int:
        """
        Random id of the producer instance that published it.
        """
    @property
    def missed(self) -> int:
        """
        Frames skipped just before this one.
        """
    @property
    def pts(self) -> int:
        ...
    @property
    def reconnected(self) -> bool:
        """
        First frame from a restarted producer.
        """
    @property
    def seq(self) -> int:
        ...
    @property
    def slot(self) -> int:
        ...
    @property
    def timestamp_ns(self) -> int:
        """
        CLOCK_MONOTONIC at publish.
        """
class FrameLease:
    """
    A frame held zero-copy; the producer will not write its slot meanwhile.
    """
    def __repr__(self) -> str:
        ...
    def copy_to(self, dst_ptr: typing.SupportsInt | typing.SupportsIndex, dst_size: typing.SupportsInt | typing.SupportsIndex, dst_is_device: bool, stream: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        """
        Copies the frame packed (no row padding) into dst; complete on return.
        """
    def release(self) -> None:
        """
        Drops this reference; live plane views and DLPack exports keep the slot held until they die.
        """
    def view(self) -> PlaneView:
        """
        The whole frame as one read-only array (one-plane formats, NV12, P010).
        """
    @property
    def backend(self) -> str:
        ...
    @property
    def data(self) -> int:
        ...
    @property
    def device(self) -> int:
        ...
    @property
    def epoch(self) -> int:
        ...
    @property
    def facts(self) -> tuple:
        """
        Stream facts of the producer that published it (a tuple of ten ints).
        """
    @property
    def format(self) -> str:
        ...
    @property
    def height(self) -> int:
        ...
    @property
    def metadata(self) -> bytes:
        ...
    @property
    def missed(self) -> int:
        ...
    @property
    def packed_size(self) -> int:
        ...
    @property
    def planes(self) -> list[PlaneView]:
        ...
    @property
    def pts(self) -> int:
        ...
    @property
    def reconnected(self) -> bool:
        ...
    @property
    def released(self) -> bool:
        ...
    @property
    def seq(self) -> int:
        ...
    @property
    def size(self) -> int:
        ...
    @property
    def slot(self) -> int:
        ...
    @property
    def timestamp_ns(self) -> int:
        ...
    @property
    def width(self) -> int:
        ...
class Subscriber:
    def __init__(self, key: str, dir: str = '', connect_timeout: typing.Any = 5.0, delivery: str = 'latest', reconnect: bool = False, spin: typing.Any = 0.0, notify: bool = False) -> None:
        ...
    def close(self) -> None:
        ...
    def next(self, timeout: typing.Any = None) -> FrameLease:
        """
        The next frame, held zero-copy. timeout in seconds; None waits forever.
        """
    def read_into(self, dst_ptr: typing.SupportsInt | typing.SupportsIndex, dst_size: typing.SupportsInt | typing.SupportsIndex, dst_is_device: bool, stream: typing.SupportsInt | typing.SupportsIndex = 0, timeout: typing.Any = None) -> FrameInfo:
        """
        Waits for the next frame and copies it packed into dst.
        """
    def try_next(self) -> typing.Any:
        """
        The next frame if one is ready now, else None; with notify, also reads the notification bytes.
        """
    @property
    def backend(self) -> str:
        ...
    @property
    def closed(self) -> bool:
        ...
    @property
    def delivery(self) -> str:
        ...
    @property
    def device(self) -> int:
        ...
    @property
    def epoch(self) -> int:
        ...
    @property
    def facts(self) -> tuple:
        ...
    @property
    def format(self) -> str:
        ...
    @property
    def height(self) -> int:
        ...
    @property
    def held_count(self) -> int:
        ...
    @property
    def key(self) -> str:
        ...
    @property
    def last_seq(self) -> int:
        ...
    @property
    def max_held(self) -> int:
        ...
    @property
    def missed_total(self) -> int:
        ...
    @property
    def notify_fd(self) -> int:
        """
        With notify: the descriptor to poll (readable: call try_next); -1 without.
        """
    @property
    def packed_size(self) -> int:
        ...
    @property
    def planes(self) -> list[PlaneInfo]:
        ...
    @property
    def reconnect(self) -> bool:
        ...
    @property
    def reconnect_count(self) -> int:
        ...
    @property
    def slot_count(self) -> int:
        ...
    @property
    def slot_size(self) -> int:
        ...
    @property
    def socket_path(self) -> str:
        ...
    @property
    def width(self) -> int:
        ...
class PacketInfo:
    """
    What came with one packet.
    """
    @property
    def codec(self) -> str:
        ...
    @property
    def discontinuity(self) -> bool:
        ...
    @property
    def dts(self) -> int:
        ...
    @property
    def epoch(self) -> int:
        ...
    @property
    def keyframe(self) -> bool:
        ...
    @property
    def overruns(self) -> int:
        ...
    @property
    def parameter_sets_prepended(self) -> bool:
        ...
    @property
    def pts(self) -> int:
        ...
    @property
    def reconnected(self) -> bool:
        ...
    @property
    def seq(self) -> int:
        ...
    @property
    def time_base(self) -> tuple[int, int]:
        """
        (num, den) of pts and dts; num 0: unknown.
        """
    @property
    def timestamp_ns(self) -> int:
        ...
class PacketSubscriber:
    def __init__(self, key: str, dir: str = '', connect_timeout: typing.Any = 5.0, reconnect: bool = False, notify: bool = False) -> None:
        ...
    def close(self) -> None:
        ...
    def next(self, timeout: typing.Any = None) -> tuple[bytes, PacketInfo]:
        """
        (data: bytes, info: PacketInfo) of the next packet.
        """
    def try_next(self) -> typing.Any:
        """
        (data, info) of the next packet if one is ready now, else None; with notify, also reads the notification bytes.
        """
    @property
    def closed(self) -> bool:
        ...
    @property
    def epoch(self) -> int:
        ...
    @property
    def facts(self) -> tuple:
        ...
    @property
    def key(self) -> str:
        ...
    @property
    def last_seq(self) -> int:
        ...
    @property
    def notify_fd(self) -> int:
        """
        With notify: the descriptor to poll (readable: call try_next); -1 without.
        """
    @property
    def overruns_total(self) -> int:
        ...
    @property
    def reconnect(self) -> bool:
        ...
    @property
    def reconnect_count(self) -> int:
        ...
    @property
    def ring_bytes(self) -> int:
        ...
    @property
    def socket_path(self) -> str:
        ...
def _raise_status(status: typing.SupportsInt | typing.SupportsIndex, message: str, errno: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
    ...
def annexb_is_parameter_set_type(codec: str, type: typing.SupportsInt | typing.SupportsIndex) -> bool:
    """
    True for a VPS/SPS/PPS nal_unit_type of the codec.
    """
def annexb_is_random_access_type(codec: str, type: typing.SupportsInt | typing.SupportsIndex) -> bool:
    """
    True for the nal_unit_type of a picture a decoder can start at (IDR, IRAP).
    """
def annexb_nal_unit_types(codec: str, data: typing.Any) -> list[int]:
    """
    The nal_unit_type of each NAL unit of an Annex-B buffer, in order.
    """
def annexb_nal_units(data: typing.Any) -> list:
    """
    (offset, size) of each NAL unit of an Annex-B buffer, start codes and trailing zeros left out.
    """
def annexb_parameter_sets(codec: str, data: typing.Any) -> bytes:
    """
    The parameter-set NAL units of an access unit, each after a 4-byte start code (b'' when none).
    """
def annexb_starts_with_start_code(data: typing.Any) -> bool:
    """
    True when data starts with a start code (00 00 01 or 00 00 00 01).
    """
def cuda_available() -> bool:
    """
    True when the cuda backend is usable here (libcuda loads, cuInit succeeds, a GPU is visible).
    """
def cuda_unavailable_reason() -> str:
    """
    Why cuda_available() is False ('' when it is True).
    """
def default_dir() -> str:
    """
    The folder used for sockets when none is given.
    """
def layout(format: str, width: int, height: int) -> list[PlaneInfo]:
    """
    The planes of one frame of this format and size.
    """
def observe(key: str, dir: str = '', timeout: typing.Any = 2.0) -> dict:
    """
    One observation of the producer of `key` (a dict), without subscribing.
    """
def packed_size(format: str, width: int, height: int) -> int:
    """
    Bytes of one frame with its planes back to back and no row padding.
    """
def validate_key(key: str) -> None:
    """
    Raises InvalidArgumentError naming what is wrong with the key.
    """
CODECS: tuple = ('h264', 'hevc')
DEFAULTS: dict = {'format': 'nv12', 'slots': 10, 'max_subscribers': 4, 'max_held': 2, 'backend': 'auto', 'device': 0, 'mode': 432, 'group': -1, 'stream_ordered': False, 'packet_ring_bytes': 0}
FORMATS: list = ['nv12', 'p010', 'i420', 'rgb24', 'bgr24', 'rgba', 'bgra', 'gray8']
MAX_DIMENSION: int = 16384
MAX_KEY: int = 64
MAX_METADATA: int = 4096
PITCH_ALIGN: int = 256
PROTOCOL_VERSION: int = 6
STATUS: dict = {'OK': 0, 'INVALID_ARGUMENT': 1, 'FORMAT': 2, 'NOT_FOUND': 3, 'TIMEOUT': 4, 'DISCONNECTED': 5, 'KEY_IN_USE': 6, 'PERMISSION': 7, 'PROTOCOL': 8, 'VERSION_MISMATCH': 9, 'CUDA': 10, 'CUDA_UNAVAILABLE': 11, 'LIMIT': 12, 'STATE': 13, 'OS': 14, 'PRODUCER_DIED': 15}
__version__: str = '0.1.0'
