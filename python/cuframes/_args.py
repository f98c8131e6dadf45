"""Arguments checked in Python before they reach the compiled module, whose own type
errors (pybind11's "incompatible constructor arguments" and a signature dump) say
nothing about which argument was wrong."""

from __future__ import annotations

import operator
from typing import SupportsIndex

from .errors import InvalidArgumentError

__all__ = ["checked_key", "checked_text", "checked_dir", "checked_int"]


def checked_key(key: object) -> str:
    if not isinstance(key, str):
        raise InvalidArgumentError(f"key must be a string such as 'cam1', got {key!r}")
    return key


def checked_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a string, got {value!r}")
    return value


def checked_dir(dir: object) -> str | None:
    """None (the default folder) or a folder path, as str."""
    if dir is None:
        return None
    if not isinstance(dir, str):
        raise InvalidArgumentError(f"dir must be a folder path (str) or None, got {dir!r}")
    return dir


def checked_int(name: str, value: object) -> int:
    """value as an int: Python's or numpy's integers, not a bool (never a size or a count)."""
    # SupportsIndex is runtime-checkable: Python's and numpy's integers (and bool, refused).
    try:
        if isinstance(value, bool) or not isinstance(value, SupportsIndex):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r}") from None
