"""Looking at live producers without subscribing: ``cuframes stat`` and ``ls``.

The producer answers an observer from its server thread with a snapshot of
its subscribers and read-only views of its shared header and packet ring. An
observer holds no lease, is counted as no subscriber, and never touches the
producer's publish path, so watching a stream cannot slow it down.
"""

from __future__ import annotations

import os
from typing import Any

from . import _core
from ._args import checked_dir, checked_key
from ._slices import call_in_slices, producer_absent
from .errors import Error, InvalidArgumentError, NotFoundError, PermissionDeniedError
from .status import KeyEntry, PacketStatus, StreamStatus, SubscriberStatus, stream_state
from .stream_facts import StreamFacts

__all__ = ["stat", "list_streams"]

_SOCKET_SUFFIX = ".sock"


def stat(key: str, *, dir: str | None = None, timeout: float | None = 2.0) -> StreamStatus:
    """One look at the producer of ``key``: its stream, fps, subscribers
    (frames received and missed, frames held, latency) and packet ring.
    Waits up to ``timeout`` seconds for the producer; raises NotFoundError
    when there is none, PermissionDeniedError when it refuses us."""
    checked_key(key)
    checked_dir(dir)
    return _status_from(
        call_in_slices(
            lambda t: _core.observe(key, dir or "", t),
            timeout,
            NotFoundError,
            lambda: f"no producer for key {key!r} in {dir or _core.default_dir()} (waited {timeout} s)",
            retry_if=producer_absent,
        )
    )


def list_streams(dir: str | None = None, *, timeout: float = 0.0) -> list[KeyEntry]:
    """Every socket in the folder (default: :func:`cuframes.default_dir`),
    sorted by key, with what its producer says, or why it said nothing. A
    socket nobody listens on is reported at once (``timeout`` 0: one try).
    A folder that does not exist yet holds no stream: the first producer
    creates it, and a monitor may well start before any producer."""
    folder = checked_dir(dir) or _core.default_dir()
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    except PermissionError as error:
        raise PermissionDeniedError(f"cannot list {folder}: {error.strerror}") from None
    entries = []
    for name in names:
        if not name.endswith(_SOCKET_SUFFIX):
            continue
        key = name[: -len(_SOCKET_SUFFIX)]
        path = os.path.join(folder, name)
        try:
            _core.validate_key(key)
        except InvalidArgumentError:
            continue  # not one of ours
        entries.append(_entry(key, folder, path, timeout))
    return entries


def _entry(key: str, folder: str, path: str, timeout: float) -> KeyEntry:
    try:
        return KeyEntry(key=key, socket_path=path, status=stat(key, dir=folder, timeout=timeout), error="")
    except NotFoundError:
        return KeyEntry(key=key, socket_path=path, status=None, error="stale socket: no producer")
    except PermissionDeniedError as error:
        return KeyEntry(key=key, socket_path=path, status=None, error=f"permission denied: {error}")
    except Error as error:
        return KeyEntry(key=key, socket_path=path, status=None, error=f"{type(error).__name__}: {error}")


def _status_from(seen: dict[str, Any]) -> StreamStatus:
    newest, observed = seen["newest_timestamp_ns"], seen["observed_ns"]
    packets = seen["packets"]
    age_s = max(0.0, (observed - newest) / 1e9) if newest else None
    pool_fps = seen["fps"] or None
    facts = StreamFacts._from_core(seen["facts"])
    nominal_fps = None if facts.frame_rate is None else float(facts.frame_rate)
    state = stream_state(seen["running"], seen["latest_seq"], pool_fps, age_s, nominal_fps)
    return StreamStatus(
        key=seen["key"],
        dir=os.path.dirname(seen["socket_path"]),
        socket_path=seen["socket_path"],
        state=state,
        backend=seen["backend"],
        format=seen["format"],
        width=seen["width"],
        height=seen["height"],
        slot_count=seen["slot_count"],
        max_subscribers=seen["max_subscribers"],
        epoch=seen["epoch"],
        producer_pid=seen["producer_pid"],
        producer_uid=seen["producer_uid"],
        description=seen["description"],
        latest_seq=seen["latest_seq"],
        fps=pool_fps if state == "running" or pool_fps is None else 0.0,
        age_s=age_s,
        subscribers=tuple(
            SubscriberStatus(
                id=s["id"],
                role=s["role"],
                uid=s["uid"],
                pid=s["pid"],
                frames_received=s["frames_received"],
                frames_missed=s["frames_missed"],
                held=s["held"],
                latency_us=s["latency_ns"] / 1000.0 if s["latency_ns"] else None,
            )
            for s in seen["subscribers"]
        ),
        packets=None
        if packets is None
        else PacketStatus(
            codec=packets["codec"],
            latest_seq=packets["latest_seq"],
            bytes_written=packets["bytes_written"],
            keyframes=packets["keyframes"],
            overwritten=max(0, packets["oldest_seq"] - 1),
            capacity_bytes=packets["capacity_bytes"],
        ),
        facts=facts,
    )
