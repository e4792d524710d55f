"""Run every benchmark module, or the ones named: python -m bench [name ...] [--option ...].

Names come first; everything from the first argument that starts with "-" is handed to each
module's main(argv) (e.g. `python -m bench bench_firmware --quick`)."""

import importlib
import pkgutil
import sys

import bench


def main(argv: list[str]) -> int:
    split = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, options = argv[:split], argv[split:]
    names = names or sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", flush=True)
        module.main(options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
