"""Stream facts: how to read a stream's timestamps and colours.

The producer states them once (``Publisher(..., time_base=..., frame_rate=...,
color=...)``); they travel with the stream (protocol v4) to every frame
subscriber, packet subscriber and observer. Frames' and packets' ``pts`` and
``dts`` count ``time_base`` units, so ``frame.time`` is seconds. Colours are
ITU-T H.273 code points, the numbers FFmpeg uses (``AVColorSpace``,
``AVColorPrimaries``, ``AVColorTransferCharacteristic``, ``AVColorRange``);
:class:`ColorInfo` takes FFmpeg's names for them as well.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

from .errors import InvalidArgumentError

__all__ = ["ColorInfo", "StreamFacts", "RationalLike"]

#: What a rational fact accepts: a Fraction (or any rational number), an int,
#: a ``(num, den)`` tuple, a string such as ``"30000/1001"``, a float, or None.
RationalLike = numbers.Rational | tuple[int, int] | str | float | None

_INT32_MAX = 2**31 - 1
UNSPECIFIED = 2

# One table per fact: FFmpeg's names (av_color_*_name) with the usual aliases.
_MATRIX = {
    "rgb": 0,
    "gbr": 0,
    "bt709": 1,
    "unspecified": 2,
    "fcc": 4,
    "bt470bg": 5,
    "bt601": 6,
    "smpte170m": 6,
    "smpte240m": 7,
    "ycgco": 8,
    "bt2020nc": 9,
    "bt2020": 9,
    "bt2020c": 10,
    "smpte2085": 11,
    "chroma-derived-nc": 12,
    "chroma-derived-c": 13,
    "ictcp": 14,
}
_PRIMARIES = {
    "bt709": 1,
    "unspecified": 2,
    "bt470m": 4,
    "bt470bg": 5,
    "bt601": 6,
    "smpte170m": 6,
    "smpte240m": 7,
    "film": 8,
    "bt2020": 9,
    "smpte428": 10,
    "smpte431": 11,
    "smpte432": 12,
    "p3": 12,
    "ebu3213": 22,
}
_TRANSFER = {
    "bt709": 1,
    "unspecified": 2,
    "gamma22": 4,
    "bt470m": 4,
    "gamma28": 5,
    "bt470bg": 5,
    "bt601": 6,
    "smpte170m": 6,
    "smpte240m": 7,
    "linear": 8,
    "log100": 9,
    "log316": 10,
    "iec61966-2-4": 11,
    "bt1361e": 12,
    "srgb": 13,
    "iec61966-2-1": 13,
    "bt2020-10": 14,
    "bt2020-12": 15,
    "pq": 16,
    "smpte2084": 16,
    "smpte428": 17,
    "hlg": 18,
    "arib-std-b67": 18,
}
_RANGE = {"unspecified": 0, "tv": 1, "limited": 1, "mpeg": 1, "pc": 2, "full": 2, "jpeg": 2}
# The largest code point each takes (cpp/include/cuframes/types.hpp: kMaxColor*).
_LARGEST = {"matrix": 17, "range": 2, "primaries": 22, "transfer": 18}
_TABLES = {"matrix": _MATRIX, "range": _RANGE, "primaries": _PRIMARIES, "transfer": _TRANSFER}


def _code_point(kind: str, value: int | str | None) -> int:
    if value is None:
        return 0 if kind == "range" else UNSPECIFIED
    table = _TABLES[kind]
    if isinstance(value, str):
        name = value.strip().lower().replace("_", "-")
        if name not in table:
            raise InvalidArgumentError(
                f"unknown colour {kind} {value!r}; use an ITU-T H.273 code point or one of {', '.join(sorted(table))}"
            )
        return table[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"colour {kind} must be an int (ITU-T H.273) or a name, got {value!r}")
    if not 0 <= int(value) <= _LARGEST[kind]:
        raise InvalidArgumentError(f"colour {kind} {value} is out of range (0..{_LARGEST[kind]})")
    return int(value)


def _name_of(kind: str, code: int) -> str:
    """FFmpeg's name of a code point (the first one in the table), or its number."""
    for name, value in _TABLES[kind].items():
        if value == code:
            return name
    return str(code)


