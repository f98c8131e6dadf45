"""What an observer learns about a stream: plain, frozen records.

They are filled from the producer's live header and its observer handshake
(see ``cuframes.stat`` and ``cuframes.list_streams``) and rendered by
:mod:`cuframes.cli.render` as tables, JSON or Prometheus text. They hold
facts only, no connection, so they can be kept, compared and pickled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .stream_facts import StreamFacts

__all__ = [
    "SubscriberStatus",
    "PacketStatus",
    "StreamStatus",
    "KeyEntry",
    "stream_state",
    "STATES",
    "STALL_FRAME_INTERVALS",
    "MIN_STALL_S",
]

#: What `state` says: frames flow ("running"); the producer is up but no frame came for a while
#: ("stalled": its camera is away, reconnecting or wedged) or none yet ("waiting"); it closed.
STATES = ("running", "stalled", "waiting", "closed")
#: A stream is stalled when no frame came for this many of its frame intervals...
STALL_FRAME_INTERVALS = 5
#: ... and at least this many seconds (an observer's own delays must not make a fast stream flap).
MIN_STALL_S = 1.0


def stream_state(
    running: bool, latest_seq: int, fps: float | None, age_s: float | None, nominal_fps: float | None = None
) -> str:
    """One of STATES, from the producer's state, its newest frame's age and its frame rate:
    the measured one, else the nominal one the stream facts state (a slow stream's first frame)."""
    if not running:
        return "closed"
    if latest_seq == 0 or age_s is None:
        return "waiting"
    rate = fps or nominal_fps
    interval = 1.0 / rate if rate else 0.0  # rate unknown: the minimum applies
    return "stalled" if age_s > max(MIN_STALL_S, STALL_FRAME_INTERVALS * interval) else "running"


@dataclass(frozen=True)
class SubscriberStatus:
    """One connected subscriber, as the producer sees it."""

    id: int
    role: str  # "frames" or "packets"
    uid: int  # SO_PEERCRED as the producer saw it
    pid: int  # 0 when the subscriber lives in another PID namespace
    frames_received: int
    frames_missed: int
    held: int
    latency_us: float | None  # the last frame's publish->take latency it reported; None if unknown


@dataclass(frozen=True)
class PacketStatus:
    """The producer's ring of compressed packets."""

    codec: str  # "h264" / "hevc" / "" before the first packet
    latest_seq: int
    bytes_written: int
    keyframes: int
    overwritten: int  # records the ring has dropped (the oldest are overwritten)
    capacity_bytes: int


@dataclass(frozen=True)
class StreamStatus:
    """One stream: its producer, its frames, its subscribers."""

    key: str
    dir: str
    socket_path: str
    state: str  # one of STATES: "running" / "stalled" / "waiting" / "closed"
    backend: str
    format: str
    width: int
    height: int
    slot_count: int
    max_subscribers: int  # per role: this many frame subscribers, and as many packet subscribers
    epoch: int
    producer_pid: int
    producer_uid: int
    description: str  # free text the producer gave, e.g. its source
    latest_seq: int
    # From the timestamps of the frames still in the slots, when the newest is recent; 0 once the stream
    # is stalled or closed (the pool's old frames say nothing about now); None with < 2 frames.
    fps: float | None
    age_s: float | None  # seconds since the newest frame was published
    subscribers: tuple[SubscriberStatus, ...]
    packets: PacketStatus | None  # None when the producer has no packet ring
    facts: StreamFacts = dataclasses.field(default_factory=StreamFacts)  # time base, rate, colour, aspect ratio

    @property
    def live(self) -> bool:
        """Frames flow: the producer runs and published one recently."""
        return self.state == "running"

    def subscribers_with_role(self, role: str) -> tuple[SubscriberStatus, ...]:
        return tuple(s for s in self.subscribers if s.role == role)

    @property
    def frame_subscriber_count(self) -> int:
        return len(self.subscribers_with_role("frames"))

    @property
    def packet_subscriber_count(self) -> int:
        return len(self.subscribers_with_role("packets"))

    def to_dict(self) -> dict[str, Any]:
        """Every field, nested records as dicts and tuples as lists: ready for json.dumps."""
        fields = dataclasses.asdict(self)
        fields["subscribers"] = [dict(s) for s in fields["subscribers"]]
        fields["facts"] = self.facts.to_dict()
        return fields


@dataclass(frozen=True)
class KeyEntry:
    """One row of ``cuframes ls``: a socket in the folder, and what answered on it."""

    key: str
    socket_path: str
    status: StreamStatus | None  # None when nobody answers
    error: str  # "" or why (e.g. "stale socket: no producer", "permission denied: ...")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "socket_path": self.socket_path,
            "error": self.error,
            "status": None if self.status is None else self.status.to_dict(),
        }
