"""Stream statuses as people and machines read them: rich tables for `cuframes stat`
and `cuframes ls`, JSON, and the Prometheus text exposition format.

Pure functions of :mod:`cuframes.status` records: nothing here connects to anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..status import KeyEntry, StreamStatus
from ..stream_facts import ColorInfo, StreamFacts

if TYPE_CHECKING:
    from prometheus_client.core import Metric

__all__ = [
    "render_stat_table",
    "render_ls_table",
    "to_json",
    "entries_to_json",
    "to_prometheus",
    "format_fps",
    "format_age",
    "format_latency",
    "format_bytes",
    "format_process",
    "format_subscribers",
    "format_rational",
    "format_timing",
    "format_color",
    "format_facts",
]

ROLES = ("frames", "packets")
_MISSING = "-"


# --- human-readable figures ---
def format_fps(fps: float | None) -> str:
    return _MISSING if fps is None else f"{fps:.2f}"


def format_age(age_s: float | None) -> str:
    if age_s is None:
        return _MISSING
    if age_s < 1.0:
        return f"{age_s * 1e3:.0f} ms ago"
    if age_s < 120.0:
        return f"{age_s:.1f} s ago"
    return f"{age_s / 60.0:.0f} min ago"


def format_latency(latency_us: float | None) -> str:
    if latency_us is None:
        return _MISSING
    if latency_us < 1000.0:
        return f"{latency_us:.0f} µs"
    return f"{latency_us / 1e3:.2f} ms"


def format_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    size = count / 1024.0
    for unit in ("KiB", "MiB"):
        if size < 1024.0:
            return f"{size:.1f} {unit}"
        size /= 1024.0
    return f"{size:.1f} GiB"


def format_rational(value: Fraction | None) -> str:
    """A stream fact's rational as num/den (exact, as the stream says it); "-" when unknown."""
    return _MISSING if value is None else f"{value.numerator}/{value.denominator}"


def format_timing(facts: StreamFacts) -> str:
    """Time base, nominal rate and sample aspect ratio, for `stat`."""
    rate = facts.frame_rate
    nominal = "rate unknown or variable" if rate is None else f"{format_rational(rate)} fps nominal ({float(rate):.2f})"
    return f"time base {format_rational(facts.time_base)}, {nominal}, SAR {format_rational(facts.sample_aspect_ratio)}"


def format_color(color: ColorInfo) -> str:
    """Colour facts by FFmpeg's names, for `stat`."""
    return (
        f"matrix {color.matrix_name}, range {color.range_name}, primaries {color.primaries_name}, "
        f"transfer {color.transfer_name}"
    )


def format_facts(facts: StreamFacts) -> str:
    """All the facts in a few words, for a column of `ls`."""
    c = facts.color
    rate = _MISSING if facts.frame_rate is None else f"{float(facts.frame_rate):.2f}"
    return (
        f"tb {format_rational(facts.time_base)}, {rate} fps, {c.matrix_name}/{c.range_name}/"
        f"{c.primaries_name}/{c.transfer_name}, SAR {format_rational(facts.sample_aspect_ratio)}"
    )


def format_process(pid: int, uid: int) -> str:
    # pid 0: the peer lives in another PID namespace, so its pid means nothing here.
    return f"{pid if pid else '?'}/{uid}"


def _add_row(table: Table, *cells: str | Text) -> None:
    # Strings become Text, never markup: keys, descriptions and errors come from other processes,
    # and "[...]" in them must print as written.
    table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in cells))


def _state_text(state: str) -> Text:
    return Text(state, style={"running": "green", "stalled": "bold red"}.get(state, "yellow"))


def format_subscribers(status: StreamStatus) -> str:
    """How many subscribers of each role, against the limit, which is per role."""
    limit = status.max_subscribers
    frames = f"{status.frame_subscriber_count} of {limit} frames"
    if status.packets is None:
        return f"{frames} (no packet ring)"
    return f"{frames}, {status.packet_subscriber_count} of {limit} packets (the limit is per role)"


