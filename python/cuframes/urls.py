"""``cuframes://`` URLs: how a stream is named wherever a source or an input is expected.

    cuframes://cam1                  the key cam1 in the default socket folder
    cuframes://cam1?dir=/run/shared  the key cam1 in /run/shared

A bare key (``cam1``) is accepted too.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlsplit

from . import _core
from .errors import InvalidArgumentError

__all__ = ["StreamAddress", "parse_url"]

SCHEME = "cuframes"


@dataclasses.dataclass(frozen=True)
class StreamAddress:
    key: str
    dir: str | None = None  # None: the default socket folder

    def url(self) -> str:
        return f"{SCHEME}://{self.key}" + (f"?dir={self.dir}" if self.dir else "")


def parse_url(text: str) -> StreamAddress:
    """The key and folder named by ``cuframes://KEY[?dir=DIR]`` or a bare key.
    Raises InvalidArgumentError naming what is wrong."""
    if "://" not in text:
        _core.validate_key(text)
        return StreamAddress(text)
    parts = urlsplit(text)
    if parts.scheme != SCHEME:
        raise InvalidArgumentError(f"{text!r} is not a cuframes URL: expected {SCHEME}://KEY[?dir=DIR]")
    if parts.path not in ("", "/") or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise InvalidArgumentError(f"{text!r}: a cuframes URL is {SCHEME}://KEY[?dir=DIR], nothing else")
    key = parts.netloc  # as written: keys are case-sensitive (urlsplit's hostname is lower-cased)
    if not key:
        raise InvalidArgumentError(f"{text!r} names no key: expected {SCHEME}://KEY[?dir=DIR]")
    _core.validate_key(key)
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - {"dir"})
    if unknown:
        raise InvalidArgumentError(f"{text!r}: unknown parameter(s) {', '.join(unknown)} (only dir= is known)")
    folders = query.get("dir", [])
    if len(folders) > 1 or (folders and not folders[0]):
        raise InvalidArgumentError(f"{text!r}: give dir= once, with a folder")
    return StreamAddress(key, folders[0] if folders else None)
