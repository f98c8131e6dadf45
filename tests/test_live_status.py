"""The live status line shared by `cuframes publish` and `cuframes record`
(cuframes.cli.live_status): drawn only on a terminal, at most once per interval."""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from cuframes.cli.live_status import LiveStatus


class _Counter(LiveStatus[int]):
    def __init__(self, console: Console, clock) -> None:
        super().__init__(console, "starting", clock=clock)
        self.rendered: list[int] = []

    def render(self, stats: int) -> Text:
        self.rendered.append(stats)
        return Text(f"count {stats}")


def test_updates_are_drawn_at_most_once_per_interval() -> None:
    now = [100.0]
    screen = io.StringIO()
    with _Counter(Console(file=screen, force_terminal=True, width=80), lambda: now[0]) as status:
        status.update(1)
        now[0] += status.interval / 2
        status.update(2)  # too soon: skipped
        now[0] += status.interval
        status.update(3)
    assert status.rendered == [1, 3]
    assert "count 3" in screen.getvalue()


def test_nothing_is_drawn_when_the_console_is_not_a_terminal() -> None:
    screen = io.StringIO()
    with _Counter(Console(file=screen, force_terminal=False), lambda: 0.0) as status:
        status.update(1)
    assert status.rendered == [] and screen.getvalue() == ""
