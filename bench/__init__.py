"""Benchmarks: `python -m bench.<name>` prints figures and ratios (never timed tests)."""
