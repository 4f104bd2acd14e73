"""Benchmarks: `python -m bench` runs them all; each module can run alone."""
