"""firmware/core stays sans-IO and inside the MicroPython subset."""

import ast
import pathlib

CORE = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "core"

# I/O, clocks, threads and hardware belong to the runtime; the rest is missing on MicroPython.
FORBIDDEN = {
    "socket",
    "asyncio",
    "threading",
    "time",
    "random",
    "os",
    "select",
    "selectors",
    "hal",
    "board",
    "typing",
    "dataclasses",
    "enum",
    "hashlib",
    "secrets",
    "__future__",
    "subprocess",
    "logging",
    "firmware.runtime",
}


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def test_core_imports_nothing_forbidden():
    bad = []
    files = sorted(CORE.rglob("*.py"))
    assert files
    for path in files:
        for lineno, name in _imports(ast.parse(path.read_text(), str(path))):
            top = name.split(".")[0]
            if top in FORBIDDEN or name in FORBIDDEN:
                bad.append(f"{path.relative_to(CORE.parents[1])}:{lineno} imports {name}")
    assert not bad, "\n".join(bad)


def test_core_uses_no_regex_named_groups():
    bad = [
        str(p.relative_to(CORE.parents[1]))
        for p in sorted(CORE.rglob("*.py"))
        if "(?P<" in p.read_text()
    ]
    assert not bad, bad
