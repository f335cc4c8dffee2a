"""Benchmarks, run from the checkout's root as modules: `.venv/bin/python -m bench.bench_search` (docs/benchmarks.md)."""
