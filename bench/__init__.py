"""Benchmarks: `make bench` runs the end-to-end one (bench/system.py) and writes bench/RESULTS.md."""
