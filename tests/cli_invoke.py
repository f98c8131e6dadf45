"""Runs a click command in-process the same way on every click the supported
Pythons can install: ``result.stdout`` and ``result.stderr`` apart, and
``result.output`` holding both (what a user sees in a terminal)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import click
from click.testing import CliRunner, Result


class _BothStreams(Result):
    """click 8.0 and 8.1: ``output`` is stdout alone once stderr is kept apart."""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke_cli(command: click.Command, args: Sequence[str], **kwargs: Any) -> Result:
    """``CliRunner().invoke(command, args, **kwargs)``. click >= 8.2 keeps stderr apart and
    puts both streams in ``output``; click < 8.2 mixes stderr into stdout unless told
    ``mix_stderr=False``, and then ``output`` has stdout only."""
    if "mix_stderr" not in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner().invoke(command, args, **kwargs)
    result = CliRunner(mix_stderr=False).invoke(command, args, **kwargs)
    result.__class__ = _BothStreams
    return result