@dataclass(frozen=True, init=False)
class ColorInfo:
    """A stream's colour description: ``matrix``, ``range``, ``primaries`` and
    ``transfer`` as ITU-T H.273 code points (``range`` as AVColorRange: 0
    unspecified, 1 limited/"tv", 2 full/"pc"). Each takes an int or FFmpeg's
    name: ``ColorInfo(matrix="bt709", range="tv")``; what is not given is
    unspecified. ``ColorInfo.BT709``, ``BT601`` and ``BT2020`` are the usual
    limited-range sets."""

    matrix: int
    range: int
    primaries: int
    transfer: int

    BT709: ClassVar[ColorInfo]  # set below the class
    BT601: ClassVar[ColorInfo]
    BT2020: ClassVar[ColorInfo]
    UNSPECIFIED: ClassVar[ColorInfo]

    def __init__(
        self,
        matrix: int | str | None = None,
        range: int | str | None = None,
        primaries: int | str | None = None,
        transfer: int | str | None = None,
    ) -> None:
        object.__setattr__(self, "matrix", _code_point("matrix", matrix))
        object.__setattr__(self, "range", _code_point("range", range))
        object.__setattr__(self, "primaries", _code_point("primaries", primaries))
        object.__setattr__(self, "transfer", _code_point("transfer", transfer))

    @property
    def matrix_name(self) -> str:
        return _name_of("matrix", self.matrix)

    @property
    def range_name(self) -> str:
        return _name_of("range", self.range)

    @property
    def primaries_name(self) -> str:
        return _name_of("primaries", self.primaries)

    @property
    def transfer_name(self) -> str:
        return _name_of("transfer", self.transfer)

    @property
    def specified(self) -> bool:
        """True when any of the four is given."""
        return self != ColorInfo()

    def __repr__(self) -> str:
        return (
            f"ColorInfo(matrix={self.matrix_name!r}, range={self.range_name!r}, "
            f"primaries={self.primaries_name!r}, transfer={self.transfer_name!r})"
        )


for _name, _info in {
    "BT709": ColorInfo(1, 1, 1, 1),
    "BT601": ColorInfo(6, 1, 6, 6),
    "BT2020": ColorInfo(9, 1, 9, 14),
    "UNSPECIFIED": ColorInfo(),
}.items():
    setattr(ColorInfo, _name, _info)


def to_fraction(value: RationalLike, what: str) -> Fraction | None:
    """A rational fact as a Fraction, or None for unknown (0, 0/0, 0/1, None)."""
    if value is None:
        return None
    try:
        if isinstance(value, tuple):
            num, den = value
            if not isinstance(num, numbers.Integral) or not isinstance(den, numbers.Integral):
                raise TypeError
            if num == 0:
                return None
            result = Fraction(int(num), int(den))
        elif isinstance(value, float):
            result = Fraction(value).limit_denominator(1_000_000)
        elif isinstance(value, (numbers.Rational, str)) and not isinstance(value, bool):
            result = Fraction(value)
        else:
            raise TypeError
    except ZeroDivisionError:
        raise InvalidArgumentError(f"{what} {value!r} has a zero denominator (give None for unknown)") from None
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"{what} must be a Fraction, an int, a (num, den) tuple or a string such as '30000/1001', got {value!r}"
        ) from None
    if result < 0:
        raise InvalidArgumentError(f"{what} {value!r} is negative")
    if result == 0:
        return None
    if result.numerator > _INT32_MAX or result.denominator > _INT32_MAX:
        raise InvalidArgumentError(f"{what} {value!r} does not fit 32-bit num/den")
    return result


