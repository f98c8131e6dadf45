"""The recorder on a PyAV it does not support (17, the newest for Python 3.10): a
clear, typed error before anything is written, instead of a silently short file."""

from __future__ import annotations

import pytest

import cuframes
from cuframes.record import MIN_PYAV, Recorder, RecordingError

av = pytest.importorskip("av")


@pytest.mark.skipif(tuple(int(p) for p in av.__version__.split(".")[:2]) >= MIN_PYAV, reason="this PyAV is supported")
def test_record_on_an_older_pyav_says_which_it_needs(key, tmp_path):
    with pytest.raises(RecordingError, match=r"needs PyAV 18 or newer, found 17"):
        Recorder(key, str(tmp_path / "out.mkv"), timeout=0.1)
    assert not any(tmp_path.iterdir())
    assert issubclass(RecordingError, cuframes.Error)
