"""The Python Annex-B helpers (cuframes.sources.annexb) wrap the core's scanner
(cpp/include/cuframes/annexb.hpp): both are held to the same table of cases,
tests/cpp/annexb_cases.txt, which tests/cpp/test_annexb.cpp checks the C++ API
against. Start codes of 3 and 4 bytes, zeros around units, emulation prevention,
empty input, and the NAL unit types of H.264 and H.265."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from cuframes import _core
from cuframes.errors import InvalidArgumentError
from cuframes.sources import annexb

CASES_FILE = Path(__file__).resolve().parent / "cpp" / "annexb_cases.txt"


class Case(NamedTuple):
    name: str
    codec: str
    data: bytes
    units: list[bytes]
    types: list[int]
    parameter_sets: bytes
    starts_with_start_code: bool
    random_access: bool


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def _cases() -> list[Case]:
    cases = []
    for line in CASES_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        f = [part.strip() for part in line.split("|")]
        assert len(f) == 8, f"malformed case in {CASES_FILE}: {line}"
        units = [_hex(unit) for unit in f[3].split(",")] if f[3] else []
        types = [int(t) for t in f[4].split(",")] if f[4] else []
        cases.append(Case(f[0], f[1], _hex(f[2]), units, types, _hex(f[5]), f[6] == "1", f[7] == "1"))
    return cases


CASES = _cases()


def test_the_table_has_the_edge_cases() -> None:
    names = {case.name for case in CASES}
    assert {"empty input", "3-byte start codes", "4-byte start codes", "trailing zeros at the end"} <= names
    assert {"emulation prevention stays in", "H.265 VPS, SPS, PPS, IDR_W_RADL"} <= names
    assert {case.codec for case in CASES} == set(_core.CODECS)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_python_helpers_agree_with_the_shared_table(case: Case) -> None:
    assert annexb.is_annexb(case.data) is case.starts_with_start_code
    assert list(annexb.iter_nal_units(case.data)) == case.units
    assert annexb.nal_unit_types(case.data, case.codec) == case.types
    assert annexb.parameter_sets(case.data, case.codec) == case.parameter_sets
    assert annexb.starts_random_access(case.data, case.codec) is case.random_access
    wanted = annexb.PARAMETER_SET_TYPES[case.codec]
    assert annexb.has_parameter_sets(case.data, case.codec) == (wanted <= set(case.types))


def test_the_nal_unit_type_tables_are_the_cores() -> None:
    assert {"h264": {7, 8}, "hevc": {32, 33, 34}} == annexb.PARAMETER_SET_TYPES
    assert {"h264": {5}, "hevc": set(range(16, 22))} == annexb.RANDOM_ACCESS_TYPES


def test_every_parameter_set_is_needed_before_a_decoder_starts() -> None:
    """Python's has_parameter_sets asks for every set (PPS too); the core's
    carries_parameter_sets, used to prepend the kept sets, for the SPS (and VPS)."""
    sps, pps, idr = _hex("00000001 6742001e"), _hex("00000001 68ce3c80"), _hex("00000001 6588")
    assert annexb.has_parameter_sets(sps + pps + idr, "h264")
    assert not annexb.has_parameter_sets(sps + idr, "h264")


def test_any_buffer_is_read_and_anything_else_refused() -> None:
    data = _hex("000001 6742 000001 6588")
    assert annexb.nal_unit_types(bytearray(data), "h264") == [7, 5]
    assert annexb.nal_unit_types(memoryview(data), "h264") == [7, 5]
    assert list(annexb.iter_nal_units(bytearray(data))) == [b"\x67\x42", b"\x65\x88"]
    with pytest.raises(InvalidArgumentError, match="Annex-B data"):
        annexb.nal_unit_types("not bytes", "h264")  # type: ignore[arg-type]


@pytest.mark.parametrize("call", [annexb.nal_unit_types, annexb.parameter_sets])
def test_an_unknown_codec_is_refused(call) -> None:
    with pytest.raises(ValueError, match="no NAL unit syntax known for codec 'vp9'"):
        call(b"\x00\x00\x01\x65", "vp9")
