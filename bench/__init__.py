"""Benchmarks (``make bench`` = ``python -m bench``). Speed is measured here only, never in tests."""