def _pair(value: Fraction | None) -> tuple[int, int]:
    return (0, 0) if value is None else (value.numerator, value.denominator)


def rational_or_none(num: int, den: int) -> Fraction | None:
    """A rational the core gives as (num, den): None when unknown (num 0)."""
    return Fraction(num, den) if num > 0 and den > 0 else None


@dataclass(frozen=True)
class StreamFacts:
    """The facts of one stream. ``time_base``: seconds per pts unit;
    ``frame_rate``: nominal frames per second (None: variable or unknown);
    ``sample_aspect_ratio``: one pixel's width/height (None: unknown)."""

    time_base: Fraction | None = None
    frame_rate: Fraction | None = None
    color: ColorInfo = field(default_factory=ColorInfo)
    sample_aspect_ratio: Fraction | None = None

    @classmethod
    def of(
        cls,
        *,
        time_base: RationalLike = None,
        frame_rate: RationalLike = None,
        color: ColorInfo | None = None,
        sample_aspect_ratio: RationalLike = None,
    ) -> StreamFacts:
        """Facts from anything the Publisher's keywords take (checked, normalised)."""
        if color is not None and not isinstance(color, ColorInfo):
            raise InvalidArgumentError(f"color must be a cuframes.ColorInfo, got {color!r}")
        return cls(
            to_fraction(time_base, "time_base"),
            to_fraction(frame_rate, "frame_rate"),
            color if color is not None else ColorInfo(),
            to_fraction(sample_aspect_ratio, "sample_aspect_ratio"),
        )

    def seconds(self, pts: int | None) -> float | None:
        """``pts`` in seconds; None when the time base or the pts is unknown."""
        if pts is None or self.time_base is None:
            return None
        return float(pts * self.time_base)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rationals as "num/den" strings (None: unknown), colours by name and code point."""

        def ratio(value: Fraction | None) -> str | None:
            return None if value is None else f"{value.numerator}/{value.denominator}"

        c = self.color
        return {
            "time_base": ratio(self.time_base),
            "frame_rate": ratio(self.frame_rate),
            "sample_aspect_ratio": ratio(self.sample_aspect_ratio),
            "color": {
                "matrix": c.matrix_name,
                "range": c.range_name,
                "primaries": c.primaries_name,
                "transfer": c.transfer_name,
                "code_points": [c.matrix, c.range, c.primaries, c.transfer],
            },
        }

    def _to_core(self) -> tuple[int, ...]:
        c = self.color
        return (
            *_pair(self.time_base),
            *_pair(self.frame_rate),
            *_pair(self.sample_aspect_ratio),
            c.matrix,
            c.range,
            c.primaries,
            c.transfer,
        )

    @classmethod
    def _from_core(cls, t: tuple[int, ...]) -> StreamFacts:
        return cls(
            rational_or_none(t[0], t[1]),
            rational_or_none(t[2], t[3]),
            ColorInfo(t[6], t[7], t[8], t[9]),
            rational_or_none(t[4], t[5]),
        )


class HasStreamFacts:
    """The facts as properties, for classes whose ``_core_live()`` has ``facts``
    (Publisher, Subscriber, PacketSubscriber)."""

    def _core_live(self) -> Any:  # pragma: no cover - provided by the class
        raise NotImplementedError

    @property
    def facts(self) -> StreamFacts:
        """The stream's facts (a reconnecting subscriber's follow the current producer)."""
        return StreamFacts._from_core(self._core_live().facts)

    @property
    def time_base(self) -> Fraction | None:
        """Seconds per pts unit; None when the producer did not say."""
        return self.facts.time_base

    @property
    def frame_rate(self) -> Fraction | None:
        """Nominal frames per second; None when variable or unknown."""
        return self.facts.frame_rate

    @property
    def color(self) -> ColorInfo:
        return self.facts.color

    @property
    def sample_aspect_ratio(self) -> Fraction | None:
        return self.facts.sample_aspect_ratio
