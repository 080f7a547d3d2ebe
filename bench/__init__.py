"""Benchmarks. Run all with ``python -m bench`` (or ``make bench``); each module also runs alone."""
