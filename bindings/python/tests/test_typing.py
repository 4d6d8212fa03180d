"""The package ships type information and documents its public API."""

from __future__ import annotations

import inspect
from pathlib import Path

import iris
import iris.aio


def test_stubs_and_marker_are_installed() -> None:
    package = Path(iris.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "_native.pyi").exists()


def test_every_public_name_has_a_docstring() -> None:
    for name in iris.__all__:
        obj = getattr(iris, name)
        if isinstance(obj, int):
            continue
        assert inspect.getdoc(obj), f"iris.{name} has no docstring"
    for cls in (iris.Connection, iris.Service, iris.Tunnel, iris.aio.Connection, iris.aio.Tunnel, iris.aio.Service):
        for attr, member in vars(cls).items():
            if attr.startswith("_") or not callable(member) and not isinstance(member, property):
                continue
            assert inspect.getdoc(getattr(cls, attr)), f"{cls.__qualname__}.{attr} has no docstring"
    for fn in (iris.aio.connect, iris.aio.register):
        assert inspect.getdoc(fn)
