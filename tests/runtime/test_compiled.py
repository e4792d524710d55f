"""The modules setup.py compiles are what CPython runs, and they were built from the current
source: the core's media path (each .py with its .pxd) and, on Linux, the pump's socket work
(firmware/runtime/_datagrams.pyx with its .pxd) and the pump (firmware/runtime/media.py with its
.pxd).

Python prefers a compiled module to its source even when the source changed since the build, so
a stale build would run (and test) old code; `make` rebuilds it when the source changes.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import sys

import pytest

FIRMWARE = pathlib.Path(__file__).resolve().parents[2] / "firmware"
CORE = FIRMWARE / "core"
CORE_MODULES = sorted(p.stem for p in CORE.glob("*.pxd"))
# (module, the source files it is built from)
COMPILED = [
    (f"firmware.core.{name}", [CORE / f"{name}.py", CORE / f"{name}.pxd"]) for name in CORE_MODULES
]
RUNTIME = FIRMWARE / "runtime"
if sys.platform == "linux":
    COMPILED.append(
        ("firmware.runtime._datagrams", [RUNTIME / "_datagrams.pyx", RUNTIME / "_datagrams.pxd"])
    )
    COMPILED.append(("firmware.runtime.media", [RUNTIME / "media.py", RUNTIME / "media.pxd"]))


def test_the_media_path_is_compiled() -> None:
    assert CORE_MODULES == ["jitter", "media", "plc", "rtp"]


@pytest.mark.parametrize(("name", "sources"), COMPILED, ids=[name for name, _ in COMPILED])
def test_the_compiled_module_is_in_use_and_current(name: str, sources: list[pathlib.Path]) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError:
        module = None  # _datagrams has no Python source: datagrams.py falls back without it
    built = pathlib.Path(module.__file__) if module is not None and module.__file__ else None
    if built is None or built.suffix == ".py":
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not compiled: setup.py did not build it")
        pytest.skip("no compiled modules here (no C compiler?): the Python code runs")
    for source in sources:
        assert built.stat().st_mtime >= source.stat().st_mtime, (
            f"{built.name} is older than {source.name}: rebuild (make, or pip install -e .)"
        )
