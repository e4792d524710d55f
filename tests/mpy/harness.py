# Runs inside MicroPython (see run.mjs): imports MODULE, runs its test_* functions in name order.
# The runner appends the call: run(module_name, name_filter).
import sys


def run(module, name_filter):
    mod = __import__(module)
    for part in module.split(".")[1:]:
        mod = getattr(mod, part)
    names = sorted(n for n in dir(mod) if n.startswith("test_"))
    passed = failed = skipped = 0
    for name in names:
        fn = getattr(mod, name)
        if not callable(fn) or (name_filter and name_filter not in name):
            continue
        if getattr(fn, "cpython_only", False):
            skipped += 1
            continue
        try:
            fn()
            passed += 1
        except Exception as exc:  # report every failure, keep going
            failed += 1
            print("FAILED", module + "." + name)
            sys.print_exception(exc)
    print("MPY-RESULT passed=%d failed=%d skipped=%d" % (passed, failed, skipped))
