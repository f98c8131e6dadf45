"""The exception hierarchy: one base class, builtin-compatible subclasses,
status/errno on every instance, and the core's errors arrive as those classes."""

from __future__ import annotations

import builtins
import pickle

import pytest

import cuframes
from cuframes import _core, errors

BUILTIN_PARENTS = {
    cuframes.InvalidArgumentError: ValueError,
    cuframes.FormatError: ValueError,
    cuframes.NotFoundError: FileNotFoundError,
    cuframes.TimeoutError: builtins.TimeoutError,
    cuframes.DisconnectedError: ConnectionError,
    cuframes.KeyInUseError: FileExistsError,
    cuframes.PermissionDeniedError: PermissionError,
    cuframes.CudaError: RuntimeError,
    cuframes.CudaUnavailableError: RuntimeError,
    cuframes.LimitError: RuntimeError,
    cuframes.StateError: RuntimeError,
    cuframes.SystemCallError: OSError,
}


@pytest.mark.parametrize("cls,parent", BUILTIN_PARENTS.items(), ids=lambda x: getattr(x, "__name__", "?"))
def test_error_classes_inherit_base_and_builtin(cls: type, parent: type) -> None:
    assert issubclass(cls, cuframes.Error)
    assert issubclass(cls, parent)
    with pytest.raises(parent):
        raise cls("boom")


def test_protocol_errors() -> None:
    assert issubclass(cuframes.VersionMismatchError, cuframes.ProtocolError)
    assert issubclass(cuframes.CudaUnavailableError, cuframes.CudaError)


def test_every_core_status_maps_to_its_class() -> None:
    for name, code in _core.STATUS.items():
        if name == "OK":
            continue
        cls = errors._by_status[code]
        assert cls.default_status == code
        with pytest.raises(cls) as info:
            _core._raise_status(code, f"message for {name}", 0)
        assert type(info.value) is cls
        assert info.value.status == code
        assert info.value.errno is None
        assert str(info.value) == f"message for {name}"


def test_errors_py_agrees_with_the_core_status_table() -> None:
    """cuframes.h's CUFRAMES_STATUS_LIST reaches Python as _core.STATUS; errors.py
    keeps its own constants (it imports without the extension) and its classes,
    and both must match that table: same names, same values, and exactly one
    class per error status, none for a status the core does not know."""
    constants = {
        name.removeprefix("ERR_"): value
        for name, value in vars(errors).items()
        if name == "OK" or (name.startswith("ERR_") and isinstance(value, int))
    }
    assert constants == _core.STATUS

    classes = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.Error) and cls is not errors.Error
    ]
    error_codes = sorted(code for name, code in _core.STATUS.items() if name != "OK")
    assert sorted(cls.default_status for cls in classes) == error_codes  # one class each, no extra
    assert sorted(errors._by_status) == error_codes
    for cls in classes:
        assert cls.__name__ in errors.__all__


def test_errno_travels_with_the_error() -> None:
    with pytest.raises(cuframes.SystemCallError) as info:
        _core._raise_status(errors.ERR_OS, "sendmsg failed", 32)
    assert info.value.errno == 32
    assert str(info.value) == "sendmsg failed"


def test_errors_pickle_with_status_and_errno() -> None:
    error = cuframes.NotFoundError("no producer for 'cam'", errno=2)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cuframes.NotFoundError
    assert (str(copy), copy.status, copy.errno) == ("no producer for 'cam'", errors.ERR_NOT_FOUND, 2)
