"""Benchmarks: `python -m bench [name ...]` runs bench/bench_<name>.py (all when no name)."""
