"""The lifetime every cuframes object that owns something shares (STYLE.md, habit 7):
``close()`` releases it once and is idempotent, ``with`` closes it, and ``__del__``
is a safety net for objects never closed that never raises."""

from __future__ import annotations

from typing import TypeVar

_Self = TypeVar("_Self", bound="Handle")


class Handle:
    """Base of Publisher, Subscriber, PacketSubscriber, Recorder and PacketContainer.

    Subclasses implement :meth:`_release`, which must cope with a half-made
    object (``__init__`` raised before every attribute was set): ``__del__``
    calls it then too."""

    # A class attribute, so a half-made object reads False.
    _released: bool = False

    def _release(self) -> None:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    def close(self) -> None:
        """Releases what the object holds. Idempotent."""
        if self._released:
            return
        # Set first: a release that raises is not tried again by __del__.
        self._released = True
        self._release()

    @property
    def closed(self) -> bool:
        return self._released

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Runs at any point of the collector or of interpreter exit: it must never raise.
        try:
            self.close()
        except Exception:
            pass
