"""The live status lines of ``cuframes publish`` and ``cuframes record``: redrawn in
place on a terminal, at most a few times a second; nothing at all when the console
is not a terminal (a pipe, a log), where the command prints a summary at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from rich.console import Console
from rich.live import Live
from rich.text import Text

__all__ = ["LiveStatus"]

_Stats = TypeVar("_Stats")
_Self = TypeVar("_Self", bound="LiveStatus[Any]")


class LiveStatus(Generic[_Stats]):
    """Subclasses say what a line shows (:meth:`render`); this class starts and stops
    the rich Live and throttles :meth:`update`, which the command's loop may call at
    every frame or packet."""

    #: seconds between two redraws, whatever the rate of update() calls
    interval = 0.25

    def __init__(self, console: Console, first_line: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._shown: float | None = None
        self._live: Live | None = None
        if console.is_terminal:
            self._live = Live(Text(first_line), console=console, refresh_per_second=4, transient=True)

    def render(self, stats: _Stats) -> Text:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    def update(self, stats: _Stats) -> None:
        if self._live is None:
            return
        now = self._clock()
        if self._shown is not None and now - self._shown < self.interval:
            return
        self._shown = now
        self._live.update(self.render(stats))

    def __enter__(self: _Self) -> _Self:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.stop()
