"""Benchmarks: each module compares approaches side by side in one run (``make bench``)."""
