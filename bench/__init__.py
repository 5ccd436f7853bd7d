"""Benchmarks: honeyswitch against a direct connection and HAProxy, on loopback.

``python -m bench`` (or ``make bench``) runs every case against every configuration in
one run, repeats each case, prints a table of medians and ratios and writes JSON to
``bench/results/``.  Not part of the test suite; ``tests/test_bench_smoke.py`` runs a
tiny variant.
"""
