"""Benchmarks: each module runs side by side with a reference and prints ratios.

See docs/benchmarks.md.
"""
