"""Compiles the audio pump's hot path with Cython; everything else is in pyproject.toml.

The modules of firmware/core that have a .pxd file (RTP, the jitter buffer, concealment, the
stream) stay plain Python source, the same code MicroPython runs. Cython compiles each one with
its .pxd, which declares the classes' state as C fields, so a call costs less CPU (figures in
docs/benchmarks.md). On Linux it also compiles the pump's socket work
(firmware/runtime/_datagrams.pyx; datagrams.py has the same in Python) and the pump itself
(firmware/runtime/media.py with its .pxd), which calls the stream and the sockets as C functions.
Where a module does not compile (no C compiler or Python headers), or with INTERCOM_PURE_PYTHON=1
(flash.sh: a wheel for another CPU), the package installs without it and runs the Python code.
"""

import os
import pathlib
import sys

from setuptools import Extension, setup

CORE = pathlib.Path("firmware/core")


def extensions():
    if os.environ.get("INTERCOM_PURE_PYTHON"):
        return []
    from Cython.Build import cythonize

    modules = [
        Extension(f"firmware.core.{pxd.stem}", [str(pxd.with_suffix(".py"))], optional=True)
        for pxd in sorted(CORE.glob("*.pxd"))
    ]
    pump = []
    if sys.platform == "linux":
        modules.append(
            Extension(
                "firmware.runtime._datagrams", ["firmware/runtime/_datagrams.pyx"], optional=True
            )
        )
        pump.append(
            Extension("firmware.runtime.media", ["firmware/runtime/media.py"], optional=True)
        )
    # media.py's annotations document Python types, not C ones. The pump checks for None where a
    # call may have ended (nonecheck: an AttributeError, not a crash, if it ever misses one).
    directives = {"language_level": 3, "annotation_typing": False}
    return cythonize(modules, compiler_directives=directives, quiet=True) + cythonize(
        pump, compiler_directives={**directives, "nonecheck": True}, quiet=True
    )


setup(ext_modules=extensions())
