"""The rich consoles of the command line: wrapped for a terminal, never wrapped elsewhere.

Outside a terminal rich would hard-wrap every line at 80 columns, so that
``cuframes ls | grep KEY`` misses a key split over two lines and one error
reaches a log as two. A pipe, a file or a log gets each line whole.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

__all__ = ["console", "print_error", "one_line"]

# Wide enough for any line we print; rich draws a table only as wide as its columns need.
_UNWRAPPED_WIDTH = 1 << 16


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that wraps to the terminal's width, or not at all."""
    result = Console(stderr=stderr)
    if not result.is_terminal:
        result.soft_wrap = True  # print() never breaks text...
        result.width = _UNWRAPPED_WIDTH  # ...and tables get the room they need
    return result


def one_line(text: str) -> str:
    """text with its line breaks turned into spaces: one log line per message."""
    return " ".join(text.splitlines()) if "\n" in text or "\r" in text else text


def print_error(err: Console, message: object) -> None:
    """``error: message`` as one line (red on a terminal); message is text, never markup."""
    err.print(f"[bold red]error:[/] {escape(one_line(str(message)))}", highlight=False, soft_wrap=True)
