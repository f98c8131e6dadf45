"""Waiting in slices: the core waits with the GIL released and cannot see
Ctrl-C, so long waits are cut into short calls with the signal handlers
running in between."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .errors import LimitError

__all__ = ["call_in_slices", "SLICE_S", "producer_absent", "producer_absent_or_busy"]

SLICE_S = 0.25
_T = TypeVar("_T")


def call_in_slices(
    call: Callable[[float], _T],
    timeout: float | None,
    retry_on: type[Exception] | tuple[type[Exception], ...],
    message: Callable[[], str],
    *,
    slice_s: float = SLICE_S,
    retry_if: Callable[[Exception], bool] = lambda error: True,
) -> _T:
    """``call(seconds)`` with slices of at most ``slice_s`` until it returns,
    or raises something other than a ``retry_on`` that ``retry_if`` accepts,
    or ``timeout`` (None: forever) is over. Then, when the last error is of
    the (first) ``retry_on`` class: that class with ``message()``; else that
    error itself (several classes: each says why on its own)."""
    if timeout is not None and timeout <= slice_s:
        return call(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = slice_s if deadline is None else min(slice_s, max(0.0, deadline - time.monotonic()))
        try:
            return call(remaining)
        except retry_on as error:
            if not retry_if(error):
                raise
            if deadline is not None and time.monotonic() >= deadline:
                first = retry_on[0] if isinstance(retry_on, tuple) else retry_on
                if isinstance(error, first):
                    raise first(message()) from None
                raise


def producer_absent(error: Exception) -> bool:
    """A NotFoundError from connecting (nobody listens on the socket yet: it
    carries the connect errno), not a producer's refusal, which is final."""
    return getattr(error, "errno", None) is not None


def producer_absent_or_busy(error: Exception) -> bool:
    """producer_absent, or a transient refusal: the producer's LimitError,
    which carries no errno (its handshakes, descriptors or subscribers are
    momentarily full; ``transient_refusal`` in cpp/src/protocol/handshake_client.hpp
    says why). A LimitError with an errno is this process's RLIMIT_NOFILE."""
    if isinstance(error, LimitError):
        return error.errno is None
    return producer_absent(error)
