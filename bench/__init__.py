"""Benchmarks: each module runs side by side with a reference and prints ratios (see docs/benchmarks.md)."""