# --- `cuframes stat` ---
def render_stat_table(status: StreamStatus) -> RenderableType:
    """The stream's facts, then one row per subscriber, for a terminal."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    _add_row(facts, "key", Text.assemble((status.key, "bold cyan"), "  ", _state_text(status.state)))
    _add_row(facts, "socket", status.socket_path)
    producer = f"pid {status.producer_pid or '? (another PID namespace)'}, uid {status.producer_uid}"
    _add_row(facts, "producer", producer + (f", epoch {status.epoch:#x}" if status.epoch else ""))
    if status.description:
        _add_row(facts, "description", status.description)
    _add_row(
        facts,
        "frames",
        f"{status.format} {status.width}x{status.height} on {status.backend}, {status.slot_count} slots",
    )
    _add_row(facts, "latest", f"seq {status.latest_seq}, {format_fps(status.fps)} fps, {format_age(status.age_s)}")
    _add_row(facts, "timing", format_timing(status.facts))
    _add_row(facts, "colour", format_color(status.facts.color))
    _add_row(facts, "subscribers", format_subscribers(status))
    if status.packets is not None:
        p = status.packets
        _add_row(
            facts,
            "packets",
            f"{p.codec or 'no packet yet'}, seq {p.latest_seq}, "
            f"{format_bytes(p.bytes_written)} written, {p.keyframes} keyframes, "
            f"{p.overwritten} overwritten, ring {format_bytes(p.capacity_bytes)}",
        )
    if not status.subscribers:
        return facts

    table = Table(title="subscribers", title_justify="left", title_style="bold")
    for name in ("id", "role", "pid/uid", "received", "missed", "held", "latency"):
        table.add_column(name, justify="left" if name in ("role", "pid/uid") else "right")
    for s in status.subscribers:
        _add_row(
            table,
            str(s.id),
            s.role,
            format_process(s.pid, s.uid),
            str(s.frames_received),
            Text(str(s.frames_missed), style="yellow" if s.frames_missed else ""),
            str(s.held),
            format_latency(s.latency_us),
        )
    return Group(facts, table)


# --- `cuframes ls` ---
def render_ls_table(entries: Sequence[KeyEntry]) -> Table:
    """One row per key in the folder; keys nobody answers on show why in the last column."""
    table = Table(box=box.SIMPLE_HEAD, caption="subs: subscribers taking frames+packets", caption_justify="left")
    # Short columns never wrap; when the terminal is narrow, the key and the state (which may be
    # an error) fold over lines rather than lose characters, and the description is cut short.
    table.add_column("key", style="bold cyan", overflow="fold")
    table.add_column("producer\npid/uid", no_wrap=True)
    table.add_column("description", overflow="ellipsis", max_width=40)
    table.add_column("format", no_wrap=True)
    table.add_column("backend", no_wrap=True)
    table.add_column("subs", justify="right", no_wrap=True)
    table.add_column("fps", justify="right", no_wrap=True)
    table.add_column("stream facts", overflow="fold")
    table.add_column("state", overflow="fold")
    for entry in entries:
        s = entry.status
        if s is None:
            _add_row(
                table,
                entry.key,
                _MISSING,
                "",
                _MISSING,
                _MISSING,
                _MISSING,
                _MISSING,
                _MISSING,
                Text(entry.error or "no answer", style="red"),
            )
            continue
        state = _state_text(s.state)
        if entry.error:
            state.append(f" ({entry.error})", style="red")
        _add_row(
            table,
            entry.key,
            format_process(s.producer_pid, s.producer_uid),
            s.description,
            f"{s.format} {s.width}x{s.height}",
            s.backend,
            f"{s.frame_subscriber_count}+{s.packet_subscriber_count}",
            format_fps(s.fps),
            format_facts(s.facts),
            state,
        )
    return table


# --- JSON ---
def to_json(status: StreamStatus) -> str:
    return json.dumps(status.to_dict(), indent=2)


def entries_to_json(entries: Iterable[KeyEntry]) -> str:
    return json.dumps([entry.to_dict() for entry in entries], indent=2)


# --- Prometheus ---
_FACT_LABELS = [
    "key",
    "time_base",
    "frame_rate",
    "sample_aspect_ratio",
    "color_matrix",
    "color_range",
    "color_primaries",
    "color_transfer",
]


def _fact_labels(status: StreamStatus) -> list[str]:
    f, c = status.facts, status.facts.color

    def ratio(value: Fraction | None) -> str:
        return "" if value is None else format_rational(value)

    return [
        status.key,
        ratio(f.time_base),
        ratio(f.frame_rate),
        ratio(f.sample_aspect_ratio),
        c.matrix_name,
        c.range_name,
        c.primaries_name,
        c.transfer_name,
    ]


class _StatusCollector:
    """Turns statuses into metric families when the registry is rendered."""

    def __init__(self, statuses: Sequence[StreamStatus], down: Sequence[str]) -> None:
        self._statuses = statuses
        self._down = down

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

        up = GaugeMetricFamily(
            "cuframes_up", "1 when the stream's producer answered, 0 when nobody did", labels=["key"]
        )
        live = GaugeMetricFamily(
            "cuframes_live",
            "1 when frames flow (state running); 0 when the stream is "
            "stalled, waiting for its first frame, closed, or nobody answers",
            labels=["key"],
        )
        info = InfoMetricFamily(
            "cuframes_stream",
            "What the producer publishes",
            labels=["key", "backend", "format", "width", "height", "state", "description"],
        )
        facts = InfoMetricFamily(
            "cuframes_stream_facts",
            "The stream facts the producer states: rationals as num/den (empty: unknown), colours by FFmpeg's names",
            labels=_FACT_LABELS,
        )
        gauges = {
            name: GaugeMetricFamily(f"cuframes_{name}", text, labels=["key"])
            for name, text in (
                ("latest_seq", "Sequence number of the newest published frame"),
                ("fps", "Frame rate over the frames still in the slots; 0 once the stream is stalled"),
                ("age_seconds", "Seconds since the newest frame was published"),
                ("slots", "Frame slots in the producer's pool"),
                ("max_subscribers", "Subscribers the producer accepts at most, per role (frames, packets)"),
                ("producer_pid", "The producer's process id (0: another PID namespace)"),
                ("nominal_fps", "The nominal frame rate the producer states (absent: variable or unknown)"),
            )
        }
        subscribers = GaugeMetricFamily("cuframes_subscribers", "Connected subscribers", labels=["key", "role"])

        per_subscriber = ["key", "subscriber", "role"]
        received = CounterMetricFamily(
            "cuframes_subscriber_frames_received", "Frames (or packets) the subscriber received", labels=per_subscriber
        )
        missed = CounterMetricFamily(
            "cuframes_subscriber_frames_missed",
            "Frames the subscriber skipped because it fell behind",
            labels=per_subscriber,
        )
        held = GaugeMetricFamily(
            "cuframes_subscriber_held_frames", "Frames the subscriber holds now", labels=per_subscriber
        )
        latency = GaugeMetricFamily(
            "cuframes_subscriber_latency_seconds",
            "Publish-to-take latency of the subscriber's last frame",
            labels=per_subscriber,
        )

        packets_seq = GaugeMetricFamily(
            "cuframes_packets_latest_seq", "Sequence number of the newest packet", labels=["key", "codec"]
        )
        packets_bytes = CounterMetricFamily(
            "cuframes_packets_bytes", "Packet bytes written to the ring", labels=["key", "codec"]
        )
        packets_keyframes = CounterMetricFamily(
            "cuframes_packets_keyframes", "Keyframe packets written", labels=["key", "codec"]
        )
        packets_overwritten = CounterMetricFamily(
            "cuframes_packets_overwritten",
            "Packet records the ring dropped (the oldest are overwritten)",
            labels=["key", "codec"],
        )
        packets_capacity = GaugeMetricFamily(
            "cuframes_packets_capacity_bytes", "Size of the packet ring", labels=["key", "codec"]
        )

        for key in self._down:
            up.add_metric([key], 0)
            live.add_metric([key], 0)
        for s in self._statuses:
            up.add_metric([s.key], 1)
            live.add_metric([s.key], 1 if s.live else 0)
            info.add_metric([s.key, s.backend, s.format, str(s.width), str(s.height), s.state, s.description], {})
            facts.add_metric(_fact_labels(s), {})
            nominal = None if s.facts.frame_rate is None else float(s.facts.frame_rate)
            for name, value in (
                ("latest_seq", s.latest_seq),
                ("fps", s.fps),
                ("age_seconds", s.age_s),
                ("slots", s.slot_count),
                ("max_subscribers", s.max_subscribers),
                ("producer_pid", s.producer_pid),
                ("nominal_fps", nominal),
            ):
                if value is not None:  # unknown is absent, never a made-up 0
                    gauges[name].add_metric([s.key], value)
            for role in ROLES:
                subscribers.add_metric([s.key, role], len(s.subscribers_with_role(role)))
            for sub in s.subscribers:
                labels = [s.key, str(sub.id), sub.role]
                received.add_metric(labels, sub.frames_received)
                missed.add_metric(labels, sub.frames_missed)
                held.add_metric(labels, sub.held)
                if sub.latency_us is not None:
                    latency.add_metric(labels, sub.latency_us / 1e6)
            if s.packets is not None:
                p = s.packets
                labels = [s.key, p.codec]
                packets_seq.add_metric(labels, p.latest_seq)
                packets_bytes.add_metric(labels, p.bytes_written)
                packets_keyframes.add_metric(labels, p.keyframes)
                packets_overwritten.add_metric(labels, p.overwritten)
                packets_capacity.add_metric(labels, p.capacity_bytes)

        families = [
            up,
            live,
            info,
            facts,
            *gauges.values(),
            subscribers,
            received,
            missed,
            held,
            latency,
            packets_seq,
            packets_bytes,
            packets_keyframes,
            packets_overwritten,
            packets_capacity,
        ]
        # A family with no sample would only add HELP/TYPE noise (e.g. packets of a producer without a ring).
        yield from (family for family in families if family.samples)


def to_prometheus(statuses: Sequence[StreamStatus], *, down: Sequence[str] = ()) -> str:
    """The Prometheus text exposition format of ``statuses`` (``cuframes_up 1`` each),
    plus ``cuframes_up 0`` for each key in ``down`` (a socket nobody answers on).
    Needs prometheus_client, which the rest of cuframes does without."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StatusCollector(list(statuses), list(down)))
    return generate_latest(registry).decode("utf-8")
