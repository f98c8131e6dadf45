"""Closing a subscriber while another thread waits in next(): shared by the
tests of a plain wait and of a wait for a restarted producer."""

from __future__ import annotations

import threading
import time

import cuframes


def error_when_closed_while_waiting(sub: cuframes.Subscriber, *, wait_s: float, close_after_s: float) -> list:
    """Starts next(timeout=wait_s) in a thread, closes `sub` after close_after_s,
    and returns what that next() raised (a list: empty if it raised nothing).
    The thread must have ended within 5 s of the close."""
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            sub.next(timeout=wait_s)
        except BaseException as error:  # reported to the test
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(close_after_s)
    sub.close()
    waiter.join(timeout=5)
    assert not waiter.is_alive(), "next() went on waiting after close()"
    return outcome
