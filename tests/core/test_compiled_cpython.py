"""The compiled core (setup.py) is what CPython runs, and it was built from the current source.

Python prefers a compiled module to its .py file even when the source changed since the build,
so a stale build would run (and test) old code; `make` rebuilds it when the source changes.
"""

import importlib
import os
import pathlib

import pytest

CORE = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "core"
COMPILED = sorted(p.stem for p in CORE.glob("*.pxd"))


def test_the_media_path_is_compiled():
    assert COMPILED == ["jitter", "media", "plc", "rtp"]


@pytest.mark.parametrize("name", COMPILED)
def test_the_compiled_module_is_in_use_and_current(name):
    module = importlib.import_module(f"firmware.core.{name}")
    built = pathlib.Path(module.__file__)
    if built.suffix == ".py":
        if os.environ.get("CI"):
            pytest.fail(f"firmware.core.{name} runs from source: setup.py did not compile it")
        pytest.skip("no compiled core here (no C compiler?): the modules run as Python")
    for source in (CORE / f"{name}.py", CORE / f"{name}.pxd"):
        assert built.stat().st_mtime >= source.stat().st_mtime, (
            f"{built.name} is older than {source.name}: rebuild (make, or pip install -e .)"
        )
